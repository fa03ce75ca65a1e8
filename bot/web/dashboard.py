"""The dashboard's routes (Starlette): sign-in, subjects, trend, CSV, and the admin's pages.

`dashboard_routes(services)` is mounted into the bot's one ASGI app. Every page but the
sign-in ones needs a session (401 otherwise); a subject's pages need its ownership or
FEEDBOT_ADMINS (403); the numbers come from the digest's own code and gates (bot.web.data).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.i18n import LANGUAGES, normalize_language, t
from bot.services import Services
from bot.web import initdata
from bot.web.admin_pages import admin_routes
from bot.web.auth import (
    BASE,
    Viewer,
    form_fields,
    same_origin,
    sign_in,
    sign_out,
    viewer_of,
)
from bot.web.data import TREND_LENGTHS, may_see, subject_digest, subject_view, visible_subjects
from bot.web.export import export_response
from bot.web.pages import interval_text, render, score_text, subject_page
from storage import dashboard as dashboard_repo
from storage import subjects as subject_repo
from storage.models import MemberRole, SubjectKind

log = logging.getLogger(__name__)

Handler = Callable[[Request, Viewer], Awaitable[Response]]
# The page's own CSS and JS only: no request may leave for another host.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors "
)
# Who may frame the Mini App's pages: Telegram's web clients (web.telegram.org frames
# them from another site). The login-link pages are for a browser tab: nobody frames them.
TELEGRAM_FRAMERS = "'self' https://web.telegram.org https://*.telegram.org"
UNFRAMED = "'none'"
# Over http (allowed for localhost and 127.0.0.1 only: development and tests) a local page
# may stand in for Telegram Web.
LOCAL_FRAMERS = "http://localhost:* http://127.0.0.1:*"


def framers(services: Services) -> str:
    """The frame-ancestors of the Mini App's pages under this public URL."""
    public = services.settings.public_url or ""
    if public.startswith("http://"):
        return f"{TELEGRAM_FRAMERS} {LOCAL_FRAMERS}"
    return TELEGRAM_FRAMERS


def page(
    services: Services,
    request: Request,
    template: str,
    lang: str,
    *,
    status: int = 200,
    viewer: Viewer | None = None,
    framed: bool = True,
    **context: object,
) -> HTMLResponse:
    """A rendered page with the headers every dashboard response carries; `framed`: the
    Mini App's page, which Telegram's web clients may frame."""
    html = render(template, lang, base=BASE, viewer=viewer, here=_here(request), **context)
    ancestors = framers(services) if framed else UNFRAMED
    return secured(HTMLResponse(html, status_code=status), ancestors)


R = TypeVar("R", bound=Response)


def secured(response: R, ancestors: str = TELEGRAM_FRAMERS) -> R:
    """The response with the headers every dashboard response carries."""
    response.headers["Content-Security-Policy"] = CSP + ancestors
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"  # no-referrer would send Origin: null
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{request.url.path}{query}"


def message(
    services: Services,
    request: Request,
    lang: str,
    key: str,
    status: int,
    *,
    viewer: Viewer | None = None,
    login: bool = False,
    form_action: str | None = None,
    framed: bool = True,
) -> HTMLResponse:
    heading = t(lang, "dashboard.signed_out_title" if status == 401 else "dashboard.title")
    return page(
        services,
        request,
        "message",
        lang,
        status=status,
        viewer=viewer,
        heading=heading,
        text=t(lang, key),
        login=login,
        form_action=form_action,
        framed=framed,
    )


def _guess_lang(request: Request) -> str:
    accept = request.headers.get("accept-language", "")
    return normalize_language(accept.split(",")[0].strip() or None)


def signed_in(services: Services, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint behind the session check: 401 (with the Mini App sign-in) without one,
    403 for a cross-site form post."""

    async def endpoint(request: Request) -> Response:
        viewer = await viewer_of(services, request)
        if viewer is None:
            return message(
                services,
                request,
                _guess_lang(request),
                "dashboard.signed_out",
                401,
                login=request.method == "GET",
            )
        if request.method == "POST" and not same_origin(request):
            return message(
                services, request, viewer.lang, "dashboard.forbidden", 403, viewer=viewer
            )
        return await handler(request, viewer)

    return endpoint


def dashboard_routes(services: Services) -> list[BaseRoute]:
    """Every route of the dashboard, under /dashboard."""
    bot_token = services.settings.token.get_secret_value() if services.settings.token else ""

    async def auth(request: Request) -> Response:
        """POST initData from the Mini App: a session when Telegram's signature holds."""
        if not same_origin(request):
            return message(services, request, _guess_lang(request), "dashboard.auth_failed", 401)
        form = await form_fields(request)
        raw = form.get("init_data")
        try:
            if not bot_token or not isinstance(raw, str):
                raise initdata.InitDataError("no bot token or no initData")
            user = initdata.verify(raw, bot_token, now=services.now())
        except initdata.InitDataError as exc:
            log.info("dashboard sign-in refused: %s", exc)
            return message(services, request, _guess_lang(request), "dashboard.auth_failed", 401)
        response = secured(Response(status_code=204))
        await sign_in(services, response, user.id, user.language_code, framed=True)
        return response

    async def login_page(request: Request) -> Response:
        """GET a one-time login link: a page whose button (pressed by our script at once)
        posts it back. Only the POST uses the link up, so a link preview or a mail scanner
        fetching it cannot; and a cookie set in answer to a post from our own page is sent
        on the way on (a SameSite=Strict cookie set while following a link from elsewhere
        would not be)."""
        lang = _guess_lang(request)
        action = f"{BASE}/login/{request.path_params['token']}"
        return message(
            services, request, lang, "dashboard.login", 200, form_action=action, framed=False
        )

    async def login(request: Request) -> Response:
        """POST a one-time login link: a session, then on to the dashboard."""
        lang = _guess_lang(request)
        if not same_origin(request):
            return message(services, request, lang, "dashboard.link_bad", 401, framed=False)
        async with services.db.transaction() as conn:
            telegram_id = await dashboard_repo.redeem_link(
                conn, services.secret, request.path_params["token"], now=services.now()
            )
        if telegram_id is None:
            return message(services, request, lang, "dashboard.link_bad", 401, framed=False)
        response = secured(RedirectResponse(f"{BASE}/", status_code=303), UNFRAMED)
        await sign_in(services, response, telegram_id, lang)
        return response

    async def logout(request: Request, viewer: Viewer) -> Response:
        async with services.db.transaction() as conn:
            await dashboard_repo.end_session(conn, services.secret, viewer.token)
        response = secured(RedirectResponse(f"{BASE}/", status_code=303))
        sign_out(response)
        return response

    async def language(request: Request, viewer: Viewer) -> Response:
        form = await form_fields(request)
        lang = form.get("lang")
        target = form.get("next")
        if isinstance(lang, str) and lang in LANGUAGES:
            async with services.db.transaction() as conn:
                await dashboard_repo.set_session_language(conn, services.secret, viewer.token, lang)
        path = target if isinstance(target, str) else f"{BASE}/"
        parts = urlsplit(path)
        if parts.scheme or parts.netloc or not parts.path.startswith(f"{BASE}/"):
            path = f"{BASE}/"  # never a redirect elsewhere
        return secured(RedirectResponse(path, status_code=303))

    async def home(request: Request, viewer: Viewer) -> Response:
        lang = viewer.lang
        subjects = await visible_subjects(services, viewer.telegram_id)
        rows: list[dict[str, Any]] = []
        for subject in subjects:
            digest = await subject_digest(services, subject)
            headline = digest.headline
            kind = digest.headline_kind or "mean"
            roles = [
                f"{t(lang, f'dashboard.role_{r.role}')}: {score_text(r.headline, kind, lang)}"
                for r in digest.roles
                if r.headline is not None and r.role in tuple(MemberRole)
            ]
            rows.append(
                {
                    "subject": subject,
                    "name": subject.name(lang),
                    "period": digest.period.key,
                    "headline": score_text(headline.estimate, headline.kind, lang)
                    if headline
                    else None,
                    "interval": interval_text(headline.estimate, headline.kind, lang)
                    if headline
                    else "",
                    "sort": (headline.kind.value, headline.estimate.value) if headline else None,
                    "completed": digest.counts.completed,
                    "roles": roles,
                    "lowest": False,
                }
            )
        # "Rated lowest": among the departments shown, comparable scores only (one kind).
        shown = [
            r for r in rows if r["sort"] is not None and r["subject"].kind is SubjectKind.DEPARTMENT
        ]
        if len(shown) >= 2:
            min(shown, key=lambda r: r["sort"][1])["lowest"] = True
        return page(services, request, "home", lang, viewer=viewer, rows=rows, admin=viewer.admin)

    async def subject(request: Request, viewer: Viewer) -> Response:
        found = await _subject_for(request, viewer)
        if isinstance(found, Response):
            return found
        try:
            weeks = int(request.query_params.get("weeks", TREND_LENGTHS[0]))
        except ValueError:
            weeks = TREND_LENGTHS[0]
        if weeks not in TREND_LENGTHS:
            weeks = TREND_LENGTHS[0]
        view = await subject_view(services, found, weeks)
        context = subject_page(view, viewer.lang, weeks=weeks, lengths=TREND_LENGTHS)
        context["threshold"] = services.settings.anonymity_min
        return page(services, request, "subject", viewer.lang, viewer=viewer, **context)

    async def export(request: Request, viewer: Viewer) -> Response:
        found = await _subject_for(request, viewer)
        if isinstance(found, Response):
            return found
        response = await export_response(services, found, viewer.lang)
        if response is None:
            return message(
                services, request, viewer.lang, "dashboard.csv_nothing", 404, viewer=viewer
            )
        return secured(response)

    async def _subject_for(request: Request, viewer: Viewer) -> subject_repo.Subject | Response:
        slug = request.path_params["slug"]
        found = await subject_repo.get_subject(services.db.conn, slug)
        if found is None or found.archived:
            return message(
                services, request, viewer.lang, "dashboard.not_found", 404, viewer=viewer
            )
        if not await may_see(services, viewer.telegram_id, found):
            return message(
                services, request, viewer.lang, "dashboard.forbidden", 403, viewer=viewer
            )
        return found

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        types = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
        if name not in types:
            return Response(status_code=404)
        body = (resources.files("bot.web") / "static" / name).read_bytes()
        response = Response(body, media_type=types[name])
        response.headers["Cache-Control"] = "max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def guard(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return signed_in(services, handler)

    return [
        Route(f"{BASE}/static/{{name}}", static),
        Route(f"{BASE}/auth", auth, methods=["POST"]),
        Route(f"{BASE}/login/{{token}}", login_page),
        Route(f"{BASE}/login/{{token}}", login, methods=["POST"]),
        Route(f"{BASE}/logout", guard(logout), methods=["POST"]),
        Route(f"{BASE}/lang", guard(language), methods=["POST"]),
        Route(f"{BASE}/", guard(home)),
        Route(f"{BASE}/s/{{slug}}", guard(subject)),
        Route(f"{BASE}/s/{{slug}}/export.csv", guard(export)),
        *admin_routes(services, guard, page, message),
    ]
