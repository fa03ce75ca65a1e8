"""bench/instances: feedbot as separate webhook processes sharing one database, behind a
load balancer stand-in, for bench.burst's instance variants.

The load generator (this process) runs the fake Bot API over HTTP, the simulated people
and the load balancer; each instance is a child process serving the webhook exactly as
`feedbot run --webhook` does (bot.web.runtime.serve: the inbox receiver, the inbox
worker, /healthz, the same Application) except that it has no rate limiter, as in
every variant of the burst benchmark (AIORateLimiter would cap them all at 30 msg/s),
and therefore talks to the Bot API through PlainHttpRequest (see there why).
The load balancer posts each update to a randomly chosen instance, as nginx's
round-robin does for requests from many clients, and posts it again (to a random
instance) when the connection fails or the answer is not 200, as Telegram does.

Both HTTP ends of the load generator are minimal asyncio HTTP/1.1 with keep-alive
(Content-Length bodies only, which is what PTB's httpx and uvicorn send): the machine's
2 cores are shared by the instances, PostgreSQL and this process, and a full HTTP stack
here would take a large share of them from what is measured.

    python -m bench.instances   (an instance: reads its settings from the environment)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from tests.fakes.records import JSONDict
from tests.fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
HOOK_PATH = "/telegram/hook"
# Telegram's default for setWebhook's max_connections (feedbot registers the same):
# the load balancer keeps at most this many requests open per instance.
CONNECTIONS_PER_INSTANCE = 40
RETRY_DELAY = 0.05
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
# Where an instance writes a pyinstrument profile of its life (bench.burst --profile).
PROFILE_VARIABLE = "FEEDBOT_BENCH_PROFILE"


# ------------------------------------------------------------------ the fake Bot API over HTTP


class _ApiProtocol(asyncio.Protocol):
    """One keep-alive connection from an instance's HTTP client to the fake Bot API.

    Requests are answered one after another, in order (an HTTP/1.1 client waits for the
    answer before its next request on a connection; a pipelined one would still be
    answered in order)."""

    def __init__(self, fake: FakeTelegram) -> None:
        self._fake = fake
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._queue: asyncio.Queue[tuple[str, str, bytes, str] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is one without subclassing asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        self._task = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._queue.put_nowait(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._task is not None:
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            length = 0
            content_type = ""
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "content-type":
                    content_type = value.strip()
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            verb, target, _ = head[0].split(" ", 2)
            self._queue.put_nowait((verb, target, body, content_type))

    async def _serve(self) -> None:
        while (request := await self._queue.get()) is not None:
            _, target, body, content_type = request
            status, answer = await self._answer(target, body, content_type)
            payload = json.dumps(answer).encode()
            if self._transport is None:
                return
            self._transport.write(
                b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (status, len(payload))
                + payload
            )

    async def _answer(self, target: str, body: bytes, content_type: str) -> tuple[int, JSONDict]:
        url = urlsplit(target)
        parts = url.path.split("/")
        if len(parts) != 3 or not self._fake.accepts_token(parts[1]):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        params: dict[str, object] = dict(parse_qsl(url.query, keep_blank_values=True))
        kind = content_type.split(";", 1)[0].strip().lower()
        if body and kind == "application/json":
            params.update(json.loads(body))
        elif body and kind == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        elif body:
            return 400, {"ok": False, "error_code": 400, "description": f"no {kind} here"}
        return await self._fake.call(parts[2], params)


@asynccontextmanager
async def bot_api_server(fake: FakeTelegram) -> AsyncIterator[str]:
    """Serve `fake` on 127.0.0.1; yields the base URL to give TELEGRAM_API_BASE_URL."""
    loop = asyncio.get_running_loop()
    connections: list[_ApiProtocol] = []

    def connect() -> _ApiProtocol:
        connection = _ApiProtocol(fake)
        connections.append(connection)
        return connection

    server = await loop.create_server(connect, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/bot"
    finally:
        server.close()
        for connection in connections:
            connection.close()
        await server.wait_closed()


# ------------------------------------------------------------------ the load balancer


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bool]:
    """Send one HTTP/1.1 request on a connection: (status, body, whether to keep it)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    keep = True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection" and value.strip().lower() == "close":
            keep = False
    body = await reader.readexactly(length) if length else b""
    return status, body, keep


class PlainHttpRequest(BaseRequest):
    """The instances' Bot API client: PTB's public network interface (BaseRequest, which
    PTB documents for using another HTTP library) over keep-alive HTTP/1.1 connections,
    taken from an idle list in O(1).

    Why not PTB's default HTTPXRequest: without the rate limiter (no variant has one) its
    pool grows to 256 connections at this concurrency, and httpcore 1.0.9 manages the pool
    by walking every connection (and every queued request) on each request added or
    removed, some of it quadratically; measured beside this client it costs several ms of
    CPU per Bot API call, so the instances would measure the HTTP client's bookkeeping,
    not feedbot and its database. With the rate limiter (`feedbot run`) a bot sends at
    most 30 messages a second and keeps a few connections: the case never arises."""

    def __init__(self, read_timeout: float = REQUEST_TIMEOUT) -> None:
        self._read_timeout = read_timeout
        self._idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
        self._idle = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to open: connections are made when needed."""

    async def shutdown(self) -> None:
        for idle in self._idle.values():
            for _, writer in idle:
                writer.close()
        self._idle = {}

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if request_data is not None and request_data.contains_files:
            raise NetworkError("the benchmark's Bot API client sends no files")
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        fields = request_data.json_parameters if request_data is not None else {}
        body = urlencode(fields).encode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        request = (
            f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        idle = self._idle.setdefault((host, port), [])
        timeout = read_timeout if isinstance(read_timeout, float | int) else self._read_timeout
        try:
            if idle:
                reader, writer = idle.pop()
            else:
                reader, writer = await asyncio.open_connection(host, port)
            try:
                status, payload, keep = await asyncio.wait_for(
                    _exchange(reader, writer, request), timeout
                )
            except BaseException:
                writer.close()
                raise
        except TimeoutError as exc:
            raise TimedOut() from exc
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            raise NetworkError(f"plain http: {exc!r}") from exc
        if keep:
            idle.append((reader, writer))
        else:
            writer.close()
        return status, payload


class _Upstream:
    """Keep-alive connections to one instance's webhook, at most `limit` in use."""

    def __init__(self, port: int, limit: int) -> None:
        self.port = port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(limit)

    async def post(self, request: bytes) -> int:
        """POST one prepared request; its status (exceptions: the connection failed)."""
        async with self._slots:
            if self._idle:
                reader, writer = self._idle.pop()
            else:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                status, _, keep = await asyncio.wait_for(
                    _exchange(reader, writer, request), REQUEST_TIMEOUT
                )
            except BaseException:
                writer.close()
                raise
            if keep:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return status

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle = []


class Balancer:
    """The load balancer stand-in: each update to a random instance, again on failure."""

    def __init__(self, ports: list[int], secret: str, rng: random.Random) -> None:
        self._upstreams = [_Upstream(port, CONNECTIONS_PER_INSTANCE) for port in ports]
        self._secret = secret
        self._rng = rng
        self.posts = 0
        self.retries = 0

    async def post(self, update: JSONDict) -> None:
        """Deliver `update` to some instance: returns once one answered 200."""
        body = json.dumps(update).encode()
        request = (
            f"POST {HOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {self._secret}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        while True:
            upstream = self._rng.choice(self._upstreams)
            self.posts += 1
            try:
                if await upstream.post(request) == 200:
                    return
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError):
                pass
            self.retries += 1
            await asyncio.sleep(RETRY_DELAY)

    def close(self) -> None:
        for upstream in self._upstreams:
            upstream.close()


# ------------------------------------------------------------------ the instances


@dataclass
class Instance:
    """One `feedbot run --webhook`-like child process."""

    process: asyncio.subprocess.Process
    port: int
    log_path: Path
    log_file: IO[bytes]
    cpu_seconds: float = 0.0

    def log(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class Fleet:
    """The instances of one run, and what their logs and CPU times say afterwards."""

    webhook_secret: str = ""
    instances: list[Instance] = field(default_factory=list)
    limits: list[CpuLimit] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    @property
    def ports(self) -> list[int]:
        return [i.port for i in self.instances]

    def throttled(self) -> tuple[int, int]:
        """Of the scheduler periods the instances ran in, how many their CPU limits held
        them back in (0, 0 without limits)."""
        counts = [limit.throttled() for limit in self.limits]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of every instance so far."""
        import psutil

        total = 0.0
        for instance in self.instances:
            try:
                times = psutil.Process(instance.process.pid).cpu_times()
            except psutil.NoSuchProcess:
                total += instance.cpu_seconds
                continue
            instance.cpu_seconds = times.user + times.system
            total += instance.cpu_seconds
        return total


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def instance_env(
    *, token: str, secret: str, database: str, api_url: str, port: int, webhook_secret: str
) -> dict[str, str]:
    """The environment of one instance (its settings, as `feedbot run --webhook` reads them)."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": token,
        "FEEDBOT_SECRET": secret,
        "FEEDBOT_DATABASE": database,
        "FEEDBOT_TIMEZONE": "Europe/Warsaw",
        "FEEDBOT_LOG_LEVEL": "WARNING",
        "TELEGRAM_API_BASE_URL": api_url,
        "FEEDBOT_WEBHOOK_URL": f"http://127.0.0.1:{port}{HOOK_PATH}",
        "FEEDBOT_WEBHOOK_SECRET": webhook_secret,
        "FEEDBOT_LISTEN": f"127.0.0.1:{port}",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


@asynccontextmanager
async def fleet(
    count: int,
    fake: FakeTelegram,
    *,
    token: str,
    secret: str,
    database: str,
    api_url: str,
    profile: Path | None = None,
    cpu_limit: float | None = None,
) -> AsyncIterator[Fleet]:
    """Start `count` instances and wait until each has registered its webhook; on the
    way out, SIGTERM each (it drains: finishes the updates it took) and read its log.
    `profile`: each instance writes a pyinstrument profile of its life to `profile.<n>`.
    `cpu_limit`: each instance in a CpuLimit of that many cores of its own, as an
    instance in a container with a CPU limit (raises CpuLimitUnavailable, before
    anything starts, where that cannot be done)."""
    webhook_secret = secrets.token_urlsafe(24)
    registered = _count_calls(fake, "setWebhook")
    started = Fleet(webhook_secret=webhook_secret)
    folder = tempfile.TemporaryDirectory(prefix="feedbot-instances-")
    try:
        if cpu_limit is not None:
            for n in range(count):
                name = f"feedbot-bench-{os.getpid()}-{n}"
                started.limits.append(CpuLimit.create(name, cpu_limit))
        for n in range(count):
            port = _free_port()
            log_path = Path(folder.name) / f"instance-{n}.log"
            log_file = log_path.open("wb")
            env = instance_env(
                token=token,
                secret=secret,
                database=database,
                api_url=api_url,
                port=port,
                webhook_secret=webhook_secret,
            )
            if profile is not None:
                env[PROFILE_VARIABLE] = f"{profile}.{n}"
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.instances",
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            if started.limits:
                started.limits[n].add(process.pid)
            started.instances.append(Instance(process, port, log_path, log_file))
        deadline = time.monotonic() + START_TIMEOUT
        while registered() < count:
            for instance in started.instances:
                if instance.process.returncode is not None:
                    raise RuntimeError(f"an instance exited while starting:\n{instance.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError("the instances did not register their webhooks in time")
            await asyncio.sleep(0.05)
        yield started
    finally:
        started.cpu_seconds()
        for instance in started.instances:
            if instance.process.returncode is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in started.instances:
            try:
                await asyncio.wait_for(instance.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                instance.process.kill()
                await instance.process.wait()
                started.errors += 1
                started.first_error = started.first_error or "an instance did not stop on SIGTERM"
            text = instance.log()
            instance.log_file.close()
            lines = text.splitlines()
            for n, line in enumerate(lines):
                if "Traceback" in line or " ERROR " in line or " CRITICAL " in line:
                    started.errors += 1
                    started.first_error = started.first_error or _error_of(lines, n)
            if instance.process.returncode not in (0, None):
                started.errors += 1
                started.first_error = started.first_error or (
                    f"an instance exited with {instance.process.returncode}"
                )
        for limit in started.limits:
            limit.remove()
        folder.cleanup()


def _error_of(lines: list[str], n: int) -> str:
    """The log line `n` that reports an error, with the exception a traceback starting
    there ends with (its first unindented line after it), to show on one line."""
    line = lines[n].strip()
    if "Traceback" not in line:
        return line
    for after in lines[n + 1 :]:
        if after and not after[0].isspace():
            return f"{line} ... {after.strip()}"
    return line


def _count_calls(fake: FakeTelegram, method: str) -> Callable[[], int]:
    """Count `method` calls the fake answers (it does not record calls in the benchmark)."""
    count = [0]
    original = fake.method_table()[method]

    def handler(params: JSONDict) -> object:
        count[0] += 1
        return original(params)

    fake.register(method, handler)
    return lambda: count[0]


# ------------------------------------------------------------------ CPU of the machine


@dataclass
class CpuShares:
    """Where the machine's CPU went during a run, in cores (1.0 = one core busy)."""

    machine: float = 0.0
    load: float = 0.0  # this process: the fake Bot API, the people, the load balancer
    instances: float = 0.0
    postgres: float = 0.0

    def describe(self, cores: int) -> str:
        return (
            f"CPU in cores of {cores}: machine {self.machine:.2f}, instances"
            f" {self.instances:.2f}, PostgreSQL {self.postgres:.2f}, load generator and"
            f" fake Bot API {self.load:.2f}"
        )


def postgres_cpu_seconds() -> float:
    """CPU time of the PostgreSQL server's processes on this machine (0 when not local)."""
    import psutil

    total = 0.0
    for process in psutil.process_iter(["name"]):
        name = process.info.get("name") or ""
        if not name.startswith("postgres"):
            continue
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total


def machine_busy_seconds() -> float:
    """Busy CPU time of the whole machine (all cores) since boot."""
    import psutil

    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


# ------------------------------------------------------------------ CPU limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
# The scheduler's period for a limit (the kernel's default, and Kubernetes'): in each
# 100 ms the limited processes together may run `cores` x 100 ms.
CFS_PERIOD_US = 100_000


class CpuLimitUnavailable(RuntimeError):
    """The kernel's cgroup CPU controller cannot be used here (it needs root)."""


@dataclass
class CpuLimit:
    """A cgroup of the kernel's CPU controller: the processes in it together get at most
    `cores` of CPU time, as a container with a CPU limit does (docker --cpus, Kubernetes
    limits.cpu are this). cgroup v2 (cpu.max) where the unified hierarchy has the cpu
    controller, else v1's cpu hierarchy (cpu.cfs_quota_us)."""

    path: Path
    unified: bool

    @classmethod
    def create(cls, name: str, cores: float, root: Path | None = None) -> CpuLimit:
        """A new cgroup `name` limited to `cores`, under `root` (the kernel's cgroup
        mount, CGROUP_ROOT)."""
        root = CGROUP_ROOT if root is None else root
        quota = max(1000, round(cores * CFS_PERIOD_US))
        controllers = root / "cgroup.controllers"
        unified = controllers.is_file() and "cpu" in controllers.read_text().split()
        path = root / name if unified else root / "cpu" / name
        try:
            if unified:
                control = root / "cgroup.subtree_control"
                if "cpu" not in control.read_text().split():
                    control.write_text("+cpu")
            path.mkdir()
        except OSError as exc:
            raise CpuLimitUnavailable(
                f"cannot limit CPU: {exc} (the capped variants need root and the kernel's"
                " cgroup cpu controller)"
            ) from exc
        limit = cls(path, unified)
        try:
            if unified:
                (path / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
            else:
                (path / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError as exc:
            limit.remove()
            raise CpuLimitUnavailable(f"cannot limit CPU: {exc}") from exc
        return limit

    def add(self, pid: int) -> None:
        """Move process `pid` (all its threads) into the limit."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled(self) -> tuple[int, int]:
        """(periods in which the limit held the processes back, periods they ran in)."""
        stat = dict(
            line.split(" ", 1) for line in (self.path / "cpu.stat").read_text().splitlines()
        )
        return int(stat.get("nr_throttled", 0)), int(stat.get("nr_periods", 0))

    def remove(self) -> None:
        """Remove the cgroup (once its processes have exited)."""
        with contextlib.suppress(OSError):
            self.path.rmdir()


# ------------------------------------------------------------------ an instance


def serve_instance() -> int:
    """Run one instance until SIGTERM: the settings (from the environment), Application
    and webhook serving of `feedbot run --webhook` (bot.web.runtime.serve), without the
    rate limiter."""
    from bot.app import build_application
    from bot.config import load_settings
    from bot.logs import configure_logging
    from bot.web.runtime import run_served, serve

    settings = load_settings(None)
    assert settings.token is not None and settings.secret is not None
    configure_logging(
        settings.log_level,
        token=settings.token.get_secret_value(),
        secret=settings.secret.get_secret_value(),
    )
    app = build_application(settings, rate_limiter=False, request=PlainHttpRequest(), inbox=True)
    profile = os.environ.get(PROFILE_VARIABLE, "")
    profiler = None
    if profile:
        from pyinstrument import Profiler

        # Sampling the whole thread (not one task): what the event loop spends its time on.
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    try:
        run_served(serve(app, settings, webhook=True))
    finally:
        if profiler is not None:
            profiler.stop()
            Path(profile).write_text(profiler.output_text(unicode=True, color=False))
    return 0


if __name__ == "__main__":
    sys.exit(serve_instance())
