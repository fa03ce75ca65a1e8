"""The admin's pages of the dashboard: invites (with use counts, create with a QR code,
revoke) and owners with their digest settings. FEEDBOT_ADMINS only (403 otherwise)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.i18n import plain
from bot.services import Services
from bot.web import qr
from bot.web.auth import BASE, Viewer, form_fields
from bot.web.pages import local_time
from domain import invites as invite_rules
from storage import invites as invite_repo
from storage import owners as owner_repo
from storage import subjects as subject_repo
from storage.models import SubjectKind

Handler = Callable[[Request, Viewer], Awaitable[Response]]
Guard = Callable[[Handler], Callable[[Request], Awaitable[Response]]]


def admin_routes(services: Services, guard: Guard, page: Any, message: Any) -> list[BaseRoute]:
    """/dashboard/admin/...: each behind the session check and FEEDBOT_ADMINS."""

    def admin_only(handler: Handler) -> Handler:
        async def checked(request: Request, viewer: Viewer) -> Response:
            if not viewer.admin:
                return message(
                    services, request, viewer.lang, "dashboard.forbidden", 403, viewer=viewer
                )
            return await handler(request, viewer)

        return checked

    async def invites_page(
        request: Request, viewer: Viewer, created: dict[str, Any] | None = None
    ) -> Response:
        lang = viewer.lang
        now = services.now()
        conn = services.db.conn
        subjects = await subject_repo.list_subjects(conn)
        everything = {
            s.id: s for s in await subject_repo.list_subjects(conn, include_archived=True)
        }
        rows = []
        for invite in await invite_repo.list_invites(conn, include_inactive=True, now=now):
            subject = everything.get(invite.subject_id) if invite.subject_id else None
            problem = invite.problem(now)
            state = "revoked" if invite.revoked_at else problem.value if problem else "active"
            state_key = f"dashboard.state_{state}"
            limit = (
                plain(lang, "dashboard.invite_unlimited")
                if invite.max_uses is None
                else str(invite.max_uses)
            )
            rows.append(
                {
                    "id": invite.id,
                    "prefix": invite.prefix,
                    "kind": invite.kind.value,
                    "target": subject.name(lang)
                    if subject
                    else (invite.role.value if invite.role else "—"),
                    "uses": f"{invite.uses}/{limit}",
                    "expires": local_time(invite.expires_at, services.settings.tz, lang),
                    "state": plain(lang, state_key)
                    if state in ("active", "revoked", "expired", "used_up")
                    else state,
                    "active": problem is None,
                }
            )
        return page(
            services,
            request,
            "invites",
            lang,
            viewer=viewer,
            invites=rows,
            subjects=subjects,
            created=created,
        )

    async def invites_get(request: Request, viewer: Viewer) -> Response:
        return await invites_page(request, viewer)

    async def invites_post(request: Request, viewer: Viewer) -> Response:
        """Create an invite: a buyer link for a product, an employee link for a department
        (as `/invite` in chat); its link and QR code are shown once, for printing."""
        form = await form_fields(request)
        target = form.get("target")
        kind_text, _, slug = (target if isinstance(target, str) else "").partition(":")
        subject = await subject_repo.get_subject(services.db.conn, slug) if slug else None
        if subject is None or subject.archived or subject.kind.value != kind_text:
            return message(
                services, request, viewer.lang, "dashboard.not_found", 404, viewer=viewer
            )
        kind = invite_rules.invite_for(subject.kind)
        async with services.db.transaction() as conn:
            _, token = await invite_repo.create_invite(
                conn,
                services.secret,
                kind=kind,
                subject_id=subject.id,
                role=None,
                max_uses=invite_rules.default_max_uses(kind),
                expires_at=None,
                created_by=viewer.telegram_id,
                now=services.now(),
            )
        link = services.invite_link(token)
        created = {"link": link, "qr": qr.svg_markup(link, subject.name(viewer.lang))}
        return await invites_page(request, viewer, created)

    async def revoke(request: Request, viewer: Viewer) -> Response:
        try:
            invite_id = int(request.path_params["invite_id"])
        except ValueError:
            invite_id = -1
        async with services.db.transaction() as conn:
            done = await invite_repo.revoke_invite_by_id(conn, invite_id, now=services.now())
        if not done:
            return message(
                services, request, viewer.lang, "dashboard.not_found", 404, viewer=viewer
            )
        return RedirectResponse(f"{BASE}/admin/invites", status_code=303)

    async def owners(request: Request, viewer: Viewer) -> Response:
        lang = viewer.lang
        conn = services.db.conn
        rows = []
        for owner, subject in await owner_repo.list_owners(conn):
            if subject.archived:
                continue
            settings = await owner_repo.get_owner_settings(
                conn, owner.telegram_id, default_timezone=services.settings.timezone
            )
            state = "inactive" if not settings.active else "paused" if settings.paused else "on"
            rows.append(
                {
                    "owner": owner.telegram_id,
                    "subject": subject.name(lang),
                    "when": f"{plain(lang, f'delivery.settings.day_short_{settings.weekday}')} "
                    f"{settings.hour:02d}:00 {settings.timezone}",
                    "state": plain(lang, f"dashboard.digest_state_{state}"),
                    "alerts": plain(
                        lang, f"dashboard.alerts_{'on' if settings.detractor_alerts else 'off'}"
                    )
                    if subject.kind is SubjectKind.PRODUCT
                    else "—",
                }
            )
        return page(services, request, "owners", lang, viewer=viewer, rows=rows)

    return [
        Route(f"{BASE}/admin/invites", guard(admin_only(invites_get))),
        Route(f"{BASE}/admin/invites", guard(admin_only(invites_post)), methods=["POST"]),
        Route(
            f"{BASE}/admin/invites/{{invite_id}}/revoke",
            guard(admin_only(revoke)),
            methods=["POST"],
        ),
        Route(f"{BASE}/admin/owners", guard(admin_only(owners))),
    ]
