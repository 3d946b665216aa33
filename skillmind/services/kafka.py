"""Apache Kafka 4.x in KRaft mode (one broker+controller), from the official jars on Maven Central.

Launched the way the release's ``kafka-server-start.sh`` launches it: ``kafka.Kafka``
with the release's default JVM flags, after ``kafka.tools.StorageTool format``.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from importlib import resources
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from skillmind.services.base import Launch, LocalService
from skillmind.services.process import ServiceError, require_executable, split_address

# The release's KAFKA_JVM_PERFORMANCE_OPTS plus headless mode (kafka-run-class.sh).
RELEASE_JVM_FLAGS = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
]

_QUIET = logging.getLogger("skillmind.services.kafka.librdkafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def find_java(java_home: Path | None) -> Path:
    """A JDK 17+ ``java``: the setting, then JAVA_HOME, then Debian's 17, then PATH."""
    candidates = [java_home, os.environ.get("JAVA_HOME"), "/usr/lib/jvm/java-17-openjdk-amd64"]
    for home in candidates:
        if home and (Path(home) / "bin" / "java").exists():
            return Path(home) / "bin" / "java"
    return require_executable("java", "install a JDK 17 (apt-get install -y openjdk-17-jre-headless).")


def java_major_version(java: Path) -> int:
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else 0


def new_cluster_id() -> str:
    """Kafka's cluster id format: a UUID as unpadded URL-safe base64. Like Kafka's own
    ``Uuid.randomUuid``, never one starting with "-", which a command line reads as an option."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not candidate.startswith("-"):
            return candidate


class Kafka(LocalService):
    name = "kafka"

    @property
    def address(self) -> str:
        return self.settings.kafka.bootstrap_servers.split(",")[0]

    @property
    def port_setting_hint(self) -> str:
        return "SKILLMIND_KAFKA__BOOTSTRAP_SERVERS and SKILLMIND_SERVICES__KAFKA_CONTROLLER_PORT"

    @property
    def libs(self) -> Path:
        return self.settings.cache_dir / f"kafka-{self.settings.services.kafka_version}" / "libs"

    @property
    def java(self) -> Path:
        return find_java(self.settings.services.java_home)

    def install(self) -> None:
        if any(self.libs.glob("kafka_2.13-*.jar")):
            return
        mvn = require_executable("mvn", "install Maven (apt-get install -y maven) to fetch the Kafka jars.")
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.libs.parent, prefix="libs-"))
        pom = resources.files("skillmind.services").joinpath("kafka-pom.xml")
        with resources.as_file(pom) as pom_path:
            result = subprocess.run(
                [
                    str(mvn),
                    "-q",
                    "-B",
                    "-f",
                    str(pom_path),
                    f"-Dkafka.version={self.settings.services.kafka_version}",
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging}",
                ],
                capture_output=True,
                text=True,
            )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise ServiceError(
                "Maven could not fetch the Kafka jars; check access to Maven Central and "
                f"the version in SKILLMIND_SERVICES__KAFKA_VERSION:\n{result.stdout[-2000:]}"
            )
        staging.rename(self.libs)  # atomic: a half-filled cache is never mistaken for a full one

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def _jvm(self, *, heap: str) -> list[str]:
        java = self.java
        if java_major_version(java) < 17:
            raise ServiceError(
                f"{java} is older than Java 17, which Kafka 4 needs; set SKILLMIND_SERVICES__JAVA_HOME to a JDK 17+."
            )
        tmp = self.ensure_dir(self.home / "tmp")  # native snappy/zstd libs need an exec-able dir
        return [
            str(java),
            *heap.split(),
            *RELEASE_JVM_FLAGS,
            f"-Dorg.xerial.snappy.tempdir={tmp}",
            f"-DZstdTempFolder={tmp}",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            "-Dorg.slf4j.simpleLogger.log.org.apache.kafka=warn",
            "-Dorg.slf4j.simpleLogger.log.kafka=info",
            "-cp",
            self._classpath(),
        ]

    @property
    def properties_path(self) -> Path:
        return self.home / "server.properties"

    def write_properties(self) -> None:
        host, port = split_address(self.address)
        controller = f"{host}:{self.settings.services.kafka_controller_port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{controller}",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            "num.partitions": str(self.settings.kafka.partitions),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # The log is the audit trail: never let the broker invent topics by accident.
            "auto.create.topics.enable": "false",
        }
        self.properties_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def prepare(self) -> None:
        self.write_properties()
        if (self.home / "data" / "meta.properties").exists():
            return
        cluster_id_file = self.home / "cluster.id"
        if not cluster_id_file.exists():
            cluster_id_file.write_text(new_cluster_id())
        result = subprocess.run(
            [
                *self._jvm(heap="-Xmx256m"),
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id_file.read_text().strip()}",
                "-c",
                str(self.properties_path),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"formatting Kafka storage failed; remove {self.home} to start afresh:\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )

    def launch(self) -> Launch:
        return Launch(
            argv=[
                *self._jvm(heap=self.settings.services.kafka_heap),
                "kafka.Kafka",
                str(self.properties_path),
            ],
            env={},
        )

    def probe(self) -> str | None:
        admin = AdminClient(
            {
                "bootstrap.servers": self.settings.kafka.bootstrap_servers,
                "socket.timeout.ms": 2000,
                "logger": _QUIET,  # type: ignore[dict-item]
            }
        )
        try:
            admin.list_topics(timeout=2)
        except KafkaException as err:
            return f"broker does not answer: {err.args[0].str() if err.args else err}"
        return None
