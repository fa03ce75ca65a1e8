"""`feedbot validate`: check the bundled survey definitions and any given files or folders."""

from __future__ import annotations

import argparse

from surveys.loader import SurveyCatalog, SurveyFileError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `validate` sub-command."""
    parser = subparsers.add_parser(
        "validate",
        help="check the bundled surveys and any given survey files or folders",
        description=(
            "Check the bundled survey definitions and the given YAML files or folders "
            "(every *.yaml and *.yml inside). Lists every problem and exits 1, or prints "
            "a summary and exits 0."
        ),
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="a survey file or a folder")
    parser.set_defaults(handler=validate)


def validate(args: argparse.Namespace) -> int:
    """Print every problem (exit 1) or one line summing up the valid surveys (exit 0)."""
    try:
        catalog = SurveyCatalog.from_paths(args.paths)
    except SurveyFileError as exc:
        for problem in exc.problems:
            print(problem)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found")
        return 1
    summary = ", ".join(
        f"{d.id} v{d.version} ({d.audience}, {len(d.questions)} questions)" for d in catalog
    )
    print(f"ok: {summary}")
    return 0
