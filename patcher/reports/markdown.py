"""The report as GitHub-flavoured Markdown, for a pull request or a job's step summary."""

from __future__ import annotations

import re

from patcher import __version__
from patcher.harness.contract import CASE_IDS
from patcher.reports import cells
from patcher.run.progress import elapsed
from patcher.run.results import ReleaseResult, Verdict
from patcher.runners.testresults import RunResult, Status

EMOJI = {Status.PASS: "✅", Status.FAIL: "❌", Status.SKIP: "⏭️", Status.ERROR: "⚠️", Status.FLAKY: "🔁"}
NOT_RUN = "➖"
TITLE = "argo-patcher: podMetadata precedence backport"


def verdict_mark(verdict: Verdict) -> str:
    if verdict in cells.OK_VERDICTS:
        return "✅"
    if verdict is Verdict.INTERRUPTED:
        return "⏹️"
    return "⚠️" if verdict in (Verdict.INFRA_ERROR, Verdict.INPUT_ERROR) else "❌"


def cell(text: str) -> str:
    """Text safe inside a table cell: one line, pipes and HTML escaped."""
    text = " ".join(text.split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def fenced(text: str, info: str = "text") -> str:
    """A code block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def _mark(run: RunResult | None, case: str) -> str:
    return EMOJI[run.cases[case]] if run is not None else NOT_RUN


def _regression_mark(run: RunResult | None) -> str:
    symbol = cells.regression_symbol(run)
    if symbol == cells.NOT_RUN:
        return NOT_RUN
    return "✅" if symbol == "✓" else f"❌ {symbol[1:]}"


def _upstream_mark(run: RunResult | None) -> str:
    status = run.upstream_status if run is not None else None
    return EMOJI[status] if status is not None else NOT_RUN


def summary_table(results: list[ReleaseResult]) -> str:
    further = cells.proof_levels(results)
    upstream = cells.has_upstream_test(results)
    rows = ["| Release | Verdict | Cases before | Cases after | Regression tests |" + (" Upstream-style test |" if upstream else "")
            + "".join(f" {level.heading} |" for level in further) + " Time |",
            "|---|---|---|---|---|" + ("---|" if upstream else "") + "---|" * len(further) + "---|"]  # fmt: skip
    for r in results:
        about = ", ".join(part for part in (f"`{r.commit[:12]}`" if r.commit else "", f"Go {r.go}" if r.go else "") if part)
        release = f"**{cell(r.version)}**" + (f" ({about})" if about else "")
        regression = f"{_regression_mark(r.baseline)} → {_regression_mark(r.patched)}"
        on_cluster = (f" {_upstream_mark(r.baseline)} → {_upstream_mark(r.patched)} |" if upstream else "") + "".join(
            f" {cells.proof_counts(r, level.name)} |" for level in further
        )
        rows.append(
            f"| {release} | {verdict_mark(r.verdict)} {r.verdict.value} | {cells.passing_cases(r.baseline)} "
            f"| {cells.passing_cases(r.patched)} | {regression} |{on_cluster} {elapsed(cells.release_seconds(r))} |"
        )
    return "\n".join(rows)


def findings_table(results: list[ReleaseResult], proof: str) -> str:
    """A row per release: what ran, the baseline's findings, the patched tree's new ones (listed)."""
    rows = ["| Release | Tool | Before | New after |", "|---|---|---|---|"]
    for r in results:
        before, after = cells.proof_run(r.baseline, proof), cells.proof_run(r.patched, proof)
        if after is None:
            continue
        new = "<br>".join(cell(f.describe()) for f in cells.lint_new(r, proof)) or cells.new_findings_symbol(before, after)
        rows.append(f"| {cell(r.version)} | {cell(after.tool or cells.run_problem(after))} | {cells.findings_symbol(before)} | {new} |")
    return "\n".join(rows)


def case_table(results: list[ReleaseResult], proof: str = cells.GO) -> str:
    """A row per case, a column per release (releases are fewer than cases)."""
    rows = ["| Case | " + " | ".join(cell(r.version) for r in results) + " |", "|---|" + "---|" * len(results)]
    for case in CASE_IDS:
        marks = (f"{_mark(cells.proof_run(r.baseline, proof), case)}→{_mark(cells.proof_run(r.patched, proof), case)}" for r in results)
        rows.append(f"| `{case}` | " + " | ".join(marks) + " |")
    return "\n".join(rows)


def _run_section(run_name: str, run: RunResult | None, with_output: bool) -> list[str]:
    problem = cells.run_problem(run)
    if problem:
        details = ["", fenced(cells.excerpt(run.message, max_lines=40))] if run is not None and run.message.strip() else []
        return [f"**{run_name}**: {cell(problem)}", *details, ""]
    parts = []
    for test in cells.failed_tests(run):
        outcome = "failed" if test.status is Status.FAIL else "error"
        parts.append(f"**{run_name}**: `{test.name}` {outcome}")
        if with_output and test.output:
            parts += ["", fenced(cells.excerpt(test.output))]
        parts.append("")
    return parts


def _aside(result: ReleaseResult) -> list[str]:
    """What a verdict leaves aside, said where a maintainer reads the details."""
    lines = []
    if result.pre_existing:
        lines.append("Pre-existing (failing before and after the patch): " + ", ".join(f"`{cell(n)}`" for n in result.pre_existing))
    if result.flaky:
        lines.append("Flaky (passed on a rerun): " + ", ".join(f"`{cell(n)}`" for n in result.flaky))
    return [line + "\n" for line in lines]


def details(result: ReleaseResult) -> str:
    summary = cell(f"{result.version}: {result.verdict.value} — {cells.reason(result)}")
    body: list[str] = _aside(result)
    if result.message:
        body += [fenced(cells.excerpt(result.message, max_lines=40)), ""]
    body += _run_section("patched", result.patched, with_output=True)
    body += _run_section("baseline", result.baseline, with_output=False)
    return "\n".join([f"<details><summary>{verdict_mark(result.verdict)} {summary}</summary>", "", *body, "", "</details>"])


def render(results: list[ReleaseResult], *, spec: str | None = None) -> str:
    about = f"argo-patcher {__version__}" + (f" · versions `{spec}`" if spec else "")
    parts = [f"## {TITLE}", "", f"**{cells.headline(results)}** · {about}", ""]
    if results:
        parts += [summary_table(results), ""]
        parts += ["<details><summary>Per case: baseline → patched</summary>", "", case_table(results), "",
                  f"{EMOJI[Status.PASS]} pass · {EMOJI[Status.FAIL]} fail · {EMOJI[Status.SKIP]} skip · "
                  f"{EMOJI[Status.ERROR]} error · {NOT_RUN} not run", "", "</details>", ""]
        for level in cells.case_levels(results):
            parts += [f"<details><summary>Per case, {level.lower_title}: baseline → patched</summary>",
                      "", case_table(results, level.name), "", "</details>", ""]  # fmt: skip
        for level in cells.findings_levels(results):
            parts += [f"<details><summary>{level.title}</summary>", "", findings_table(results, level.name), "", "</details>", ""]
        parts += [details(r) + "\n" for r in results if not r.ok or r.pre_existing or r.flaky]
    return "\n".join(parts).rstrip() + "\n"
