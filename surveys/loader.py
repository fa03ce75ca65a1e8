"""Reading survey definitions from YAML (checked by surveys.checks) and the catalog of versions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from surveys.checks import check_definition
from surveys.problems import Problem
from surveys.schema import Audience, SurveyDefinition

__all__ = [
    "BUNDLED_DIR",
    "SURVEY_SUFFIXES",
    "SurveyCatalog",
    "SurveyFileError",
    "UnknownSurvey",
    "bundled_definitions",
    "load_definition",
    "load_definitions",
    "parse_definition",
    "survey_files",
]

BUNDLED_DIR = Path(__file__).parent / "definitions"
SURVEY_SUFFIXES = (".yaml", ".yml")


class SurveyFileError(Exception):
    """One or more survey files are invalid; `problems` lists every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownSurvey(KeyError):
    """The catalog has no survey (or no such version) with that id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown survey"


# ---------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """A safe loader that remembers keys given twice in one mapping (PyYAML keeps the last)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[tuple[object, int]] = []


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            if key in seen:
                loader.duplicate_keys.append((key, key_node.start_mark.line + 1))
            seen.add(key)
        except TypeError:  # an unhashable key; construct_mapping reports it
            pass
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path, file: str) -> tuple[object, list[Problem]]:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(file, None, "no such file")]
    except UnicodeDecodeError:
        return None, [Problem(file, None, "not UTF-8 text")]
    except OSError as exc:
        return None, [Problem(file, None, f"cannot read the file: {exc.strerror or exc}")]
    loader = _Loader(source)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        lines = source.splitlines()
        if mark and mark.line < len(lines) and "{{" in lines[mark.line]:
            what += " (put a text that uses {{ subject }} in quotes)"
        return None, [Problem(file, None, f"{where}YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, None, f"YAML syntax error: {exc}")]
    finally:
        loader.dispose()
    problems = [
        Problem(file, None, f"line {line}: key '{key}' is given twice")
        for key, line in loader.duplicate_keys
    ]
    return data, problems


# ---------------------------------------------------------------- loading


def survey_files(path: str | Path) -> list[Path]:
    """The survey files at `path`: the file itself, or every *.yaml / *.yml in a folder."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in SURVEY_SUFFIXES and p.is_file())
    return [path]


def _load(path: Path, strict: bool) -> tuple[SurveyDefinition | None, list[Problem]]:
    file = str(path)
    data, problems = _read_yaml(path, file)
    if problems and data is None:
        return None, problems
    definition, more = check_definition(data, file, strict)
    problems += more
    return (definition if not problems else None), problems


def load_definition(path: str | Path, *, strict: bool = True) -> SurveyDefinition:
    """Read and check one survey file; SurveyFileError lists every problem in it.

    `strict` (the default, used for bundled and user surveys alike) requires every text in
    both Polish and English and rejects other languages."""
    definition, problems = _load(Path(path), strict)
    if definition is None:
        raise SurveyFileError(problems)
    return definition


def parse_definition(
    data: object, source: str = "<data>", *, strict: bool = True
) -> SurveyDefinition:
    """Check an already parsed YAML document (e.g. a dict); `source` names it in problems."""
    definition, problems = check_definition(data, source, strict)
    if definition is None or problems:
        raise SurveyFileError(problems)
    return definition


def _load_sources(
    paths: Iterable[str | Path], strict: bool
) -> tuple[list[tuple[str, SurveyDefinition]], list[Problem]]:
    loaded: list[tuple[str, SurveyDefinition]] = []
    problems: list[Problem] = []
    for given in paths:
        given = Path(given)
        if not given.exists():
            problems.append(Problem(str(given), None, "no such file or folder"))
            continue
        files = survey_files(given)
        if given.is_dir() and not files:
            problems.append(Problem(str(given), None, "no *.yaml or *.yml files in this folder"))
        for path in files:
            definition, found = _load(path, strict)
            problems += found
            if definition is not None:
                loaded.append((str(path), definition))
    return loaded, problems


def load_definitions(paths: Iterable[str | Path], *, strict: bool = True) -> list[SurveyDefinition]:
    """Read every survey file at `paths` (files or folders); SurveyFileError lists every
    problem in every file at once."""
    loaded, problems = _load_sources(paths, strict)
    problems += _conflicts(loaded)
    if problems:
        raise SurveyFileError(problems)
    return [definition for _, definition in loaded]


@cache
def _bundled_sources() -> tuple[tuple[str, SurveyDefinition], ...]:
    loaded, problems = _load_sources([BUNDLED_DIR], strict=True)
    problems += _conflicts(loaded)
    if problems:
        raise SurveyFileError(problems)
    return tuple(loaded)


def bundled_definitions() -> list[SurveyDefinition]:
    """The surveys shipped in surveys/definitions (read once, then cached)."""
    return [definition for _, definition in _bundled_sources()]


def _conflicts(loaded: list[tuple[str, SurveyDefinition]]) -> list[Problem]:
    """Two different files giving the same survey id and version."""
    first: dict[tuple[str, int], tuple[str, SurveyDefinition]] = {}
    problems: list[Problem] = []
    for file, definition in loaded:
        key = (definition.id, definition.version)
        if key not in first:
            first[key] = (file, definition)
        elif first[key][1] != definition:
            problems.append(
                Problem(
                    file,
                    None,
                    f"survey '{definition.id}' version {definition.version} is already "
                    f"defined differently in {first[key][0]}; give this one a new version",
                )
            )
    return problems


# ---------------------------------------------------------------- catalog


class SurveyCatalog:
    """Every version of every known survey, so responses to an old version stay readable."""

    def __init__(self, definitions: Iterable[SurveyDefinition]) -> None:
        self._versions: dict[str, dict[int, SurveyDefinition]] = {}
        for definition in definitions:
            versions = self._versions.setdefault(definition.id, {})
            known = versions.get(definition.version)
            if known is not None and known != definition:
                raise ValueError(
                    f"survey {definition.id!r} version {definition.version} is given twice, "
                    "differently"
                )
            versions[definition.version] = definition

    @classmethod
    def load(cls, extra_dir: str | Path | None = None) -> SurveyCatalog:
        """The bundled surveys plus those in `extra_dir` (FEEDBOT_SURVEYS_DIR), all checked
        strictly; SurveyFileError lists every problem in every file."""
        return cls.from_paths([extra_dir] if extra_dir is not None else [])

    @classmethod
    def from_folders(cls, *folders: str | Path | None) -> SurveyCatalog:
        """The bundled surveys plus those in each given folder (None is ignored)."""
        return cls.from_paths([f for f in folders if f is not None])

    @classmethod
    def from_paths(
        cls, paths: Iterable[str | Path], *, include_bundled: bool = True, strict: bool = True
    ) -> SurveyCatalog:
        """A catalog of the surveys at `paths` (files or folders), after the bundled ones."""
        loaded = list(_bundled_sources()) if include_bundled else []
        more, problems = _load_sources(paths, strict)
        loaded += more
        problems += _conflicts(loaded)
        if problems:
            raise SurveyFileError(problems)
        return cls(definition for _, definition in loaded)

    def get(self, survey_id: str, version: int | None = None) -> SurveyDefinition:
        """A survey by id and version (the latest when `version` is None); UnknownSurvey
        when there is no such survey or version."""
        versions = self._versions.get(survey_id)
        if not versions:
            known = ", ".join(self.ids()) or "none"
            raise UnknownSurvey(f"unknown survey '{survey_id}' (known: {known})")
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            have = ", ".join(str(v) for v in sorted(versions))
            raise UnknownSurvey(f"survey '{survey_id}' has no version {version} (has: {have})")
        return versions[version]

    def latest(self, survey_id: str) -> SurveyDefinition:
        """The highest version of a survey."""
        return self.get(survey_id)

    def versions(self, survey_id: str) -> list[int]:
        """The known versions of a survey, ascending (empty when unknown)."""
        return sorted(self._versions.get(survey_id, {}))

    def ids(self) -> list[str]:
        """The survey ids, sorted."""
        return sorted(self._versions)

    def for_audience(self, audience: Audience | str) -> list[SurveyDefinition]:
        """The latest version of every survey for this audience, by id."""
        wanted = Audience(audience)
        latest = (self.latest(survey_id) for survey_id in self.ids())
        return [d for d in latest if d.audience is wanted]

    def __iter__(self) -> Iterator[SurveyDefinition]:
        """Every version of every survey, by id then version."""
        for survey_id in self.ids():
            versions = self._versions[survey_id]
            for version in sorted(versions):
                yield versions[version]

    def __contains__(self, survey_id: object) -> bool:
        return survey_id in self._versions

    def __len__(self) -> int:
        return len(self._versions)
