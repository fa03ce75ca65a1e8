"""The text catalogs against the code: same keys and placeholders in both languages, every
key used somewhere, every key the code asks for defined, and the words of the glossary."""

from __future__ import annotations

import ast
import itertools
import re
import string
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import yaml

from bot.i18n import LANGUAGES, catalog
from bot.menus import ALL_COMMANDS
from storage.models import InviteKind, InviteProblem, MemberRole, SubjectKind

ROOT = Path(__file__).resolve().parents[2]
CODE = [
    path
    for folder in ("bot", "surveys", "storage")
    for path in sorted((ROOT / folder).rglob("*.py"))
]
KEY_FUNCTIONS = {"t", "plain"}  # bot.i18n lookups: the key is the second argument
# Helpers that look up `<prefix><their second argument>` (bot.commands.digest.say): their
# f-string `<prefix>{}` is explained by the calls, whose keys are read like t's.
WRAPPERS = {"say": "cli.digest."}
REFUSALS = {"Refused"}  # bot.flow.Refused(key, params): the key is the first argument


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _rejection_keys() -> list[str]:
    """The engine's refusal keys, read from its `Rejection("...")` calls (the bot shows
    them as `error.<key>`)."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / "surveys" / "engine.py").read_text("utf-8"))):
        if isinstance(node, ast.Call) and _name(node.func) == "Rejection" and node.args:
            first = node.args[0]
            assert isinstance(first, ast.Constant), ast.unparse(node)
            assert isinstance(first.value, str), ast.unparse(node)
            keys.add(first.value)
    assert keys, "no Rejection calls found in surveys/engine.py"
    return sorted(keys)


_KINDS = [k.value for k in SubjectKind]
_WEEKDAYS = [str(day) for day in range(7)]
# The only keys the code builds at run time: each template (an f-string with its
# constant-branch conditionals expanded, `{}` for what stays variable) and the values
# filling it, enumerated from the enums and lists the code takes them from.
DYNAMIC: dict[str, list[str]] = {
    "command.{}": list(ALL_COMMANDS),
    "error.{}": _rejection_keys(),
    "invite.{}": [p.value for p in InviteProblem],
    "member.welcome_{}": [r.value for r in MemberRole if r is not MemberRole.EMPLOYEE],
    "subject.kind_{}": _KINDS,
    "admin.no_{}s": _KINDS,
    "admin.{}s_header": _KINDS,
    "admin.add_{}_usage": _KINDS,
    "admin.{}_added": _KINDS,
    "admin.invite_kind_{}": [k.value for k in InviteKind],
    "delivery.settings.day_{}": _WEEKDAYS,
    "delivery.settings.day_short_{}": _WEEKDAYS,
    "delivery.settings.every_{}": _WEEKDAYS,
    "calendar.month_{}": [str(month) for month in range(1, 13)],
    "dashboard.role_{}": [r.value for r in MemberRole],
    "dashboard.kind_{}": _KINDS,
    # bot.web.admin_pages: an invite's state is "active" or its Invite.problem.
    "dashboard.state_{}": [
        "active",
        *(p.value for p in (InviteProblem.REVOKED, InviteProblem.EXPIRED, InviteProblem.USED_UP)),
    ],
    # bot.web.admin_pages: an owner's digests are "inactive" (bot blocked), "paused" or "on".
    "dashboard.digest_state_{}": ["inactive", "paused", "on"],
}


def _variants(node: ast.expr) -> Iterator[list[str | None]]:
    """The ways an f-string can come out: constant parts as text, a conditional between
    constants as each of its branches, anything else as None (a variable part)."""
    if isinstance(node, ast.JoinedStr):
        choices: list[list[str | None]] = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                choices.append([str(part.value)])
            else:
                assert isinstance(part, ast.FormattedValue)
                choices.append(list(_constant_branches(part.value)))
        for combination in itertools.product(*choices):
            yield list(combination)


def _constant_branches(node: ast.expr) -> Iterator[str | None]:
    if isinstance(node, ast.IfExp):
        yield from _constant_branches(node.body)
        yield from _constant_branches(node.orelse)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    else:
        yield None


def _template(parts: list[str | None]) -> str:
    """Adjacent constants joined, each variable part as `{}`."""
    return "".join("{}" if p is None else p for p in parts)


def _key_arguments(node: ast.Call) -> list[ast.expr]:
    name = _name(node.func)
    if name in KEY_FUNCTIONS and len(node.args) >= 2:
        return [node.args[1]]
    if name in REFUSALS and node.args:
        return [node.args[0]]
    return []


def _expressions(node: ast.expr) -> Iterator[ast.expr]:
    """A key expression and, for `a if c else b`, each branch."""
    if isinstance(node, ast.IfExp):
        yield from _expressions(node.body)
        yield from _expressions(node.orelse)
    else:
        yield node


class Scan:
    """What the code asks of the catalog."""

    def __init__(self, sections: set[str]) -> None:
        self.sections = sections
        self.literals: dict[str, str] = {}  # key-shaped string constant -> where
        self.asked: dict[str, str] = {}  # constants passed as a key -> where
        self.templates: dict[str, str] = {}  # dynamic key templates -> where
        self.unresolved: dict[str, str] = {}  # wrapper calls whose key is not a constant

    def looks_like_key(self, text: str) -> bool:
        return bool(re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", text)) and (
            text.split(".")[0] in self.sections
        )

    def run(self, paths: Iterable[Path]) -> Scan:
        for path in paths:
            where = str(path.relative_to(ROOT))
            tree = ast.parse(path.read_text("utf-8"))
            # The constant pieces of an f-string are read with the f-string, not alone.
            pieces = {
                id(part)
                for node in ast.walk(tree)
                if isinstance(node, ast.JoinedStr)
                for part in node.values
            }
            constants = _assigned_constants(tree)
            for node in ast.walk(tree):
                if id(node) in pieces:
                    continue
                if isinstance(node, ast.Call):
                    self._wrapper_call(node, constants, where)
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if self.looks_like_key(node.value):
                        self.literals.setdefault(node.value, where)
                elif isinstance(node, ast.JoinedStr):
                    for parts in _variants(node):
                        text = _template(parts)
                        if not self.looks_like_key(text.replace("{}", "x")):
                            continue
                        if None in parts:
                            self.templates.setdefault(text, where)
                        else:
                            self.literals.setdefault(text, where)
                if isinstance(node, ast.Call):
                    for argument in _key_arguments(node):
                        for expression in _expressions(argument):
                            if isinstance(expression, ast.Constant):
                                self.asked.setdefault(str(expression.value), where)
        return self

    def _wrapper_call(
        self, node: ast.Call, constants: dict[str, list[str | None]], where: str
    ) -> None:
        prefix = WRAPPERS.get(_name(node.func) or "")
        if prefix is None or len(node.args) < 2:
            return
        argument = node.args[1]
        if isinstance(argument, ast.Name):
            suffixes = constants.get(argument.id, [None])
        else:
            suffixes = list(_constant_branches(argument))
        for suffix in suffixes:
            if suffix is None:
                self.unresolved[ast.unparse(node)] = where
            else:
                self.literals.setdefault(prefix + suffix, where)
                self.asked.setdefault(prefix + suffix, where)


def _assigned_constants(tree: ast.AST) -> dict[str, list[str | None]]:
    """name -> the constants (or conditionals between constants) assigned to it."""
    found: dict[str, list[str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                found.setdefault(target.id, []).extend(_constant_branches(node.value))
    return found


# Jinja templates look texts up with `_("key")` (bot.web), or build one: `_("prefix" ~ x)`.
TEMPLATE_LOOKUP = re.compile(r"""\b_\(\s*(["'])([^"']+)\1\s*[,)]""")
TEMPLATE_BUILT = re.compile(r"""\b_\(\s*(["'])([^"']+)\1\s*~""")


@pytest.fixture(scope="module")
def scan() -> Scan:
    sections = {key.split(".")[0] for key in catalog("en")}
    found = Scan(sections).run(CODE)
    for path in sorted((ROOT / "bot" / "templates").rglob("*.j2")):
        for match in TEMPLATE_LOOKUP.finditer(path.read_text("utf-8")):
            where = str(path.relative_to(ROOT))
            found.literals.setdefault(match[2], where)
            found.asked.setdefault(match[2], where)
        for match in TEMPLATE_BUILT.finditer(path.read_text("utf-8")):
            found.templates.setdefault(match[2] + "{}", str(path.relative_to(ROOT)))
    return found


def _expansions() -> dict[str, str]:
    """Every key the dynamic templates can build -> its template."""
    built = {}
    for template, values in DYNAMIC.items():
        for value in values:
            built[template.replace("{}", value)] = template
    return built


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    english, polish = catalog("en"), catalog("pl")
    assert sorted(set(english) ^ set(polish)) == []
    mismatched = [key for key in english if _fields(english[key]) != _fields(polish[key])]
    assert mismatched == []


def test_every_dynamic_key_template_in_the_code_is_enumerated(scan: Scan) -> None:
    wrapped = {prefix + "{}" for prefix in WRAPPERS.values()}
    unexplained = {
        t: where for t, where in scan.templates.items() if t not in DYNAMIC and t not in wrapped
    }
    assert unexplained == {}, "enumerate the keys these f-strings build in DYNAMIC"
    stale = (set(DYNAMIC) | wrapped) - set(scan.templates)
    assert stale == set(), "DYNAMIC lists templates the code no longer builds"
    assert scan.unresolved == {}, "a wrapper's key must be a constant (or a name given one)"


def test_every_key_the_code_asks_for_is_in_the_catalog(scan: Scan) -> None:
    known = catalog("en")
    missing = {key: where for key, where in scan.asked.items() if key not in known}
    assert missing == {}
    missing_literals = {
        key: where
        for key, where in scan.literals.items()
        if key not in known and key not in NOT_TEXT_KEYS
    }
    assert missing_literals == {}
    built = {key: template for key, template in _expansions().items() if key not in known}
    assert built == {}


# Strings shaped like catalog keys that are something else (checked to exist in the code).
NOT_TEXT_KEYS = {"delivery.pulsed", "delivery.loop"}  # bot_data keys of the delivery loop


def test_not_text_keys_are_still_in_the_code(scan: Scan) -> None:
    assert set(scan.literals) >= NOT_TEXT_KEYS


def test_no_key_is_unused(scan: Scan) -> None:
    used = set(scan.literals) | set(_expansions())
    unused = sorted(set(catalog("en")) - used)
    assert unused == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_text_is_said_once(lang: str) -> None:
    """No sentence of a text repeats another sentence of the same text."""
    for key, text in catalog(lang).items():
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 12]
        assert len(sentences) == len(set(sentences)), key


POLISH_QUOTES = re.compile(r"[\"“]")


def test_polish_texts_use_polish_quotation_marks() -> None:
    for key, text in catalog("pl").items():
        outside_tags = re.sub(r"<[^>]*>", "", text)
        assert not POLISH_QUOTES.search(outside_tags), key


# Words docs/glossary.md rules out (each language has one word for the thing).
NOT_OUR_WORDS = {
    "en": ("summary", "summaries", "questionnaire", "submission", "review", "subject"),
    "pl": ("raport", "zestawieni", "kwestionariusz", "formularz", "zgłoszeni"),
}


def _texts(lang: str) -> Iterator[tuple[str, str]]:
    """Every text a user of `lang` reads: catalog, templates and bundled surveys."""
    yield from catalog(lang).items()
    for path in sorted((ROOT / "bot" / "templates").glob(f"*.{lang}.html.j2")):
        # The words, not the template code around them.
        yield path.name, re.sub(r"\{([{%#]).*?[}%#]\}", "", path.read_text("utf-8"), flags=re.S)
    for path in sorted((ROOT / "surveys" / "definitions").glob("*.yaml")):
        survey = yaml.safe_load(path.read_text("utf-8"))
        yield from _localized(survey, lang, path.name)


def _localized(node: object, lang: str, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == lang and isinstance(value, str):
                yield where, value
            else:
                yield from _localized(value, lang, f"{where}:{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _localized(item, lang, f"{where}[{index}]")


def _words(text: str) -> str:
    """A text without what is not prose: {placeholders} and /commands."""
    return re.sub(r"\{\{? ?\w+ ?\}?\}|/\w+", "", text)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_texts_use_the_glossarys_words(lang: str) -> None:
    found = [
        (where, word)
        for where, text in _texts(lang)
        for word in NOT_OUR_WORDS[lang]
        if re.search(rf"\b{word}", _words(text), re.IGNORECASE)
    ]
    assert found == []


def test_polish_survey_texts_quote_the_name_they_put_after_a_noun() -> None:
    """`{{ subject }}` stands in the nominative: in Polish, inside „…” after its noun."""
    for where, text in _texts("pl"):
        if where.endswith(".yaml") or ".yaml" in where:
            for match in re.finditer(r"(.)\{\{ subject \}\}(.)", text):
                assert match.groups() == ("„", "”"), (where, text)
