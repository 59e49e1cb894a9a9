"""Locates the external programs the local services run on, or says how to install them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from infra.errors import MissingDependency

MIN_JAVA_MAJOR = 17
DEBIAN_POSTGRES_ROOT = Path("/usr/lib/postgresql")
POSTGRES_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")

_JAVA_INSTALL_HINT = (
    f"Java {MIN_JAVA_MAJOR}+ is required to run Kafka: "
    "install it with `apt-get install -y openjdk-17-jre-headless`."
)
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
_POSTGRES_VERSION = re.compile(r"\d+(?:\.\d+)*")


def find_java(java_bin: str) -> Path:
    """The Java executable, checked to be at least Java ``MIN_JAVA_MAJOR``."""
    found = shutil.which(java_bin)
    if found is None:
        raise MissingDependency(_JAVA_INSTALL_HINT)
    try:
        banner = subprocess.run(
            [found, "-version"], capture_output=True, text=True, timeout=60, check=True
        ).stderr
    except (OSError, subprocess.SubprocessError) as error:
        raise MissingDependency(_JAVA_INSTALL_HINT) from error
    if _java_major(banner) < MIN_JAVA_MAJOR:
        raise MissingDependency(_JAVA_INSTALL_HINT)
    return Path(found)


def _java_major(version_banner: str) -> int:
    match = _JAVA_VERSION.search(version_banner)
    if match is None:
        return 0
    major, minor = match.groups()
    return int(minor) if major == "1" and minor else int(major)  # "1.8.0" is Java 8


def find_maven(mvn_bin: str) -> Path:
    found = shutil.which(mvn_bin)
    if found is None:
        raise MissingDependency(
            "Maven is required once to download the Kafka jars: install it with `apt-get install -y maven`."
        )
    return Path(found)


def find_postgres_bin_dir(configured: Path | None) -> Path:
    """The PostgreSQL server binaries: the configured folder, else Debian's newest version."""
    candidates = [configured] if configured else _debian_postgres_bin_dirs()
    for bin_dir in candidates:
        if all((bin_dir / program).is_file() for program in POSTGRES_SERVER_PROGRAMS):
            return bin_dir
    where = configured or DEBIAN_POSTGRES_ROOT / "<version>/bin"
    raise MissingDependency(
        f"PostgreSQL server programs were not found in {where}: "
        "install them with `apt-get install -y postgresql`."
    )


def _debian_postgres_bin_dirs() -> list[Path]:
    """``/usr/lib/postgresql/<version>/bin`` folders, newest version first."""
    versioned = [
        path for path in DEBIAN_POSTGRES_ROOT.glob("*/bin") if _POSTGRES_VERSION.fullmatch(path.parent.name)
    ]
    return sorted(versioned, key=_postgres_version, reverse=True)


def _postgres_version(bin_dir: Path) -> list[int]:
    return [int(part) for part in bin_dir.parent.name.split(".")]
