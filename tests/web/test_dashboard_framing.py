"""The dashboard framed by Telegram Web: the cookie of each sign-in flow, frame-ancestors,
and every POST refused from another origin (a Mini App's cookie is SameSite=None)."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from bot.web.dashboard import dashboard_routes
from storage import dashboard as dashboard_repo
from tests.web.support import ADMIN, OWNER, World, init_data

HTTPS = "https://feedbot.example"
HTTP = "http://127.0.0.1:8080"
FOREIGN = "https://evil.example"
# Every POST endpoint of the dashboard; the first test keeps this list complete.
POSTS = [
    "/dashboard/auth",
    "/dashboard/login/{token}",
    "/dashboard/logout",
    "/dashboard/lang",
    "/dashboard/admin/invites",
    "/dashboard/admin/invites/{invite_id}/revoke",
]


def _client(world: World, base: str) -> httpx.AsyncClient:
    world.services.settings = world.services.settings.model_copy(update={"public_url": base})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url=base)


async def _link(world: World, user: int) -> str:
    async with world.services.db.transaction() as conn:
        return await dashboard_repo.create_link(
            conn, world.services.secret, user, now=world.services.now()
        )


def _attributes(set_cookie: str) -> dict[str, str]:
    pairs = [part.strip().partition("=") for part in set_cookie.split(";")[1:]]
    return {name.lower(): value.lower() for name, _, value in pairs}


def test_the_list_of_posts_is_every_post_route(world: World) -> None:
    found = {
        r.path
        for r in dashboard_routes(world.services)
        if isinstance(r, Route) and r.methods is not None and "POST" in r.methods
    }
    assert found == set(POSTS)


@pytest.mark.parametrize("base", [HTTPS, HTTP])
async def test_initdata_cookie_works_in_a_cross_site_frame(world: World, base: str) -> None:
    async with _client(world, base) as http:
        response = await http.post(
            "/dashboard/auth", data={"init_data": init_data(OWNER)}, headers={"origin": base}
        )
    assert response.status_code == 204
    flags = _attributes(response.headers["set-cookie"])
    # Secure over http too: only localhost and 127.0.0.1 may be http, which browsers
    # count as secure contexts (the browser test checks that Chromium keeps it).
    assert flags["samesite"] == "none"
    assert {"secure", "partitioned", "httponly"} <= flags.keys()
    assert flags["path"] == "/dashboard" and int(flags["max-age"]) > 0


@pytest.mark.parametrize(("base", "secure"), [(HTTPS, True), (HTTP, False)])
async def test_login_link_cookie_stays_strict(world: World, base: str, secure: bool) -> None:
    token = await _link(world, OWNER)
    async with _client(world, base) as http:
        response = await http.post(f"/dashboard/login/{token}", headers={"origin": base})
    assert response.status_code == 303
    flags = _attributes(response.headers["set-cookie"])
    assert flags["samesite"] == "strict" and "httponly" in flags
    assert "partitioned" not in flags
    assert ("secure" in flags) is secure


async def test_frame_ancestors_allow_telegram_but_not_on_login_pages(world: World) -> None:
    token = await _link(world, OWNER)
    async with _client(world, HTTPS) as http:
        signed_out = await http.get("/dashboard/")  # the Mini App's first page
        login = await http.get(f"/dashboard/login/{token}")
        opened = await http.post(f"/dashboard/login/{token}", headers={"origin": HTTPS})
        home = await http.get("/dashboard/")
        subject = await http.get("/dashboard/s/sales")
    for response in (signed_out, home, subject):
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org" in csp
        assert "http://" not in csp  # the local stand-ins are for an http public URL only
        assert "x-frame-options" not in response.headers
    assert home.status_code == 200 and subject.status_code == 200
    for response in (login, opened):
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_every_post_from_another_origin_is_refused(world: World) -> None:
    async with _client(world, HTTPS) as http:
        auth = await http.post(
            "/dashboard/auth", data={"init_data": init_data(ADMIN)}, headers={"origin": HTTPS}
        )
        assert auth.status_code == 204
        created = await http.post(
            "/dashboard/admin/invites", data={"target": "product:kettle"}, headers={"origin": HTTPS}
        )
        assert created.status_code == 200
        token = await _link(world, OWNER)
        attempts = {
            "/dashboard/auth": {"init_data": init_data(OWNER)},
            f"/dashboard/login/{token}": {},
            "/dashboard/logout": {},
            "/dashboard/lang": {"lang": "pl", "next": "/dashboard/"},
            "/dashboard/admin/invites": {"target": "product:kettle"},
            "/dashboard/admin/invites/1/revoke": {},
        }
        assert len(attempts) == len(POSTS)
        foreign_headers = [
            {"origin": FOREIGN},
            {"origin": "null"},
            {"origin": HTTPS, "sec-fetch-site": "cross-site"},  # a lying Origin is not enough
            {"sec-fetch-site": "same-site"},  # a sibling subdomain is another site's page
        ]
        for path, form in attempts.items():
            for headers in foreign_headers:
                response = await http.post(path, data=form, headers=headers)
                assert response.status_code in (401, 403), (path, headers)
                assert "set-cookie" not in response.headers, (path, headers)
        # Nothing changed: still signed in, in English, one invite, unrevoked, link unused.
        home = await http.get("/dashboard/admin/invites")
        assert home.status_code == 200 and 'lang="en"' in home.text
        async with world.services.db.conn.execute("SELECT COUNT(*) FROM invites") as cur:
            count = await cur.fetchone()
            assert count is not None and count[0] == 1
        async with world.services.db.conn.execute("SELECT revoked_at FROM invites") as cur:
            revoked = await cur.fetchone()
            assert revoked is not None and revoked[0] is None
        same = await http.post(
            f"/dashboard/login/{token}", headers={"origin": HTTPS, "sec-fetch-site": "same-origin"}
        )
        assert same.status_code == 303


async def test_logout_clears_the_partitioned_cookie_too(world: World) -> None:
    async with _client(world, HTTPS) as http:
        opened = await http.post(
            "/dashboard/auth", data={"init_data": init_data(OWNER)}, headers={"origin": HTTPS}
        )
        assert opened.status_code == 204
        out = await http.post("/dashboard/logout", headers={"origin": HTTPS})
        assert out.status_code == 303
        cleared = [_attributes(c) for c in out.headers.get_list("set-cookie")]
        assert any("partitioned" in c and c["max-age"] == "0" for c in cleared)
        assert (await http.get("/dashboard/")).status_code == 401
