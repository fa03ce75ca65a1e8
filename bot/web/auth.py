"""Who is looking: the dashboard's session cookie, and signing in by initData or login link."""

from __future__ import annotations

import http.cookies
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
    services: Services,
    response: Response,
    telegram_id: int,
    hint: str | None,
    *,
    framed: bool = False,
) -> None:
    """Open a server-side session and set its cookie (HttpOnly: no script reads it; expiring
    with the session itself). The language: the user's /lang, else Telegram's.

    A login link's session (`framed` False) gets SameSite=Strict, Secure over https: no
    other site's page or form sends it. A Mini App's session (initData, `framed` True) must
    also work where Telegram Web frames the page from another site, where a Strict or Lax
    cookie is never sent: SameSite=None; Secure; Partitioned (CHIPS), so the cookie lives
    in a jar of that one top-level site only and cannot follow the user anywhere else.
    Secure is set even over http, which the settings allow only for localhost and
    127.0.0.1: browsers count those as secure contexts and keep Secure cookies from them.
    Cross-site posts stay refused by `same_origin` on every POST."""
    user = await user_repo.get_user(services.db.conn, telegram_id)
    lang = normalize_language(user.lang if user is not None and user.lang else hint)
    async with services.db.transaction() as conn:
        token = await dashboard_repo.create_session(
            conn, services.secret, telegram_id, lang=lang, now=services.now()
        )
    max_age = int(dashboard_repo.SESSION_LIFETIME.total_seconds())
    if framed:
        response.headers.append("set-cookie", framed_cookie(token, max_age))
        return
    public = services.settings.public_url or ""
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path=BASE,
        secure=public.startswith("https://"),
        httponly=True,
        samesite="strict",
    )


def sign_out(response: Response) -> None:
    """Clear the cookie of either kind (a partitioned cookie is cleared only by a
    partitioned Set-Cookie); the session itself is deleted on the server."""
    response.delete_cookie(COOKIE, path=BASE, httponly=True, samesite="strict")
    response.headers.append("set-cookie", framed_cookie("", 0))


def framed_cookie(token: str, max_age: int) -> str:
    """The Set-Cookie value of a Mini App session (see `sign_in`). Written here because
    Python's http.cookies learns the Partitioned attribute only in 3.14."""
    cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    cookie[COOKIE] = token
    cookie[COOKIE]["max-age"] = max_age
    cookie[COOKIE]["path"] = BASE
    cookie[COOKIE]["secure"] = True
    cookie[COOKIE]["httponly"] = True
    cookie[COOKIE]["samesite"] = "None"
    return f"{cookie.output(header='').strip()}; Partitioned"


def same_origin(request: Request) -> bool:
    """A post from our own pages, checked on every POST: the browser's Sec-Fetch-Site, when
    sent, says same-origin (or none: typed by the user), and Origin is absent (older
    clients) or ours. A Mini App's cookie is SameSite=None, so for its sessions this is
    the lock that keeps another site's forms out."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
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
