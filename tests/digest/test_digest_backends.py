"""The same history on SQLite and on PostgreSQL gives byte-identical digests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.digest.chart import digest_chart
from bot.digest.render import plain_text, render_html
from storage.db import Database
from tests.backends import POSTGRES_ON, postgres_url
from tests.digest.digest_support import NOW
from tests.digest.test_digest_compose import _fill_for_every_basis, compose

pytestmark = pytest.mark.skipif(
    not POSTGRES_ON, reason="FEEDBOT_TEST_POSTGRES=off: the PostgreSQL half was left out"
)


@pytest.fixture
async def both() -> AsyncIterator[tuple[Database, Database]]:
    sqlite = await Database.open(":memory:")
    try:
        async with postgres_url() as url:
            postgres = await Database.open(url)
            try:
                yield sqlite, postgres
            finally:
                await postgres.close()
    finally:
        await sqlite.close()


async def test_both_backends_render_byte_identical_digests(
    both: tuple[Database, Database],
) -> None:
    sqlite, postgres = both
    on_sqlite = await _fill_for_every_basis(sqlite)
    on_postgres = await _fill_for_every_basis(postgres)
    compared = 0
    for left, right in zip(on_sqlite, on_postgres, strict=True):
        assert (left.slug, left.id) == (right.slug, right.id)
        for period in ("2026-W46", "2026-W47", "2026-W48", "2026-W49"):
            for closed_only in (False, True):
                expected = await compose(sqlite, left, period, closed_only=closed_only, now=NOW)
                got = await compose(postgres, right, period, closed_only=closed_only, now=NOW)
                assert got == expected
                for lang in ("en", "pl"):
                    html = render_html(got, lang)
                    assert html.encode() == render_html(expected, lang).encode()
                    assert plain_text(html) == plain_text(render_html(expected, lang))
                    assert digest_chart(got, lang) == digest_chart(expected, lang)
                compared += 1
    assert compared == 24
    # Not a comparison of two empty digests: the full week shows scores and comments.
    sales = await compose(postgres, on_postgres[0], "2026-W48")
    assert sales.comments and not sales.nothing_to_report
