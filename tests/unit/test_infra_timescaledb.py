"""The local cluster's TimescaleDB settings (`mercado up`): preloaded, with background workers for its jobs,
exactly when the extension is installed for the server binaries. The layouts are fakes of a folder each;
tests/integration/test_infra_local.py checks the real cluster."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from infra.postgres_local import (
    TIMESCALEDB_SERVER_SETTINGS,
    postgres_install_dirs,
    server_options,
    timescaledb_installed,
)
from streams.config import Settings


def fake_install(root: Path, *, control: bool, library: bool, pg_config: bool = True) -> Path:
    """<root>/bin (with a pg_config that reports <root>/share and <root>/lib) and the extension's files."""
    bin_dir, share, lib = root / "bin", root / "share", root / "lib"
    for folder in (bin_dir, share / "extension", lib):
        folder.mkdir(parents=True)
    if pg_config:
        script = bin_dir / "pg_config"
        script.write_text(f"#!/bin/sh\necho {share}\necho {lib}\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    if control:
        (share / "extension" / "timescaledb.control").write_text("default_version = '2.28.3'\n")
    if library:
        (lib / "timescaledb.so").write_bytes(b"")
    return bin_dir


@pytest.mark.parametrize(
    ("control", "library", "installed"),
    [(True, True, True), (False, False, False), (True, False, False), (False, True, False)],
)
def test_the_extension_counts_as_installed_with_its_control_file_and_library(
    tmp_path: Path, control: bool, library: bool, installed: bool
) -> None:
    bin_dir = fake_install(tmp_path, control=control, library=library)
    assert postgres_install_dirs(bin_dir) == (tmp_path / "share", tmp_path / "lib")
    assert timescaledb_installed(bin_dir) is installed


def test_without_pg_config_the_layout_is_guessed(tmp_path: Path) -> None:
    bin_dir = fake_install(tmp_path, control=True, library=True, pg_config=False)
    assert timescaledb_installed(bin_dir)


def test_the_cluster_preloads_timescaledb_and_raises_the_worker_limits_when_installed(tmp_path: Path) -> None:
    settings = Settings(local={"pg_host": "127.0.0.1", "pg_port": 25999})
    socket_dir = tmp_path / "run"
    plain = server_options(settings, socket_dir, fake_install(tmp_path / "plain", control=False, library=False))
    assert plain == [
        "-c", "listen_addresses=127.0.0.1", "-c", "port=25999", "-c", f"unix_socket_directories={socket_dir}",
    ]  # fmt: skip
    timescale = server_options(settings, socket_dir, fake_install(tmp_path / "tsdb", control=True, library=True))
    assert timescale[: len(plain)] == plain
    assert dict(pair.split("=", 1) for pair in timescale[len(plain) + 1 :: 2]) == dict(TIMESCALEDB_SERVER_SETTINGS)
    values = dict(TIMESCALEDB_SERVER_SETTINGS)
    assert values["shared_preload_libraries"] == "timescaledb"
    # every TimescaleDB worker, PostgreSQL's 8 parallel workers and the launcher fit in max_worker_processes
    assert int(values["max_worker_processes"]) >= int(values["timescaledb.max_background_workers"]) + 8 + 1
