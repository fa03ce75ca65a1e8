"""The dashboard's test world: a database with owners, answers and signed-in clients."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from PIL import Image
from starlette.applications import Starlette

from bot.config import Settings
from bot.services import Services
from bot.web import initdata
from bot.web.dashboard import dashboard_routes
from bot.web.server import build_asgi_app
from storage import dashboard as dashboard_repo
from storage.db import Database
from storage.models import Subject, SubjectKind
from storage.owners import add_owner
from storage.subjects import add_subject
from surveys.loader import SurveyCatalog
from tests.digest.digest_support import NOW, Respond, internal_answers

TOKEN = "123456:TEST-token-of-the-dashboard-bot"
OTHER_TOKEN = "654321:another-bot-entirely"
OWNER = 111  # owns sales (shown) and ops (below the threshold)
OTHER_OWNER = 222  # owns the kettle only
ADMIN = 999
BASE_URL = "http://127.0.0.1:8080"
TREND_WEEKS = (("2026-W42", 2), ("2026-W43", 3), ("2026-W44", 3), ("2026-W45", 2))
DOTS = 2 + len(TREND_WEEKS)  # W47, W48 and these


def is_dark(image: Image.Image, xy: tuple[int, int]) -> bool:
    """Whether a pixel of a greyscale ("L") image is dark: a QR code's module is."""
    value = image.getpixel(xy)
    assert isinstance(value, int), image.mode  # one 8-bit band
    return value < 128


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "secret": "a-test-secret-of-enough-length",
        "admins": frozenset({ADMIN}),
        "public_url": BASE_URL,
        "timezone": "UTC",
        "bot_username": "feedbot_test_bot",
    }
    values.update(overrides)
    # _env_file is pydantic-settings' init argument, not a field of the model mypy sees.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class World:
    services: Services
    app: Starlette
    subjects: dict[str, Subject]


async def make_world(db: Database) -> World:
    services = Services(settings(), db, SurveyCatalog.load(), clock=lambda: NOW)
    found: dict[str, Subject] = {}
    specs = [
        ("sales", SubjectKind.DEPARTMENT, {"pl": "Sprzedaż", "en": "Sales"}, "internal"),
        ("ops", SubjectKind.DEPARTMENT, {"pl": "Operacje", "en": "Operations"}, "internal"),
        ("kettle", SubjectKind.PRODUCT, {"pl": "Czajnik", "en": "Kettle"}, "external"),
    ]
    async with db.transaction() as conn:
        for slug, kind, names, survey in specs:
            found[slug] = await add_subject(
                conn,
                slug=slug,
                kind=kind,
                names=names,
                survey_id=survey,
                now=NOW - timedelta(days=400),
            )
        for slug in ("sales", "ops"):
            await add_owner(conn, OWNER, found[slug].id, now=NOW)
        await add_owner(conn, OTHER_OWNER, found["kettle"].id, now=NOW)
    respond = Respond(db)
    # Sales: 6 answers in the last closed week (W48), 5 the week before: shown.
    await respond(found["sales"], internal_answers(4, text="Faster replies <please>"), times=3)
    await respond(found["sales"], internal_answers(5), times=3)
    await respond(found["sales"], internal_answers(3), week="2026-W47", times=3)
    await respond(found["sales"], internal_answers(4), week="2026-W47", times=2)
    for week, low in TREND_WEEKS:  # a longer trend, each week shown on its own
        await respond(found["sales"], internal_answers(low), week=week, times=3)
        await respond(found["sales"], internal_answers(low + 1), week=week, times=2)
    # Ops: 2 answers in W48, below the threshold of 5; W48's block is still open.
    await respond(found["ops"], internal_answers(2, text="a secret"), times=2)
    await respond(
        found["kettle"], {"nps": 9, "csat": 4, "effort": 6, "nps_promoter": "Great kettle"}, times=2
    )
    app = build_asgi_app(services, dashboard_routes(services))
    return World(services, app, found)


def init_data(
    user_id: int, *, token: str = TOKEN, age: timedelta = timedelta(minutes=1), lang: str = "en"
) -> str:
    """initData as Telegram signs it for the Mini App."""
    fields = {
        "query_id": "AAE-test",
        "user": json.dumps(
            {"id": user_id, "first_name": "Ann", "language_code": lang}, separators=(",", ":")
        ),
        "auth_date": str(int((NOW - age).timestamp())),
    }
    fields["hash"] = initdata.sign(fields, token)
    return urlencode(fields)


def client(world: World) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url=BASE_URL)


async def signed_in(world: World, user_id: int) -> httpx.AsyncClient:
    """A client with a session opened by a login link."""
    async with world.services.db.transaction() as conn:
        token = await dashboard_repo.create_link(
            conn, world.services.secret, user_id, now=world.services.now()
        )
    async with client(world) as first:
        response = await first.post(f"/dashboard/login/{token}")
        assert response.status_code == 303, response.text
        cookies = first.cookies
    http = client(world)
    http.cookies = cookies
    return http
