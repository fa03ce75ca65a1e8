"""The one ASGI app (Starlette) of the bot, serving the webhook, /healthz and the
dashboard, and the uvicorn server running it in the bot's own event loop."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.config import Settings
from bot.context import FeedbotApplication
from bot.services import Services
from bot.web.dashboard import dashboard_routes

log = logging.getLogger(__name__)

# A feature that serves HTTP gives a function from the Application to its routes.
RouteProvider = Callable[[FeedbotApplication], Sequence[BaseRoute]]

# How long stopping waits for requests in progress (a webhook storing its update).
GRACEFUL_SECONDS = 10


def route_providers(settings: Settings) -> list[RouteProvider]:
    """Routes served besides the webhook and /healthz: the dashboard when it is on
    (FEEDBOT_PUBLIC_URL); other features that serve pages add their provider here."""
    providers: list[RouteProvider] = []
    if settings.dashboard_on:
        providers.append(_dashboard)
    return providers


def _dashboard(app: FeedbotApplication) -> Sequence[BaseRoute]:
    return dashboard_routes(app.services)


def build_asgi(routes: Sequence[BaseRoute], services: Services | None = None) -> Starlette:
    """The ASGI app serving `routes` (no lifespan: the bot's runner starts and stops all);
    `services` is kept in `app.state` for routes that look it up there."""
    app = Starlette(routes=list(routes))
    if services is not None:
        app.state.services = services
    return app


def build_asgi_app(services: Services, routes: Sequence[BaseRoute]) -> Starlette:
    """One Starlette app serving `routes` (e.g. `dashboard_routes(services)`)."""
    return build_asgi(routes, services)


class ListenError(Exception):
    """FEEDBOT_LISTEN cannot be bound (the port is taken, the address is not this host's)."""


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts: a port in use is one line at
    start-up, not a message from inside the server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class WebServer:
    """uvicorn serving an ASGI app on an already bound socket, as a task of this loop."""

    def __init__(self, app: Starlette, sock: socket.socket) -> None:
        config = uvicorn.Config(
            app,
            # Our logging config stays: uvicorn's loggers propagate to it.
            log_config=None,
            # The access log would print the webhook's path; our handlers log what matters.
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        """Serve in the background; returns once requests are accepted."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]), name="http")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        host, port = self.address
        log.info("serving HTTP on %s:%s", host, port)

    async def stop(self) -> None:
        """Stop accepting connections and wait for the requests in progress."""
        task = self._task
        if task is None:
            return
        self._server.should_exit = True
        await task
        self._task = None
        self._sock.close()

    @property
    def stopped(self) -> bool:
        """Whether the server has stopped serving (e.g. uvicorn caught the signal itself)."""
        return self._task is not None and self._task.done()
