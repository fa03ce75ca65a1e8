"""bot.digest.render's Jinja2 environment: the `_labels` macros, imported without the
importing template's context (so Jinja makes their module once), render exactly what they
render with it."""

from __future__ import annotations

from jinja2 import BaseLoader, Environment, FileSystemLoader, StrictUndefined

from bot.digest.render import LANGS, TEMPLATES, environment, labels, template
from surveys.scoring import Estimate
from tests.digest.test_digest_render import every_digest_shape


class _WithContext(BaseLoader):
    """The digest templates, each `_labels` import made `with context` (Jinja's default
    for includes, and what the templates did before)."""

    def __init__(self) -> None:
        self._files = FileSystemLoader(TEMPLATES)

    def get_source(self, environment: Environment, name: str) -> tuple[str, str | None, None]:
        source, filename, _ = self._files.get_source(environment, name)
        for lang in LANGS:
            plain = f'{{% import "_labels.{lang}.html.j2" as L %}}'
            source = source.replace(plain, plain[:-2] + "with context %}")
        return source, filename, None


def _with_context() -> Environment:
    env = Environment(
        loader=_WithContext(),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(environment().filters)
    return env


def test_every_template_renders_what_it_renders_with_the_labels_seeing_its_context() -> None:
    with_context = _with_context()
    loader = with_context.loader
    assert loader is not None
    rendered = 0
    for name in ("digest", "nothing", "caption"):
        for lang in LANGS:
            source = loader.get_source(with_context, f"{name}.{lang}.html.j2")[0]
            assert "with context" in source
    for digest in every_digest_shape():
        for lang in LANGS:
            for name in ("digest", "nothing", "caption"):
                expected = with_context.get_template(f"{name}.{lang}.html.j2").render(
                    digest=digest, lang=lang
                )
                assert template(name, lang).render(digest=digest, lang=lang) == expected
                rendered += 1
    assert rendered >= 40


def test_the_labels_module_is_made_once_per_language() -> None:
    assert labels("en") is labels("en")
    assert labels("pl") is labels("pl") and labels("pl") is not labels("en")
    assert str(labels("pl").metric("ces")) != str(labels("en").metric("ces"))


def test_the_labels_filters_speak_their_template_language() -> None:
    """A `_labels` template sets its own `lang`: the filters in its macros read it."""
    estimate = Estimate(4.2, 3.8, 4.6, n=10)
    assert str(labels("pl").ci(estimate, "mean")) == " (przedział 95%: 3,8–4,6)"
    assert str(labels("en").ci(estimate, "mean")) == " (95% CI 3.8–4.6)"
