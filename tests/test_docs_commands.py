"""Every shell command in README.md and docs/*.md is run here, page by page, in order, in a
fresh folder: a fenced `bash` block's commands are taken one line at a time (`&&` chains
run left to right). A command this test does not know how to run fails it, so a page can
never show a command that nobody ran; to document a new kind of command, teach `RUNNERS`
how to run it. Fences that are not shell name what they are (```text, ```yaml...).

How each kind is run:
- `feedbot ...`: the installed command, with `.venv/bin/` meaning the interpreter's own
  folder, in the page's folder, with a secret and a bot username in the environment;
  `feedbot run` three times: without a token (one line, the demo command, exit 2), with
  an unusable database (its own line, no demo), and against a fake Bot API until it polls
  (then SIGTERM, exit 0);
- `python3 -m venv .venv`, `.venv/bin/pip install ...`, and the lint, type-check and test
  commands: `.ci/run` runs them verbatim (checked here), and `bash .ci/run` only by its
  syntax (`bash -n`: it installs packages as root and runs this suite);
- `pytest PATH...`: collected (`--collect-only`), since the suite runs the tests anyway;
- `python -m bench.NAME ARGS`: the arguments parsed by the benchmark's own parser (each
  benchmark runs at tiny sizes in tests/test_bench_smoke.py);
- `python3 -c CODE`, `cp`: run as they are.
A ```yaml block starting with `id: NAME` is saved as NAME.yaml in the page's folder first,
so `feedbot validate NAME.yaml` checks the example the page shows.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.cli import COMMAND_MODULES
from bot.commands.demo import feedbot_command
from tests.backends import POSTGRES_ON, create_schema, drop_schema
from tests.fakes.http_server import BotApiServer
from tests.fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
# The README's `.venv/bin`: where the interpreter running the tests has its commands.
BIN = Path(sys.executable).parent
SHELL = {"bash", "sh", "shell", "console"}
NOT_SHELL = {"text", "yaml", "nginx", "caddyfile", "ini", "python", "json", "sql", "csv"}
# A line of an unnamed fence that starts like one of these is a command in disguise (an
# indented one is part of a drawing).
LOOKS_LIKE_A_COMMAND = re.compile(
    r"^(\$ )?(sudo |\.venv/|feedbot |python3? |pip |pytest|ruff |mypy|bash |cp |curl |"
    r"psql |systemctl |systemd-analyze |nginx |caddy |apt(-get)? |docker |git )"
)
TOKEN = "4242:docs-commands-token"
SECRET = "docs-commands-secret-0123456789"
TIMEOUT = 120  # a hang guard, not a measurement


@dataclass(frozen=True)
class Fence:
    """A fenced block of a page: where it starts, its language, its text."""

    page: Path
    line: int
    lang: str
    body: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Command:
    """One command of a shell line: environment assignments, then the words."""

    where: str
    env: dict[str, str]
    argv: list[str]

    @property
    def text(self) -> str:
        assignments = [f"{k}={v}" for k, v in self.env.items()]
        return shlex.join([*assignments, *self.argv])


@dataclass
class Folder:
    """A page's working folder, as a reader's checkout would be (with `.env.example`)."""

    path: Path
    env: dict[str, str] = field(default_factory=dict)


def fences(page: Path) -> list[Fence]:
    """Every fenced block of a page, also those indented in a list."""
    found: list[Fence] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        if opening is None:
            i += 1
            continue
        indent, marker, lang = opening.groups()
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        start = i - len(body)
        found.append(Fence(page, start, lang.lower(), "\n".join(body)))
        i += 1
    return found


def shell_lines(fence: Fence) -> list[tuple[int, str]]:
    """(line number, text) of each command line, continuation lines joined, a console
    prompt (`$ `) taken off, blank and comment-only lines left out."""
    result: list[tuple[int, str]] = []
    pending = ""
    for offset, raw in enumerate(fence.body.splitlines()):
        text = raw.strip()
        if text.startswith("$ "):
            text = text[2:]
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        text, pending = pending + text, ""
        if text and not text.startswith("#"):
            result.append((fence.line + offset, text))
    return result


def parse(where: str, line: str) -> list[Command]:
    """The commands of an `a && b && c` line; anything else a shell would do with the line
    (pipes, `;`, `||`, redirections, subshells) is refused: say what it should do instead."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = list(lexer)
    commands: list[Command] = []
    current: list[str] = []
    for word in [*words, "&&"]:
        if word == "&&":
            assert current, f"{where}: an empty command in {line!r}"
            env: dict[str, str] = {}
            while "=" in current[0] and re.match(r"^[A-Z_][A-Z0-9_]*=", current[0]):
                name, _, value = current.pop(0).partition("=")
                env[name] = value
            commands.append(Command(where, env, current))
            current = []
        elif set(word) <= set("|;&<>()"):
            pytest.fail(f"{where}: {word!r} in {line!r}: write one command per line (or &&)")
        else:
            current.append(word)
    return commands


def local(program: str) -> str:
    """`.venv/bin/feedbot` and `feedbot` alike: the command's name."""
    return program.removeprefix(".venv/bin/")


# --- runners ------------------------------------------------------------------------------


def ci_commands() -> list[list[str]]:
    """The words of every command .ci/run runs (`a && b` as two)."""
    found: list[list[str]] = []
    for line in CI.splitlines():
        words = shlex.split(line, comments=True)
        while "&&" in words:
            found.append(words[: words.index("&&")])
            words = words[words.index("&&") + 1 :]
        found.append(words)
    return [words for words in found if words]


def run_by_ci(command: Command, folder: Folder) -> None:
    """Set-up, lint, type-check and the whole suite: `.ci/run` runs exactly this command
    (`pip install -q -e .` is its `-e ".[dev]"` without the extra)."""
    ran = ci_commands()
    with_extra = [*command.argv[:-1], ".[dev]"] if command.argv[-1:] == ["."] else None
    assert command.env == {} and (command.argv in ran or with_extra in ran), (
        f"{command.where}: `{command.text}` is not what .ci/run runs; run it there (or here)"
    )


def ci_syntax(command: Command, folder: Folder) -> None:
    """`bash .ci/run` installs Debian packages as root and runs this very suite: its
    syntax is checked, the rest of it is CI's own run."""
    assert command.argv == ["bash", ".ci/run"], command.text
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True, timeout=TIMEOUT)


def python_code(command: Command, folder: Folder) -> None:
    assert command.argv[1] == "-c", f"{command.where}: only `python3 -c CODE` runs here"
    _run([sys.executable, *command.argv[1:]], folder, command)


def copy(command: Command, folder: Folder) -> None:
    _run(command.argv, folder, command)


def bench(command: Command, folder: Folder) -> None:
    """The benchmark's own parser accepts the arguments (an unknown option, a bad value
    exits); running it is tests/test_bench_smoke.py's, at tiny sizes."""
    assert command.argv[1] == "-m" and command.argv[2].startswith("bench."), command.text
    module = importlib.import_module(command.argv[2])
    module.parse_args(command.argv[3:])


def pytest_paths(command: Command, folder: Folder) -> None:
    """A test file or folder the page names: collected (the suite runs it)."""
    paths = [a for a in command.argv[1:] if not a.startswith("-")]
    if not paths:
        return run_by_ci(command, folder)
    for path in paths:
        assert (ROOT / path).exists(), f"{command.where}: no {path}"
    env = {**os.environ, **command.env}
    result = subprocess.run(
        [str(BIN / "pytest"), "--collect-only", "-q", *command.argv[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    # pytest exits 5 when it collects nothing, 4 for a bad argument.
    assert result.returncode == 0, f"{command.where}: {result.stdout}{result.stderr}"


def feedbot(command: Command, folder: Folder) -> None:
    words = command.argv[1:]
    if words == ["run"]:
        return feedbot_run(command, folder)
    if words[:1] == ["migrate-data"]:
        return feedbot_migrate_data(command, folder)
    assert words[:1] != ["run"], f"{command.where}: teach this test to run `{command.text}`"
    _run([str(BIN / "feedbot"), *words], folder, command)


def feedbot_run(command: Command, folder: Folder) -> None:
    """Without a token: one line, the demo shown (not run), exit 2. Another failure: its
    own line, no demo. With a token, against a fake Bot API: it polls, and SIGTERM stops
    it cleanly."""
    program = str(BIN / "feedbot")
    no_token = _run([program, "run"], folder, command, expect=2, token=False)
    assert no_token.stderr.startswith("feedbot: no bot token:"), no_token.stderr
    demo = f"`{feedbot_command(folder.path)} demo`"  # what to paste in that folder
    assert no_token.stderr.count("\n") == 1 and demo in no_token.stderr
    assert no_token.stdout == ""

    bad_database = {"FEEDBOT_DATABASE": str(folder.path / "missing" / "feedbot.sqlite3")}
    other = _run([program, "run"], folder, command, expect=None, extra=bad_database)
    assert other.returncode != 0 and other.stderr.count("\n") == 1, other.stderr
    assert "missing" in other.stderr and "demo" not in other.stderr, other.stderr

    with BotApiServer(FakeTelegram(token=TOKEN)) as server:
        env = {**_environment(folder, command, token=True), **server.env}
        process = subprocess.Popen(
            [program, "run"],
            cwd=folder.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            server.wait_for(lambda: server.fake.calls_of("getUpdates"), 60, "polling")
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, stderr


def feedbot_migrate_data(command: Command, folder: Folder) -> None:
    """Into an empty schema of the test server, whatever URL the page shows; from the
    reader's database, for which the demo's stands in when the page made none."""
    if not POSTGRES_ON:
        pytest.skip("FEEDBOT_TEST_POSTGRES=off: the PostgreSQL half was left out")
    words = command.argv[1:]
    source = folder.path / words[words.index("--from") + 1]
    if not source.exists():
        _run([str(BIN / "feedbot"), "demo", "--database", str(source)], folder, command)
    target = words.index("--to") + 1
    schema, url = asyncio.run(create_schema())
    try:
        words[target] = url
        _run([str(BIN / "feedbot"), *words], folder, command)
    finally:
        asyncio.run(drop_schema(schema))


RUNNERS: dict[str, Callable[[Command, Folder], None]] = {
    "feedbot": feedbot,
    "python3 -m venv": run_by_ci,
    "pip": run_by_ci,
    "ruff": run_by_ci,
    "mypy": run_by_ci,
    "pytest": pytest_paths,
    "bash": ci_syntax,
    "python3 -c": python_code,
    "python -m": bench,
    "cp": copy,
}


def runner_of(command: Command) -> Callable[[Command, Folder], None] | None:
    name = local(command.argv[0])
    for key in (" ".join([name, *command.argv[1:2]]), " ".join([name, *command.argv[1:3]])):
        if key in RUNNERS:
            return RUNNERS[key]
    if name == "python3" and command.argv[1:3] == ["-m", "venv"]:
        return RUNNERS["python3 -m venv"]
    return RUNNERS.get(name)


def _environment(folder: Folder, command: Command, *, token: bool) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDBOT_", "TELEGRAM_"))}
    env = {**clean, "FEEDBOT_SECRET": SECRET, "FEEDBOT_BOT_USERNAME": "feedbot_docs_bot"}
    if token:
        env["TELEGRAM_BOT_TOKEN"] = TOKEN
    return {**env, **folder.env, **command.env}


def _run(
    argv: list[str],
    folder: Folder,
    command: Command,
    *,
    expect: int | None = 0,
    token: bool = True,
    extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**_environment(folder, command, token=token), **(extra or {})}
    result = subprocess.run(
        argv,
        cwd=folder.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if expect is not None:
        assert result.returncode == expect, (
            f"{command.where}: `{command.text}` exited {result.returncode}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


# --- the tests ----------------------------------------------------------------------------


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    return Folder(tmp_path)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_shell_command_of_the_page_runs(page: Path, folder: Folder) -> None:
    for fence in fences(page):
        if fence.lang == "yaml" and (named := re.match(r"id: ([\w-]+)", fence.body)):
            (folder.path / f"{named.group(1)}.yaml").write_text(fence.body, encoding="utf-8")
        if fence.lang not in SHELL:
            continue
        for line_number, line in shell_lines(fence):
            where = f"{page_id(page)}:{line_number}"
            for command in parse(where, line):
                runner = runner_of(command)
                assert runner is not None, (
                    f"{where}: this test does not know how to run `{command.text}`; "
                    "teach RUNNERS in tests/test_docs_commands.py"
                )
                runner(command, folder)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_fence_says_what_it_holds(page: Path) -> None:
    for fence in fences(page):
        if fence.lang:
            assert fence.lang in SHELL | NOT_SHELL, f"{fence.where}: unknown fence {fence.lang!r}"
            continue
        commands = [line for line in fence.body.splitlines() if LOOKS_LIKE_A_COMMAND.match(line)]
        assert not commands, f"{fence.where}: a command in an unnamed fence; use ```bash"


def test_the_readme_lists_every_cli_command_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    listed: set[str] = set()
    for cell in re.findall(r"^\| `feedbot ([^`]+)`", section, flags=re.MULTILINE):
        listed |= set(cell.split()[0].replace("\\|", "|").split("|"))
    subparsers = argparse.ArgumentParser().add_subparsers()
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    assert listed == set(subparsers.choices)


def test_every_setting_of_the_env_example_is_in_the_readmes_table() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    settings = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert settings and settings == set(re.findall(r"`((?:FEEDBOT|TELEGRAM)_[A-Z0-9_]+)`", table))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_leads_to_a_file(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a web address, or a heading of the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{page_id(page)}: {target} leads nowhere"
