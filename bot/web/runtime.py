"""Running the bot with its HTTP server in one event loop: webhook mode (updates through
the inbox), or polling with the server beside it (FEEDBOT_LISTEN)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from starlette.routing import BaseRoute
from telegram import Update

from bot.config import Settings
from bot.context import FeedbotApplication
from bot.inbox import InboxReceiver, InboxWorker
from bot.web.health import database_check, health_routes
from bot.web.server import RouteProvider, WebServer, bind, build_asgi, route_providers
from bot.web.webhook import webhook_routes

log = logging.getLogger(__name__)

T = TypeVar("T")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (a dependency everywhere but Windows), else
    asyncio's own. uvloop because the served bot is mostly event-loop work: reading HTTP
    requests, the Bot API's and PostgreSQL's sockets; it costs about a third less CPU per
    PostgreSQL round trip than asyncio's loop (asyncpg is written for it) and does the
    same for every other socket."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return None
    return uvloop.new_event_loop


def run_served(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` (serve(), below) to completion in a new event loop, as asyncio.run does."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)


async def serve(
    app: FeedbotApplication,
    settings: Settings,
    *,
    webhook: bool,
    providers: Sequence[RouteProvider] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then drain: stop accepting requests, let the updates
    being applied finish, stop the Application (its post_shutdown closes the database).

    As PTB's custom-webhook examples do: the Application is started by hand (with its
    post_init and post_shutdown, which run_polling would call) and uvicorn runs as a task
    of the same loop."""
    if webhook:
        url, secret, address = settings.webhook()
    else:
        found = settings.listen_address()
        assert found is not None, "polling with a server needs FEEDBOT_LISTEN"
        url, secret, address = "", "", found
    sock = bind(*address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.initialize()
        try:
            if app.post_init is not None:
                await app.post_init(app)
            await _run(app, settings, sock, stop, webhook, url, secret, providers)
        finally:
            await app.shutdown()
            if app.post_shutdown is not None:
                await app.post_shutdown(app)
    finally:
        sock.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _run(
    app: FeedbotApplication,
    settings: Settings,
    sock: Any,
    stop: asyncio.Event,
    webhook: bool,
    url: str,
    secret: str,
    providers: Sequence[RouteProvider] | None,
) -> None:
    services = app.services
    routes: list[BaseRoute] = list(health_routes(database_check(services.db)))
    worker: InboxWorker | None = None
    if webhook:
        worker = InboxWorker(app, services.db, lease=settings.inbox_lease, clock=services.now)
        receiver = InboxReceiver(services.db, services.now, worker)
        routes += webhook_routes(urlsplit(url).path or "/", secret, receiver)
    for provider in route_providers(settings) if providers is None else providers:
        routes += provider(app)
    server = WebServer(build_asgi(routes, services), sock)
    await app.start()
    try:
        if worker is not None:
            worker.start()  # updates stored by an earlier run are applied first
        await server.start()
        if webhook:
            await app.bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
                max_connections=settings.webhook_max_connections,
                drop_pending_updates=False,
            )
            log.info("webhook registered; updates go through the inbox")
        else:
            assert app.updater is not None
            await app.updater.start_polling(
                allowed_updates=Update.ALL_TYPES, drop_pending_updates=False
            )
        await _until_stopped(stop, server)
        log.info("stopping: no new requests, finishing the updates in progress")
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await server.stop()
        if worker is not None:
            await worker.stop()
    finally:
        if app.running:
            await app.stop()
            if app.post_stop is not None:
                await app.post_stop(app)
    log.info("stopped")


async def _until_stopped(stop: asyncio.Event, server: WebServer) -> None:
    """Wait for the signal (uvicorn, catching the same signal, may stop serving first)."""
    while not stop.is_set() and not server.stopped:
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass
