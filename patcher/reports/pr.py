"""A pull request's body, in the Markdown a maintainer pastes: for each ref, what was wrong on
it (the cases failing before the patch), what the change does, the case table before and after,
the upstream tests run, and the one command that reproduces it."""

from __future__ import annotations

import shlex

from patcher.delivery import handover
from patcher.harness.contract import CASE_DESCRIPTIONS, CASE_IDS
from patcher.reports import cells
from patcher.reports.markdown import EMOJI, NOT_RUN, cell, verdict_mark
from patcher.run.results import ReleaseResult, Verdict
from patcher.runners.testresults import RunResult
from patcher.source import mirrors

ISSUE = "https://github.com/argoproj/argo-workflows/issues/12945"


def render(results: list[ReleaseResult]) -> str:
    names = ", ".join(f"`{r.version}`" for r in results)
    parts = [f"### fix: apply (Cluster)WorkflowTemplate podMetadata to templateRef pods ({names})", "", f"Fixes #12945 ({ISSUE}).", ""]
    parts += ["#### What this change does", "", handover.change_description(), ""]
    for result in results:
        parts += _release(result)
    return "\n".join(parts).rstrip() + "\n"


def _release(result: ReleaseResult) -> list[str]:
    commit = f" (`{result.commit[:12]}`)" if result.commit else ""
    parts = [f"#### `{cell(result.version)}`{commit}: {verdict_mark(result.verdict)} {result.verdict.value}", ""]
    parts += _what_was_wrong(result)
    if result.patched is not None or result.baseline is not None:
        parts += _case_table(result) + [""]
    parts += _upstream_tests(result)
    if result.extra.get("reproduce"):
        command, mirror = _portable(str(result.extra["reproduce"]))
        parts += ["Reproduce:", "", "```sh", "pip install argo-patcher", command, "```", ""]
        if mirror:
            parts += ["(Proved here on a local mirror; add `--repo PATH` to use one of yours.)", ""]
    return parts


def _portable(command: str) -> tuple[str, bool]:
    """The command without a ``--repo`` that names a path on the machine that ran it, which means
    nothing to a reviewer; a URL stays. Returns it and whether a path was dropped."""
    args = shlex.split(command)
    if len(args) > 2 and args[1] == "--repo" and not mirrors.is_url(args[2]):
        return shlex.join(args[:1] + args[3:]), True
    return command, False


def _what_was_wrong(result: ReleaseResult) -> list[str]:
    if result.verdict is Verdict.ALREADY_CORRECT:
        return [f"`{cell(result.version)}` already carries the fix: every case passes unpatched, there is nothing to change.", ""]
    failing = cells.failed_cases(result.baseline)
    if result.baseline is None:
        return ["No unpatched run was made (`--no-baseline`), so what fails before the change is not shown here.", ""]
    if not failing:
        return []
    lines = [f"Unpatched, the controller fails {len(failing)} of the {len(CASE_IDS)} cases of the precedence contract "
             "(holder < workflow < template):", ""]
    return lines + [f"- `{case}`: {CASE_DESCRIPTIONS[case]}" for case in failing] + [""]


def _case_table(result: ReleaseResult) -> list[str]:
    further = cells.proof_levels([result])
    rows = ["| Case | Before | After |" + "".join(f" {level.subject} before | {level.subject} after |" for level in further),
            "|---|---|---|" + "---|---|" * len(further)]  # fmt: skip
    for case in CASE_IDS:
        row = f"| `{case}` | {_mark(result.baseline, case)} | {_mark(result.patched, case)} |"
        for level in further:
            row += f" {_mark(cells.proof_run(result.baseline, level.name), case)} | {_mark(cells.proof_run(result.patched, level.name), case)} |"
        rows.append(row)
    if further:
        rows += ["", "Before/After: Argo's own test controller (Go unit tests). "
                 + " ".join(f"{level.subject}: {level.described}." for level in further)]  # fmt: skip
    return rows


def _mark(run: RunResult | None, case: str) -> str:
    return EMOJI[run.cases[case]] if run is not None else NOT_RUN


def _upstream_tests(result: ReleaseResult) -> list[str]:
    run = result.patched
    if run is None:
        return []
    problem = cells.run_problem(run)
    if problem:
        return [f"The patched tree did not get as far as its tests: {cell(problem)}", ""]
    others = run.other_tests
    passed = sorted(name for name, test in others.items() if test.status.passed)
    lines = [f"Argo's own tests run with the change ({len(others)}, besides the precedence harness): "
             f"{len(passed)} pass" + (f", {len(result.regressions)} fail" if result.regressions else "") + "."]
    if result.regressions:
        lines.append("Failing after the change only: " + ", ".join(f"`{cell(n)}`" for n in result.regressions) + ".")
    if result.pre_existing:
        lines.append("Failing before and after it (pre-existing, unrelated): " + ", ".join(f"`{cell(n)}`" for n in result.pre_existing) + ".")
    if result.flaky:
        lines.append("Flaky (passed on a rerun): " + ", ".join(f"`{cell(n)}`" for n in result.flaky) + ".")
    shown = [name for name in passed if "/" not in name][:20]
    if shown:
        more = len([n for n in passed if "/" not in n]) - len(shown)
        lines.append("Passing: " + ", ".join(f"`{cell(n)}`" for n in shown) + (f" and {more} more." if more > 0 else "."))
    return [*lines, ""]

