"""Every dashboard endpoint's access rules, through the ASGI app (httpx.ASGITransport)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.web.data import subject_digest
from bot.web.pages import score_text
from storage import dashboard as dashboard_repo
from tests.digest.digest_support import Respond
from tests.web.support import (
    ADMIN,
    DOTS,
    OTHER_OWNER,
    OTHER_TOKEN,
    OWNER,
    World,
    client,
    init_data,
    signed_in,
)

GETS = [
    "/dashboard/",
    "/dashboard/s/sales",
    "/dashboard/s/sales?weeks=52",
    "/dashboard/s/sales/export.csv",
    "/dashboard/admin/invites",
    "/dashboard/admin/owners",
]
POSTS = [
    "/dashboard/lang",
    "/dashboard/logout",
    "/dashboard/admin/invites",
    "/dashboard/admin/invites/1/revoke",
]


@pytest.mark.parametrize("path", GETS)
async def test_no_session_is_401_and_shows_no_numbers(world: World, path: str) -> None:
    async with client(world) as http:
        response = await http.get(path)
    assert response.status_code == 401
    assert "Sales" not in response.text and "Faster" not in response.text


@pytest.mark.parametrize("path", POSTS)
async def test_no_session_post_is_401_and_changes_nothing(world: World, path: str) -> None:
    async with client(world) as http:
        response = await http.post(path, data={"target": "product:kettle", "lang": "pl"})
    assert response.status_code == 401
    async with world.services.db.conn.execute("SELECT COUNT(*) FROM invites") as cur:
        count = await cur.fetchone()
        assert count is not None and count[0] == 0


async def test_a_forged_or_stale_cookie_is_401(world: World) -> None:
    async with client(world) as http:
        http.cookies.set("feedbot_dashboard", "made-up", path="/dashboard")
        assert (await http.get("/dashboard/")).status_code == 401
    http = await signed_in(world, OWNER)
    async with http:
        assert (await http.get("/dashboard/")).status_code == 200
        later = world.services.now() + dashboard_repo.SESSION_LIFETIME + timedelta(seconds=1)
        world.services.clock = lambda: later
        assert (await http.get("/dashboard/")).status_code == 401


@pytest.mark.parametrize("path", ["/dashboard/s/kettle", "/dashboard/s/kettle/export.csv"])
async def test_another_owners_subject_is_403(world: World, path: str) -> None:
    async with await signed_in(world, OWNER) as http:
        response = await http.get(path)
    assert response.status_code == 403
    assert "Great kettle" not in response.text


async def test_owner_sees_only_own_subjects_and_no_admin_pages(world: World) -> None:
    async with await signed_in(world, OTHER_OWNER) as http:
        home = await http.get("/dashboard/")
        assert home.status_code == 200
        assert "Kettle" in home.text and "Sales" not in home.text
        for path in ("/dashboard/admin/invites", "/dashboard/admin/owners"):
            assert (await http.get(path)).status_code == 403
        created = await http.post("/dashboard/admin/invites", data={"target": "product:kettle"})
        assert created.status_code == 403


async def test_initdata_signs_in_and_forged_expired_or_foreign_is_401(world: World) -> None:
    cases = {
        "forged": init_data(OWNER).replace("Ann", "Eve"),
        "another bot": init_data(OWNER, token=OTHER_TOKEN),
        "expired": init_data(OWNER, age=timedelta(days=1, minutes=1)),
        "missing": "",
    }
    for name, data in cases.items():
        async with client(world) as http:
            response = await http.post("/dashboard/auth", data={"init_data": data})
            assert response.status_code == 401, name
            assert "feedbot_dashboard" not in response.headers.get("set-cookie", ""), name
            assert (await http.get("/dashboard/")).status_code == 401, name
    async with client(world) as http:
        response = await http.post("/dashboard/auth", data={"init_data": init_data(OWNER)})
        assert response.status_code == 204
        cookie = response.headers["set-cookie"].lower()
        for flag in ("httponly", "samesite=none", "secure", "partitioned", "path=/dashboard"):
            assert flag in cookie  # a Mini App's session: framed by Telegram Web (see auth.py)
        # httpx keeps Secure cookies for https only; a browser counts 127.0.0.1 as secure.
        value = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        sent = {"cookie": f"feedbot_dashboard={value}"}
        assert (await http.get("/dashboard/s/sales", headers=sent)).status_code == 200


async def test_login_link_is_one_time(world: World) -> None:
    async with world.services.db.transaction() as conn:
        token = await dashboard_repo.create_link(
            conn, world.services.secret, OWNER, now=world.services.now()
        )
    async with client(world) as http:
        for _ in range(2):  # a link preview or a mail scanner fetching it uses nothing up
            page = await http.get(f"/dashboard/login/{token}")
            assert page.status_code == 200 and "set-cookie" not in page.headers
        foreign = await http.post(
            f"/dashboard/login/{token}", headers={"origin": "https://evil.example"}
        )
        assert foreign.status_code == 401
        assert (await http.post(f"/dashboard/login/{token}")).status_code == 303
        assert (await http.get("/dashboard/")).status_code == 200
    async with client(world) as http:
        assert (await http.post(f"/dashboard/login/{token}")).status_code == 401
        assert (await http.get("/dashboard/")).status_code == 401


async def test_login_link_expires_after_ten_minutes(world: World) -> None:
    async with world.services.db.transaction() as conn:
        token = await dashboard_repo.create_link(
            conn, world.services.secret, OWNER, now=world.services.now()
        )
    later = world.services.now() + timedelta(minutes=10)
    world.services.clock = lambda: later
    async with client(world) as http:
        assert (await http.post(f"/dashboard/login/{token}")).status_code == 401


async def test_department_week_below_threshold_is_withheld(world: World) -> None:
    async with await signed_in(world, OWNER) as http:
        page = await http.get("/dashboard/s/ops")
        assert page.status_code == 200
        assert 'id="withheld"' in page.text
        assert "a secret" not in page.text
        assert 'id="headline-value"' not in page.text
        assert 'class="dot"' not in page.text  # no trend point either
        csv = await http.get("/dashboard/s/ops/export.csv")
        assert csv.status_code == 404 and "a secret" not in csv.text


async def test_subject_page_matches_the_digest(world: World) -> None:
    digest = await subject_digest(world.services, world.subjects["sales"])
    assert digest.headline is not None
    expected = score_text(digest.headline.estimate, digest.headline.kind, "en")
    async with await signed_in(world, OWNER) as http:
        page = await http.get("/dashboard/s/sales")
        long = await http.get("/dashboard/s/sales?weeks=52")
        csv = await http.get("/dashboard/s/sales/export.csv")
    value = re.search(r'id="headline-value">([^<]+)<', page.text)
    assert value is not None and value.group(1) == expected
    assert digest.period.key == "2026-W48" and "2026-W48" in page.text
    assert "Faster replies &lt;please&gt;" in page.text  # escaped, never raw
    assert "<please>" not in page.text
    assert page.text.count('class="dot"') == DOTS
    assert long.text.count('class="dot"') == DOTS and 'viewBox="0 0 420 220"' in long.text
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "Faster replies <please>" in csv.text


async def test_admin_sees_everything_and_manages_invites(world: World) -> None:
    async with await signed_in(world, ADMIN) as http:
        home = await http.get("/dashboard/")
        assert all(name in home.text for name in ("Sales", "Operations", "Kettle"))
        assert (await http.get("/dashboard/s/kettle")).status_code == 200
        created = await http.post(
            "/dashboard/admin/invites",
            data={"target": "product:kettle"},
            headers={"origin": "http://127.0.0.1:8080"},
        )
        assert created.status_code == 200
        link = re.search(r'id="created-link">([^<]+)<', created.text)
        assert link is not None and link.group(1).startswith("https://t.me/feedbot_test_bot?start=")
        assert "<svg" in created.text and "Kettle" in created.text
        foreign = await http.post(
            "/dashboard/admin/invites/1/revoke", headers={"origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        revoked = await http.post("/dashboard/admin/invites/1/revoke", follow_redirects=True)
        assert revoked.status_code == 200 and "revoked" in revoked.text
        owners = await http.get("/dashboard/admin/owners")
        assert str(OWNER) in owners.text and "Operations" in owners.text


async def test_language_switch_and_no_open_redirect(world: World) -> None:
    async with await signed_in(world, OWNER) as http:
        switched = await http.post(
            "/dashboard/lang", data={"lang": "pl", "next": "https://evil.example/"}
        )
        assert switched.status_code == 303 and switched.headers["location"] == "/dashboard/"
        page = await http.get("/dashboard/s/sales")
        assert "Sprzedaż" in page.text and 'lang="pl"' in page.text


@pytest.mark.parametrize("lang", ["pl", "en"])
async def test_every_page_renders_in_both_languages(world: World, lang: str) -> None:
    async with await signed_in(world, ADMIN) as http:
        await http.post("/dashboard/lang", data={"lang": lang, "next": "/dashboard/"})
        for path in [
            "/dashboard/",
            "/dashboard/s/sales",
            "/dashboard/s/ops",
            "/dashboard/s/kettle?weeks=52",
            "/dashboard/admin/invites",
            "/dashboard/admin/owners",
        ]:
            page = await http.get(path)
            assert page.status_code == 200, path
            assert f'<html lang="{lang}">' in page.text, path
        created = await http.post("/dashboard/admin/invites", data={"target": "department:sales"})
        assert created.status_code == 200 and "<svg" in created.text


async def test_every_comment_of_the_shown_period_not_only_the_digests_three(
    world: World,
) -> None:
    respond = Respond(world.services.db)
    texts = [f"Comment number {i} about the lid" for i in range(5)]
    for text in texts:
        await respond(
            world.subjects["kettle"], {"nps": 7, "csat": 3, "effort": 4, "nps_passive": text}
        )
    digest = await subject_digest(world.services, world.subjects["kettle"])
    assert len(digest.comments) == 3
    async with await signed_in(world, OTHER_OWNER) as http:
        page = await http.get("/dashboard/s/kettle")
    comments = page.text.split('id="comments"')[1]
    assert all(text in comments for text in texts)
    assert comments.count("Great kettle") == 1  # the same text twice is shown once
