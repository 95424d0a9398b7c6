"""A real, local, single-node Apache Kafka 3.9.1 broker (KRaft) started from Maven Central jars.

Our machines have Java and Maven but no Docker engine, so tests and developers run the genuine broker
as a JVM child process (see ``/work/shared/design/infrastructure.md``). This module:

* resolves the broker's jars once into an ignored cache (:func:`ensure_jars`);
* runs a broker+controller on loopback in a directory of your choice (:class:`LocalKafkaBroker`);
* offers a small CLI: ``python -m tools.kafka_broker {fetch,start,check} --help``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from shared.kafka_admin import admin_client_config
from tools.time_matrix import without_faketime

logger = logging.getLogger("tools.kafka_broker")  # not "__main__" under python -m

KAFKA_VERSION = "3.9.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
POM_PATH = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "kafka" / KAFKA_VERSION / "libs"
DEFAULT_BOOTSTRAP_ENV = "PANTAU_KAFKA_BOOTSTRAP_SERVERS"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

# Written last, after Maven finished: a directory without it is a half download and is redone.
_COMPLETE_MARKER = ".complete"
_LOG_TAIL_LINES = 60


class KafkaBrokerError(RuntimeError):
    """The local broker could not be prepared, started or reached."""


def default_bootstrap() -> str:
    """Bootstrap address for CLIs: ``$PANTAU_KAFKA_BOOTSTRAP_SERVERS``, else ``127.0.0.1:9092``."""
    return os.environ.get(DEFAULT_BOOTSTRAP_ENV) or DEFAULT_BOOTSTRAP


# --------------------------------------------------------------------------------------------------
# Jars
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` so two processes (e.g. parallel test runs) don't download at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def jars_present(cache_dir: Path | None = None) -> bool:
    """Whether a complete download of the broker's jars is already in ``cache_dir``."""
    cache_dir = cache_dir or DEFAULT_CACHE_DIR
    return (cache_dir / _COMPLETE_MARKER).is_file()


def ensure_jars(cache_dir: Path | None = None) -> Path:
    """Make sure the Kafka broker's runtime jars are in ``cache_dir`` and return that directory.

    The first call resolves ``deploy/kafka/pom.xml`` with Maven (a minute or so on a fresh machine);
    later calls return at once. The download goes to a sibling temporary directory that is renamed
    into place, and a marker is written only after it completed, so an interrupted download is
    simply retried.

    Raises:
        KafkaBrokerError: Maven is missing or failed.
    """
    cache_dir = (cache_dir or DEFAULT_CACHE_DIR).resolve()
    if jars_present(cache_dir):
        logger.debug("Kafka %s jars already in %s", KAFKA_VERSION, cache_dir)
        return cache_dir

    with _file_lock(cache_dir.parent / f".{cache_dir.name}.lock"):
        # Another process may have finished the download while we waited for the lock.
        if jars_present(cache_dir):
            return cache_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaBrokerError(
                "Maven ('mvn') is needed once to download the Kafka broker jars from Maven Central; "
                "install it (e.g. apt-get install maven) or run scripts/bootstrap.sh"
            )
        staging = cache_dir.with_name(f"{cache_dir.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        logger.info(
            "Downloading Apache Kafka %s jars from Maven Central into %s (first run only, ~1 min)...",
            KAFKA_VERSION,
            cache_dir,
        )
        started = time.monotonic()
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(POM_PATH),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            output = (result.stdout + result.stderr).strip()
            raise KafkaBrokerError(f"Maven could not resolve the Kafka jars ({' '.join(cmd)}):\n{output}")
        if not any(staging.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
            shutil.rmtree(staging, ignore_errors=True)
            raise KafkaBrokerError(f"Maven finished but kafka_2.13-{KAFKA_VERSION}.jar is not in {staging}")
        (staging / _COMPLETE_MARKER).write_text(f"kafka {KAFKA_VERSION}\n")
        shutil.rmtree(cache_dir, ignore_errors=True)
        staging.rename(cache_dir)
        logger.info(
            "Kafka jars ready: %d files in %s (%.1f s)",
            len(list(cache_dir.glob("*.jar"))),
            cache_dir,
            time.monotonic() - started,
        )
    return cache_dir


# --------------------------------------------------------------------------------------------------
# Broker process
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_cluster_id() -> str:
    """A KRaft cluster id: 22 chars of URL-safe base64 of 16 random bytes, not starting with ``-``."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode("ascii").rstrip("=")
        # A leading '-' would be parsed as an option by the StorageTool's argument parser.
        if not cluster_id.startswith("-"):
            return cluster_id


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(content[-lines:]) or f"({path} is empty)"


def _errors(path: Path, limit: int = 20) -> str:
    """The first ERROR/FATAL lines of a log: a failed start ends in pages of shutdown noise."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} does not exist)"
    found: list[str] = []
    for index, line in enumerate(lines):
        if " ERROR " in line or " FATAL " in line:
            found.append(line)
            # The exception's own message follows on the next line (e.g. "Address already in use").
            if index + 1 < len(lines) and not lines[index + 1].startswith("["):
                found.append("    " + lines[index + 1])
        elif line.startswith("Caused by:") and "    " + line not in found:
            found.append("    " + line)
    return "\n".join(found[:limit]) or "(none)"


def _die_with_parent_prefix() -> list[str]:
    """A command prefix asking Linux to SIGTERM the child when this process dies.

    ``atexit`` does not run when the test runner is SIGKILLed or crashes hard; without this the JVM
    would keep its ports and memory forever. util-linux's ``setpriv --pdeathsig`` sets the flag and
    execs the JVM (it survives exec), which avoids a ``preexec_fn`` (unsafe with threads, and
    kafka-python runs a background thread). Empty where ``setpriv`` is missing (e.g. macOS).
    Note: Linux sends the signal when the *thread* that started the child ends, so start brokers
    from a long-lived thread (the main thread, as pytest and the CLI do).
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        return []
    return [setpriv, "--pdeathsig", "TERM", "--"]


def probe(bootstrap_servers: str, timeout_s: float = 3.0) -> dict[str, Any]:
    """Ask the broker(s) for cluster metadata once; returns ``describe_cluster()``'s dict.

    Raises whatever kafka-python raises when nothing answers (e.g. ``NoBrokersAvailable``).
    """
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**admin_client_config(bootstrap_servers, "pantau-broker-probe", timeout_s))
    try:
        return dict(admin.describe_cluster())
    finally:
        admin.close()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class LocalKafkaBroker:
    """One Kafka 3.9.1 broker+controller (KRaft) on 127.0.0.1, run as a child JVM.

    Everything lives in ``data_dir``: ``server.properties``, ``log4j.properties``, the partition
    data (``kraft-logs/``), the JVM's stdout/stderr (``broker.log``) and Kafka's own log
    (``server.log``). Use it as a context manager or call :meth:`start` / :meth:`stop`.

    The JVM runs in its own session (Ctrl-C in a terminal reaches only us, and we stop it cleanly),
    is stopped at interpreter exit, and on Linux gets SIGTERM from the kernel if this process dies.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = "512m",
        *,
        libs_dir: Path | None = None,
    ) -> None:
        """Prepare (not start) a broker; ports are chosen among free ones when None."""
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.heap = heap
        self._libs_dir = libs_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._stop_lock = threading.Lock()
        self.cluster_id: str | None = None

    # -- paths and properties ---------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """The client address, ``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The JVM's stdout/stderr (start-up failures, crashes)."""
        return self.data_dir / "broker.log"

    @property
    def server_log_path(self) -> Path:
        """Kafka's own log4j output."""
        return self.data_dir / "server.log"

    @property
    def properties_path(self) -> Path:
        """The generated ``server.properties``."""
        return self.data_dir / "server.properties"

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        """Whether the JVM process is alive."""
        return self._process is not None and self._process.poll() is None

    def _server_properties(self) -> dict[str, str]:
        return {
            # One combined broker+controller with static voters, so `format` needs no --standalone.
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / "kraft-logs"),
            # Topics come only from deploy/kafka/topics.yaml; a typo must fail, not create a topic.
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            # Internal topics on a single broker; one offsets partition makes the first join fast.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            # Tests join groups all the time; the 3 s default delay would slow every one of them.
            "group.initial.rebalance.delay.ms": "0",
            # The 128 MiB default is allocated at start-up and can exhaust a small heap; the cleaner
            # stays on because Faust changelogs are compacted.
            "log.cleaner.dedupe.buffer.size": "16777216",
            "delete.topic.enable": "true",
        }

    def _log4j_properties(self) -> str:
        log_file = str(self.server_log_path)
        return "\n".join(
            [
                "log4j.rootLogger=INFO, file",
                "log4j.appender.file=org.apache.log4j.FileAppender",
                f"log4j.appender.file.File={log_file}",
                "log4j.appender.file.Append=true",
                "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
                "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
                # These are chatty at INFO and say nothing a test run needs.
                "log4j.logger.kafka.request.logger=WARN",
                "log4j.logger.kafka.log.LogCleaner=WARN",
                "log4j.logger.state.change.logger=WARN",
                "log4j.logger.org.apache.kafka.storage.internals.log=WARN",
                "",
            ]
        )

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise KafkaBrokerError("'java' (17+) is not on PATH; the local Kafka broker needs it")
        return java

    def _jvm_common(self, libs: Path) -> list[str]:
        return [
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-Djava.awt.headless=true",
            "-cp",
            f"{libs}/*",
        ]

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        """Write the config, format storage, start the JVM and wait until it answers metadata requests.

        Raises:
            KafkaBrokerError: java/jars missing, format failed, the JVM died (the message carries the
                tail of its logs), or it did not answer within ``timeout`` seconds.
        """
        if self.is_running():
            return
        started = time.monotonic()
        java = self._java()
        libs = ensure_jars(self._libs_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._server_properties()
        self.properties_path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
        (self.data_dir / "log4j.properties").write_text(self._log4j_properties())

        # Kafka 3.9's `format --ignore-formatted` still refuses a *different* id for an already
        # formatted directory, so a reused data_dir must be formatted with its own id.
        cluster_id = self._formatted_cluster_id() if self._meta_path.is_file() else new_cluster_id()
        fmt = subprocess.run(
            [
                java,
                "-Xmx256m",
                *self._jvm_common(libs),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.properties_path),
                # A data_dir reused from an earlier run keeps its data.
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env=without_faketime(os.environ),
        )
        if fmt.returncode != 0:
            raise KafkaBrokerError(
                f"kafka StorageTool format failed (exit {fmt.returncode}):\n{(fmt.stdout + fmt.stderr).strip()}"
            )

        self.cluster_id = self._formatted_cluster_id()
        self._log_handle = self.log_path.open("ab")
        cmd = [
            *_die_with_parent_prefix(),
            java,
            "-Xms256m",
            f"-Xmx{self.heap}",
            *self._jvm_common(libs),
            "kafka.Kafka",
            str(self.properties_path),
        ]
        logger.info("Starting Kafka %s on %s (data in %s)", KAFKA_VERSION, self.bootstrap_servers, self.data_dir)
        self._process = subprocess.Popen(
            cmd,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env=without_faketime(os.environ),
            # Own session/process group: a terminal's Ctrl-C does not hit the JVM directly (we stop it
            # cleanly), and stop() can signal the whole group.
            start_new_session=True,
        )
        atexit.register(self.stop)
        try:
            self._wait_ready(started + timeout)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "Kafka ready on %s after %.1f s (pid %s)",
            self.bootstrap_servers,
            time.monotonic() - started,
            self.pid,
        )

    @property
    def _meta_path(self) -> Path:
        return self.data_dir / "kraft-logs" / "meta.properties"

    def _formatted_cluster_id(self) -> str:
        meta = self._meta_path
        for line in meta.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        raise KafkaBrokerError(f"no cluster.id in {meta} after formatting")

    def _died_error(self, what: str) -> KafkaBrokerError:
        return KafkaBrokerError(
            f"{what}\n--- errors in {self.server_log_path} ---\n{_errors(self.server_log_path)}\n"
            f"--- tail of {self.log_path} ---\n{_tail(self.log_path)}\n"
            f"--- tail of {self.server_log_path} ---\n{_tail(self.server_log_path, 25)}"
        )

    def _wait_ready(self, deadline: float) -> None:
        last_error: BaseException | None = None
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = process.returncode if process is not None else None
                raise self._died_error(f"Kafka broker exited during start-up (exit code {code}).")
            # Cheap TCP check first: kafka-python logs connection errors loudly while the port is closed.
            if _port_open("127.0.0.1", self.port):
                try:
                    cluster = probe(self.bootstrap_servers, timeout_s=2.0)
                    if cluster.get("cluster_id") != self.cluster_id:
                        # Someone else listens on "our" port (a taken --port, or a reused free one):
                        # our JVM will die on the bind; until then, don't mistake theirs for ours.
                        last_error = KafkaBrokerError(
                            f"port {self.port} answers for cluster {cluster.get('cluster_id')!r}, "
                            f"not ours ({self.cluster_id!r})"
                        )
                    elif cluster.get("brokers"):
                        return
                except Exception as exc:  # any client error just means "not yet"
                    last_error = exc
            if time.monotonic() >= deadline:
                raise self._died_error(
                    f"Kafka broker on {self.bootstrap_servers} did not answer in time (last error: {last_error!r})."
                )
            time.sleep(0.25)

    def stop(self) -> None:
        """SIGTERM the broker, wait up to 30 s for its clean shutdown, then SIGKILL. Idempotent."""
        with self._stop_lock:
            process, self._process = self._process, None
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)
            if process is not None and process.poll() is None:
                logger.info("Stopping Kafka on %s (pid %s)", self.bootstrap_servers, process.pid)
                self._signal(process, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    logger.warning("Kafka (pid %s) ignored SIGTERM for 30 s; killing it", process.pid)
                    self._signal(process, signal.SIGKILL)
                    process.wait(timeout=10)
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        try:
            # The JVM leads its own process group (start_new_session); signal the group.
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            process.send_signal(sig)

    def wait(self) -> int:
        """Block until the JVM exits; returns its exit code."""
        if self._process is None:
            return 0
        return self._process.wait()

    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def _cmd_fetch(args: argparse.Namespace) -> int:
    libs = ensure_jars(args.cache_dir)
    print(libs)
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    broker = LocalKafkaBroker(args.data_dir, port=args.port, controller_port=args.controller_port, heap=args.heap)
    stopping = threading.Event()

    def on_term(signum: int, _frame: object) -> None:
        stopping.set()
        raise KeyboardInterrupt

    # Both explicitly: a shell starting us in the background (`cmd &`) leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        broker.start(timeout=args.timeout)
        print(f"Kafka {KAFKA_VERSION} ready: bootstrap servers {broker.bootstrap_servers}", flush=True)
        print(f"  data and logs in {broker.data_dir}; Ctrl-C or SIGTERM stops it", flush=True)
        if args.create_topics:
            from tools.topics import create_topics

            names = create_topics(broker.bootstrap_servers, prefix=args.prefix)
            print(f"  created/verified {len(names)} topics: {', '.join(names)}", flush=True)
        code = broker.wait()
        if not stopping.is_set():
            print(f"Kafka exited unexpectedly (code {code}); see {broker.log_path}", file=sys.stderr)
            print(_tail(broker.server_log_path), file=sys.stderr)
            return 1
        return 0
    except KeyboardInterrupt:
        print("stopping Kafka...", flush=True)
        return 0
    finally:
        broker.stop()


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        cluster = probe(args.bootstrap, timeout_s=args.timeout)
    except Exception as exc:
        print(f"no Kafka answering on {args.bootstrap}: {exc!r}", file=sys.stderr)
        return 1
    brokers = ", ".join(
        f"{b.get('broker_id', b.get('node_id'))}@{b.get('host')}:{b.get('port')}" for b in cluster.get("brokers", [])
    )
    print(f"Kafka on {args.bootstrap} answers: cluster id {cluster.get('cluster_id')}, brokers [{brokers}]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.kafka_broker`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.kafka_broker",
        description=(
            f"Run a real local Apache Kafka {KAFKA_VERSION} broker (KRaft, single node) from Maven "
            "Central jars, without Docker. Needs java (17+) and, for the one-time download, mvn."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fetch,start,check}")

    fetch = sub.add_parser("fetch", help="download the broker jars into the cache (once)")
    fetch.add_argument("--cache-dir", type=Path, default=None, help=f"jar directory (default: {DEFAULT_CACHE_DIR})")
    fetch.set_defaults(func=_cmd_fetch)

    start = sub.add_parser(
        "start",
        help="run a broker in the foreground until Ctrl-C/SIGTERM",
        description="Run a broker in the foreground until Ctrl-C or SIGTERM; its data stays in --data-dir.",
    )
    start.add_argument("--data-dir", type=Path, required=True, help="config, data and logs go here")
    start.add_argument("--port", type=int, default=None, help="client port (default: a free port)")
    start.add_argument("--controller-port", type=int, default=None, help="KRaft controller port (default: free)")
    start.add_argument("--heap", default="512m", help="JVM max heap (default: 512m)")
    start.add_argument("--timeout", type=float, default=90, help="seconds to wait for readiness (default: 90)")
    start.add_argument(
        "--create-topics",
        action="store_true",
        help="create the topics of deploy/kafka/topics.yaml once ready",
    )
    start.add_argument("--prefix", default="", help="with --create-topics: prefix for every topic name")
    start.set_defaults(func=_cmd_start)

    check = sub.add_parser("check", help="exit 0 if a broker answers a metadata request")
    check.add_argument(
        "--bootstrap",
        default=default_bootstrap(),
        help=f"HOST:PORT (default: ${DEFAULT_BOOTSTRAP_ENV} or {DEFAULT_BOOTSTRAP})",
    )
    check.add_argument("--timeout", type=float, default=5, help="seconds (default: 5)")
    check.set_defaults(func=_cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # kafka-python reports every refused connection at ERROR/WARNING; the CLI reports outcomes.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        return int(args.func(args))
    except RuntimeError as exc:  # KafkaBrokerError, or TopicError from --create-topics
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
