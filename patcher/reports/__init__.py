"""Reports of releases' results: a terminal table, JSON, JUnit XML and Markdown.

Every renderer is a pure function of a list of ``ReleaseResult``; ``write`` puts them in files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console

from patcher import ui
from patcher.errors import InputError
from patcher.reports import jsonfile, junit, markdown, terminal
from patcher.results import ReleaseResult

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

__all__ = ["jsonfile", "junit", "markdown", "terminal", "write", "append_step_summary", "load", "present"]


def load(paths: list[Path]) -> list[ReleaseResult]:
    """The releases of several reports, in order; a release reported twice keeps its last report."""
    merged: dict[str, ReleaseResult] = {}
    for path in paths:
        for result in jsonfile.load(path):
            merged.pop(result.version, None)
            merged[result.version] = result
    return list(merged.values())


def write_text(path: Path, text: str, what: str) -> None:
    """Write a report; ``-`` is standard output."""
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the {what} report to {path}: {exc.strerror or exc}") from None
    ui.debug(f"wrote the {what} report to {path}")


def append_step_summary(text: str) -> Path | None:
    """Append to the file GitHub Actions names in GITHUB_STEP_SUMMARY, when it is set."""
    target = os.environ.get(STEP_SUMMARY_ENV)
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        ui.warn(f"cannot append to {STEP_SUMMARY_ENV} ({path}): {exc.strerror or exc}")
        return None
    return path


def write(
    results: list[ReleaseResult],
    *,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
    spec: str | None = None,
) -> None:
    """Write the reports asked for, and append the Markdown one to the step summary if any."""
    if json_path is not None:
        write_text(json_path, jsonfile.dumps(results, spec=spec), "JSON")
    if junit_path is not None:
        write_text(junit_path, junit.dumps(results), "JUnit")
    text = markdown.render(results, spec=spec)
    if markdown_path is not None:
        write_text(markdown_path, text, "Markdown")
    append_step_summary(text)


def present(
    results: list[ReleaseResult],
    *,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
    spec: str | None = None,
    stdout: Console | None = None,
) -> None:
    """The end of a run: the table and details on stdout, the reports asked for, a summary on stderr."""
    write(results, json_path=json_path, junit_path=junit_path, markdown_path=markdown_path, spec=spec)
    if "-" not in (str(json_path), str(junit_path), str(markdown_path)):
        terminal.print_report(results, stdout or Console(highlight=False))
    if ui.verbosity() >= ui.NORMAL:
        ui.stderr().print()
        for line in terminal.summary_lines(results):
            ui.stderr().print(line)
