"""Stage 9, reports: releases' results as a terminal table, JSON, JUnit XML, Markdown, a pull
request's body and the releases page; and the matrix emitted for other machines (``emit``).

Every renderer is a pure function of a list of ``ReleaseResult``; ``write`` puts them in files.
Imports the top of ``patcher`` and the earlier stages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console

from patcher import ui
from patcher.errors import InputError
from patcher.options import ReportOptions
from patcher.reports import jsonfile, junit, markdown, pr, releases, terminal
from patcher.run.results import ErrorKind, ReleaseResult

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
FORMATS = ("table", "json", "junit", "markdown", "pr", "releases")

__all__ = ["jsonfile", "junit", "markdown", "pr", "releases", "terminal", "write", "append_step_summary", "load", "present"]


def load(paths: list[Path], *, expect: list[str] | None = None) -> list[ReleaseResult]:
    """The releases of several reports, in order; a release reported twice keeps its last report.

    ``expect``: the releases there must be a report of; one without becomes an infra-error (its
    pod ended before it wrote one), so that a lost report can never pass for a passed release."""
    merged: dict[str, ReleaseResult] = {}
    for path in paths:
        for result in jsonfile.load(path):
            merged.pop(result.version, None)
            merged[result.version] = result
    for version in expect or []:
        if version not in merged:
            merged[version] = ReleaseResult(version, message="no report: it ended before writing one (see its log)", error=ErrorKind.INFRA)
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


def render(fmt: str, results: list[ReleaseResult], *, spec: str | None = None) -> str:
    """The text of one format (not 'table', which is drawn for a terminal)."""
    renderers = {
        "json": lambda: jsonfile.dumps(results, spec=spec),
        "junit": lambda: junit.dumps(results),
        "markdown": lambda: markdown.render(results, spec=spec),
        "pr": lambda: pr.render(results),
        "releases": lambda: releases.render(results),
    }
    if fmt not in renderers:
        raise InputError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    return renderers[fmt]()


def write(results: list[ReleaseResult], files: ReportOptions, *, spec: str | None = None) -> None:
    """Write the reports asked for, and append the Markdown one to the step summary if any."""
    if files.json_path is not None:
        write_text(files.json_path, jsonfile.dumps(results, spec=spec), "JSON")
    if files.junit_path is not None:
        write_text(files.junit_path, junit.dumps(results), "JUnit")
    text = markdown.render(results, spec=spec)
    if files.markdown_path is not None:
        write_text(files.markdown_path, text, "Markdown")
    if files.pr_path is not None:
        write_text(files.pr_path, pr.render(results), "pull request")
    append_step_summary(text)


def present(results: list[ReleaseResult], files: ReportOptions, *, spec: str | None = None, stdout: Console | None = None) -> None:
    """The end of a run: the reports asked for; the table and details on stdout once a release
    ran tests; a summary line per release on stderr. A single release that stopped before its
    runs is said in one line, as an error (unless it was interrupted: the run's line says so)."""
    write(results, files, spec=spec)
    tested = any(r.baseline is not None or r.patched is not None for r in results)
    if tested and not files.to_stdout:
        terminal.print_report(results, stdout or Console(highlight=False))
    # An interrupted one is not: the run's own line says what stopped it.
    if len(results) == 1 and not tested and results[0].error not in (None, ErrorKind.INTERRUPTED):
        only = results[0]
        message = only.message or only.verdict.value
        ui.error(message if only.version in message else f"{only.version}: {message}")
        return
    if ui.verbosity() >= ui.NORMAL:
        ui.stderr().print()
        for line in terminal.summary_lines(results):
            ui.stderr().print(line)
