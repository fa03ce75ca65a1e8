"""bot.digest.render's Jinja2 environment: its faster macro calls and its labels module made
once per language render exactly what plain Jinja2 renders."""

from __future__ import annotations

import pytest
from jinja2 import DictLoader, Environment, FileSystemLoader, StrictUndefined

from bot.digest.render import LANGS, TEMPLATES, _Context, _Template, environment, labels, template
from tests.digest.test_digest_render import every_digest_shape


def _plain_jinja() -> Environment:
    """The digest templates and filters in a Jinja2 environment of the stock classes."""
    plain = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    plain.filters.update(environment().filters)
    return plain


def test_every_template_renders_what_plain_jinja_renders() -> None:
    plain = _plain_jinja()
    rendered = 0
    for digest in every_digest_shape():
        for lang in LANGS:
            for name in ("digest", "nothing", "caption"):
                expected = plain.get_template(f"{name}.{lang}.html.j2").render(
                    digest=digest, lang=lang
                )
                assert template(name, lang).render(digest=digest, lang=lang) == expected
                rendered += 1
    assert rendered >= 40


def test_the_labels_module_is_made_once_per_language() -> None:
    assert labels("en") is labels("en")
    assert labels("pl") is labels("pl") and labels("pl") is not labels("en")
    assert str(labels("pl").metric("ces")) != str(labels("en").metric("ces"))


def _environment(templates: dict[str, str]) -> Environment:
    env = Environment(loader=DictLoader(templates), autoescape=True, undefined=StrictUndefined)
    env.template_class = _Template
    env.context_class = _Context
    return env


def test_a_module_reading_more_than_lang_is_made_for_each_import() -> None:
    env = _environment(
        {
            "lang_only.j2": "{% macro hi(name) %}{{ lang }}:{{ name }}{% endmacro %}",
            "reads_who.j2": "{% macro hi(name) %}{{ who }}:{{ name }}{% endmacro %}",
            "page.j2": '{% import "lang_only.j2" as L with context %}'
            '{% import "reads_who.j2" as W with context %}'
            "{% for n in names %}{{ L.hi(n) }} {{ W.hi(name=n) }};{% endfor %}",
        }
    )
    page = env.get_template("page.j2")
    assert page.render(lang="en", who="a", names=["x", "y"]) == "en:x a:x;en:y a:y;"
    assert page.render(lang="pl", who="b", names=["z"]) == "pl:z b:z;"
    lang_only, reads_who = env.get_template("lang_only.j2"), env.get_template("reads_who.j2")
    assert lang_only.make_module({"lang": "en"}) is lang_only.make_module({"lang": "en"})
    assert lang_only.make_module({"lang": "xx"}) is not lang_only.make_module({"lang": "xx"})
    assert reads_who.make_module({"lang": "en", "who": "a"}) is not reads_who.make_module(
        {"lang": "en", "who": "a"}
    )


def test_macros_called_through_the_context_behave_as_in_jinja() -> None:
    env = _environment(
        {
            "m.j2": "{% macro f(a, b='B') %}{{ a }}{{ b }}{{ varargs|length }}{% endmacro %}"
            "{% for i in [1] %}{{ f(i) }}|{{ f(i, b=2) }}|{{ f(1, 2, 3, 4) }}{% endfor %}",
            "bad.j2": "{% macro f(a) %}{{ a }}{% endmacro %}{{ f(1, c=2) }}",
        }
    )
    assert env.get_template("m.j2").render() == "1B0|120|122"
    with pytest.raises(TypeError, match="no keyword argument 'c'"):
        env.get_template("bad.j2").render()
