"""Who is looking: the dashboard's session cookie, and signing in by initData or login link."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from bot.i18n import normalize_language
from bot.services import Services
from storage import dashboard as dashboard_repo
from storage import users as user_repo

COOKIE = "feedbot_dashboard"
BASE = "/dashboard"


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in user of the dashboard."""

    telegram_id: int
    lang: str
    admin: bool
    token: str


async def viewer_of(services: Services, request: Request) -> Viewer | None:
    """The signed-in user of a request (None: no cookie, or a session unknown or expired)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    session = await dashboard_repo.get_session(
        services.db.conn, services.secret, token, now=services.now()
    )
    if session is None:
        return None
    lang = session.lang
    if lang is None:
        user = await user_repo.get_user(services.db.conn, session.telegram_id)
        lang = user.lang if user is not None else None
    return Viewer(
        session.telegram_id,
        normalize_language(lang),
        services.is_admin(session.telegram_id),
        token,
    )


async def sign_in(
    services: Services, response: Response, telegram_id: int, hint: str | None
) -> None:
    """Open a server-side session and set its cookie: HttpOnly (no script reads it),
    SameSite=Strict (no other site's page or form sends it), Secure over https, and
    expiring with the session itself. The language: the user's /lang, else Telegram's."""
    user = await user_repo.get_user(services.db.conn, telegram_id)
    lang = normalize_language(user.lang if user is not None and user.lang else hint)
    async with services.db.transaction() as conn:
        token = await dashboard_repo.create_session(
            conn, services.secret, telegram_id, lang=lang, now=services.now()
        )
    public = services.settings.public_url or ""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(dashboard_repo.SESSION_LIFETIME.total_seconds()),
        path=BASE,
        secure=public.startswith("https://"),
        httponly=True,
        samesite="strict",
    )


def same_origin(request: Request) -> bool:
    """A form post from our own pages: no Origin header (older clients) or ours. The
    SameSite=Strict cookie already keeps other sites' posts signed out; this is a second lock."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin == own


async def form_fields(request: Request, *, limit: int = 16_384) -> dict[str, str]:
    """An urlencoded form's fields (our forms are small; a bigger body reads as empty).
    Parsed here so the dashboard needs no multipart parser."""
    body = await request.body()
    if len(body) > limit:
        return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return {}
