"""The ASGI app the dashboard's routes are served by (the webhook's server shares it).

A minimal stand-in until the bot's own web server lands: the lead reconciles it with
that one's app; the dashboard only needs its routes mounted (`dashboard_routes`).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.services import Services


def build_asgi_app(services: Services, routes: Sequence[BaseRoute]) -> Starlette:
    """One Starlette app serving `routes` (e.g. `dashboard_routes(services)`)."""
    app = Starlette(routes=list(routes))
    app.state.services = services
    return app
