"""The single-node Kafka broker (KRaft) that `mercado up` runs from the official jars."""

from __future__ import annotations

import hashlib
import shlex
import shutil
from pathlib import Path
from string import Template

from infra.errors import ServiceFailed
from infra.processes import (
    command_line,
    is_alive,
    last_lines,
    port_answers,
    read_pid,
    run_tool,
    spawn_detached,
    terminate,
    write_pid,
)
from infra.readiness import wait_for_kafka
from infra.settings import ServiceSettings
from infra.toolchain import find_java, find_maven

KAFKA_RESOURCES = Path(__file__).resolve().parent / "kafka"
POM = KAFKA_RESOURCES / "pom.xml"
SERVER_PROPERTIES_TEMPLATE = KAFKA_RESOURCES / "server.properties.tmpl"
LOG4J_PROPERTIES = KAFKA_RESOURCES / "log4j.properties"

NODE_ID = 1
BROKER_MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
STOP_GRACE_S = 30.0
TOOL_TIMEOUT_S = 600.0
# The GC settings of Kafka's own kafka-run-class.sh.
JVM_OPTIONS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)


class LocalKafka:
    """A broker whose jars, configuration, data, logs and pid file live in ``<state_dir>/kafka``."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.home = settings.local.state_dir.resolve() / "kafka"
        self.libs = self.home / "libs"
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.properties = self.home / "server.properties"
        self.pid_file = self.home / "kafka.pid"
        self.cluster_id_file = self.home / "cluster.id"
        self.console_output = self.logs / "server.out"

    @property
    def bootstrap(self) -> str:
        return self.settings.local.kafka_bootstrap

    def pid(self) -> int | None:
        """The pid of this state folder's broker, when it runs."""
        pid = read_pid(self.pid_file)
        if pid is None or not is_alive(pid):
            return None
        argv = command_line(pid)
        return pid if BROKER_MAIN_CLASS in argv and str(self.properties) in argv else None

    def ensure_started(self) -> int:
        """Start the broker unless it already runs; return its pid without waiting for readiness."""
        running_pid = self.pid()
        if running_pid is not None:
            return running_pid
        self._refuse_busy_ports()
        java = find_java(self.settings.local.java_bin)
        self._ensure_libs()
        self._write_properties()
        self._format_storage(java)
        argv = [
            str(java),
            *shlex.split(self.settings.local.kafka_heap),
            *self._jvm_logging_options(),
            # as kafka-run-class.sh: the broker's GC pauses are part of every latency through it
            f"-Xlog:gc*:file={self.logs / 'kafkaServer-gc.log'}:time,uptime,tags:filecount=10,filesize=20M",
            "-cp",
            self._classpath(),
            BROKER_MAIN_CLASS,
            str(self.properties),
        ]
        pid = spawn_detached(argv, self.console_output)
        write_pid(self.pid_file, pid)
        return pid

    def wait_ready(self, timeout_s: float) -> None:
        try:
            wait_for_kafka(self.bootstrap, timeout_s, still_running=lambda: self.pid() is not None)
        except ServiceFailed as error:
            raise ServiceFailed(f"{error} {self._log_hint()}") from error

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``STOP_GRACE_S``); nothing to do if it is down."""
        pid = self.pid()
        if pid is not None:
            terminate(pid, STOP_GRACE_S)
        self.pid_file.unlink(missing_ok=True)

    def _refuse_busy_ports(self) -> None:
        host = self.settings.local.kafka_host
        for port in (self.settings.local.kafka_port, self.settings.local.kafka_controller_port):
            if port_answers(host, port):
                raise ServiceFailed(
                    f"Port {host}:{port} is used by another program, not by the Kafka of "
                    f"{self.settings.local.state_dir}: stop it or set "
                    "MERCADO_LOCAL__KAFKA_PORT / MERCADO_LOCAL__KAFKA_CONTROLLER_PORT."
                )

    def _ensure_libs(self) -> None:
        """Copy the broker jars into ``libs`` with Maven, unless the jars for this pom are already there."""
        pom_digest = hashlib.sha256(POM.read_bytes()).hexdigest()
        marker = self.libs / ".pom.sha256"
        if marker.is_file() and marker.read_text().strip() == pom_digest:
            return
        mvn = find_maven(self.settings.local.mvn_bin)
        staging = self.home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        command = [
            str(mvn), "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ]  # fmt: skip
        self._run_tool(command, "Maven could not fetch the Kafka jars")
        (staging / marker.name).write_text(pom_digest + "\n")
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)

    def _write_properties(self) -> None:
        template = Template(SERVER_PROPERTIES_TEMPLATE.read_text())
        rendered = template.substitute(
            node_id=NODE_ID,
            host=self.settings.local.kafka_host,
            port=self.settings.local.kafka_port,
            controller_port=self.settings.local.kafka_controller_port,
            log_dir=self.data,
        )
        self.home.mkdir(parents=True, exist_ok=True)
        self.properties.write_text(rendered)

    def _format_storage(self, java: Path) -> None:
        """Format the KRaft log folder once, with a cluster id kept in ``cluster.id``."""
        if (self.data / "meta.properties").is_file():
            return
        if not self.cluster_id_file.is_file():
            cluster_id = self._run_storage_tool(java, ["random-uuid"]).strip()
            self.cluster_id_file.write_text(cluster_id + "\n")
        cluster_id = self.cluster_id_file.read_text().strip()
        self._run_storage_tool(
            java, ["format", "-t", cluster_id, "-c", str(self.properties), "--ignore-formatted"]
        )

    def _run_storage_tool(self, java: Path, arguments: list[str]) -> str:
        command = [str(java), *self._jvm_logging_options(), "-cp", self._classpath(), STORAGE_TOOL_CLASS]
        return self._run_tool([*command, *arguments], "Kafka's storage tool failed")

    def _run_tool(self, command: list[str], failure: str) -> str:
        self.logs.mkdir(parents=True, exist_ok=True)
        return run_tool(command, failure, cwd=self.home, timeout_s=TOOL_TIMEOUT_S)

    def _jvm_logging_options(self) -> list[str]:
        return [
            *JVM_OPTIONS,
            f"-Dlog4j.configuration={LOG4J_PROPERTIES.as_uri()}",
            f"-Dkafka.logs.dir={self.logs}",
        ]

    def _classpath(self) -> str:
        return f"{self.libs}/*"

    def _log_hint(self) -> str:
        output = last_lines(self.console_output)
        tail = f"; last console output:\n{output}" if output else ""
        return f"See {self.logs / 'server.log'}{tail}"
