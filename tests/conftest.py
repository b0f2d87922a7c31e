"""Fixtures: scripted model, ChatOpenAI over respx, real Redis, checkpointers, audit."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from guardrails.audit import AUDIT_ATTR, LOGGER_NAME
from guardrails.testing import ScriptedChatModel
from tests.support import OPENAI_BASE


def pytest_configure(config: pytest.Config) -> None:
    """Commands the tests start find this interpreter's folder first, as in an activated
    virtualenv: deepagents' sandbox runs ``python3 -c ...`` for every file operation, and a
    version manager's shim in front of it (pyenv: a shell script) costs ~10x the interpreter's
    own start. Each test module runs whole in one process, in file order, also under
    ``make test``'s pytest-xdist workers (``--dist loadfile``): module-level state is safe,
    state shared across modules is not (each worker has its own session and its own Redis)."""
    del config
    folder = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != folder:
        os.environ["PATH"] = folder + os.pathsep + path if path else folder


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``sweep`` (one promise over many inputs: spellings, transforms, shapes)
    runs every input in sync in `make test`, and its async half there only for its first input;
    the other async inputs are in the slow group (`make test-slow`, .ci/run)."""
    del config
    first: set[tuple[str, str]] = set()
    for item in items:
        callspec = getattr(item, "callspec", None)
        if item.get_closest_marker("sweep") is None or callspec is None:
            continue
        if callspec.params.get("mode") != "async":
            continue
        key = (item.nodeid.split("::", 1)[0], getattr(item, "originalname", item.name))
        if key not in first:
            first.add(key)
            continue
        item.add_marker(pytest.mark.slow)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Run a test once with the sync hooks and once with the async ones."""
    return str(request.param)


@pytest.fixture
def scripted() -> Callable[..., ScriptedChatModel]:
    """Factory: ``scripted(AIMessage(...), "text", exc, ...)`` -> ScriptedChatModel."""

    def make(*responses: Any, default: Any = None, name: str = "scripted") -> ScriptedChatModel:
        return ScriptedChatModel(responses=list(responses), default=default, model_name=name)

    return make


class AuditCapture(logging.Handler):
    """Collects the audit fields of every record on ``guardrails.audit``."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(dict(getattr(record, AUDIT_ATTR, {})))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]

    def names(self) -> list[str]:
        return [str(e.get("event")) for e in self.events]


@pytest.fixture
def audit() -> Iterator[AuditCapture]:
    """Every audit event emitted during the test, as dicts."""
    logger = logging.getLogger(LOGGER_NAME)
    handler = AuditCapture()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def openai_mock() -> Iterator[respx.MockRouter]:
    """A respx router serving ``http://openai.test/v1`` (no request leaves the machine)."""
    with respx.mock(base_url=OPENAI_BASE, assert_all_called=False) as router:
        yield router


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's own default TLS context, built once per process: loading the CA bundle cost
    ~50 ms of CPU per client, two clients per model, and respx answers before any TLS."""
    return httpx.create_ssl_context()


@pytest.fixture
def chat_openai() -> Callable[..., Any]:
    """Factory for a real ``ChatOpenAI`` whose HTTP goes through httpx (so respx serves it).

    The SDK's own retries are off (``max_retries=0``) so only the guardrails retry.
    """
    from langchain_openai import ChatOpenAI

    clients: list[Any] = []

    def make(model: str = "gpt-test", base_url: str = OPENAI_BASE, **kwargs: Any) -> Any:
        sync_client = httpx.Client(verify=_tls_context())
        async_client = httpx.AsyncClient(verify=_tls_context())
        clients.append(sync_client)
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 5.0)
        return ChatOpenAI(
            model=model,
            base_url=base_url,
            api_key="sk-test",
            http_client=sync_client,
            http_async_client=async_client,
            **kwargs,
        )

    return make


@pytest.fixture
def memory_saver() -> Any:
    """A fresh in-memory checkpointer."""
    from langgraph.checkpoint.memory import InMemorySaver

    return InMemorySaver()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A path for a SqliteSaver database file."""
    return tmp_path / "checkpoints.sqlite"


@pytest.fixture
def sqlite_saver(sqlite_path: Path) -> Iterator[Any]:
    """A SqliteSaver on a temporary file (survives a process restart)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string(str(sqlite_path)) as saver:
        yield saver


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A real redis-server on a loopback port, owned by the test session."""

    def __init__(self, binary: str, tmpdir: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.extra_args = extra_args
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self._binary = binary
        self._dir = tmpdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()

    # faults (reliability tests): pause, resume, slow down, restart on the same port
    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is answered."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def slow(self, seconds: float) -> threading.Thread:
        """``DEBUG SLEEP seconds`` from another connection: the server stalls that long."""

        def run() -> None:
            with socket.create_connection(("127.0.0.1", self.port), timeout=seconds + 10) as s:
                s.sendall(f"DEBUG SLEEP {seconds}\r\n".encode())
                s.recv(64)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        time.sleep(0.1)  # let the server start sleeping
        return thread

    def restart(self) -> None:
        """Stop and start again on the same port (state is lost: no persistence)."""
        self.stop()
        self.start()


@pytest.fixture(autouse=True)
def _fresh_store_health() -> Iterator[None]:
    """Each test starts with no store latched as unreachable (the latch is per process)."""
    from guardrails._storage import StoreHealth

    StoreHealth.forget_all()
    yield


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real Redis for the session. Skips without redis-server, except with CI=true: then fails."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (run scripts/ensure-redis.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test, which the test may stop, pause, slow down and restart."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (run scripts/ensure-redis.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(binary, tmp_path, ("--enable-debug-command", "local"))
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.resume()  # a stopped process cannot terminate
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the session's Redis, emptied before the test."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    redis_server.flush()
    return redis_server.url
