"""docs/scale.md shows the deploy files as they are in docs/deploy (checked by nginx -t
and systemd-analyze verify), not an older copy."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", ["nginx-feedbot.conf", "Caddyfile", "feedbot@.service"])
def test_the_scale_page_shows_each_deploy_file_verbatim(name: str) -> None:
    page = (DOCS / "scale.md").read_text(encoding="utf-8")
    assert (DOCS / "deploy" / name).read_text(encoding="utf-8") in page
