"""What every report format shows the same way: a case's before and after, counts, excerpts."""

from __future__ import annotations

import re
from collections.abc import Iterable

from patcher.harness.contract import CASE_IDS
from patcher.run.results import ReleaseResult, Verdict
from patcher.runners.testresults import FINDINGS, LEVELS_BY_NAME, PROOF_LEVELS, Finding, ProofLevel, RunResult, RunStatus, Status, TestResult, new_findings

SYMBOLS = {Status.PASS: "✓", Status.FAIL: "✗", Status.SKIP: "○", Status.ERROR: "!", Status.FLAKY: "⟳"}
NOT_RUN = "–"
LEGEND = "✓ pass  ✗ fail  ○ skip  ! error (did not run or did not finish)  ⟳ flaky (passed on a rerun)  – not run;  before→after"

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

OK_VERDICTS = tuple(verdict for verdict in Verdict if verdict.ok)


def abbreviations(cases: Iterable[str] = CASE_IDS) -> dict[str, str]:
    """Short column headers: the initials of a case id's words (``workflow-over-holder`` → ``woh``)."""
    short = {case: "".join(word[0] for word in case.split("-")) for case in cases}
    if len(set(short.values())) != len(short):
        short = {case: str(n) for n, case in enumerate(short, 1)}
    return short


GO = "go"  # the proof by Argo's own Go tests and the harness; the further ones are PROOF_LEVELS


def proof_run(run: RunResult | None, proof: str = GO) -> RunResult | None:
    """A tree's run as one proof saw it: its Go tests, or a further proof's (``cluster``)."""
    return run if proof == GO or run is None else run.proofs.get(proof)


def proof_levels(results: Iterable[ReleaseResult]) -> list[ProofLevel]:
    """The further proofs some release's patched run has, in their order."""
    results = list(results)
    return [level for level in PROOF_LEVELS if any(r.patched is not None and level.name in r.patched.proofs for r in results)]


def symbol(run: RunResult | None, case: str) -> str:
    return SYMBOLS[run.cases[case]] if run is not None else NOT_RUN


def case_cell(result: ReleaseResult, case: str, proof: str = "go") -> str:
    """``✗→✓``: the case in the baseline, then in the patched run (of one proof)."""
    return f"{symbol(proof_run(result.baseline, proof), case)}→{symbol(proof_run(result.patched, proof), case)}"


def proof_symbol(run: RunResult | None) -> str:
    """One mark for a further proof's cases: ✓, ✗ with the number failing, ! or –."""
    if run is None:
        return NOT_RUN
    if run.status is not RunStatus.OK:
        return SYMBOLS[Status.ERROR]
    failed = len(failed_cases(run))
    return f"✗{failed}" if failed else "✓"


def proof_cell(result: ReleaseResult, proof: str) -> str:
    """``✗2→✓``: a further proof's cases before and after the patch; for one of findings
    (lint), the baseline's findings and the patched tree's new ones (``3→✓``, ``3→✗1``)."""
    before, after = proof_run(result.baseline, proof), proof_run(result.patched, proof)
    if LEVELS_BY_NAME[proof].kind == FINDINGS:
        return f"{findings_symbol(before)}→{new_findings_symbol(before, after)}" if after is not None else f"{NOT_RUN}→{NOT_RUN}"
    return f"{proof_symbol(before)}→{proof_symbol(after)}"


def proof_counts(result: ReleaseResult, proof: str) -> str:
    """``13/15 → 15/15``: a further proof's cases passing before and after the patch; for one of
    findings, ``3 → 0 new``."""
    before, after = proof_run(result.baseline, proof), proof_run(result.patched, proof)
    if LEVELS_BY_NAME[proof].kind == FINDINGS:
        if after is None:
            return NOT_RUN
        found = len(before.findings) if before is not None and before.status is RunStatus.OK else NOT_RUN
        new = len(lint_new(result, proof)) if after is not None and after.status is RunStatus.OK else SYMBOLS[Status.ERROR]
        return f"{found} → {new} new"
    return f"{passing_cases(before)} → {passing_cases(after)}"


def findings_symbol(run: RunResult | None) -> str:
    """The number of findings a run of a linter had (✓ for none), ! when it could not run."""
    if run is None:
        return NOT_RUN
    if run.status is not RunStatus.OK:
        return SYMBOLS[Status.ERROR]
    return str(len(run.findings)) if run.findings else "✓"


def new_findings_symbol(baseline: RunResult | None, patched: RunResult | None) -> str:
    """✓ when the patched tree has no finding the baseline lacks, ✗ and their number otherwise."""
    if patched is None:
        return NOT_RUN
    if patched.status is not RunStatus.OK or (baseline is not None and baseline.status is not RunStatus.OK):
        return SYMBOLS[Status.ERROR]
    new = new_findings(baseline.findings if baseline is not None else None, patched.findings)
    return f"✗{len(new)}" if new else "✓"


def lint_new(result: ReleaseResult, proof: str = "lint") -> list[Finding]:
    """The findings of a proof of findings that the patch brought."""
    before, after = proof_run(result.baseline, proof), proof_run(result.patched, proof)
    if after is None:
        return []
    return new_findings(before.findings if before is not None else None, after.findings)


def passing_cases(run: RunResult | None) -> str:
    """``12/15``, or ``–`` when the run did not happen."""
    if run is None:
        return NOT_RUN
    return f"{sum(s.passed for s in run.cases.values())}/{len(CASE_IDS)}"


def failed_cases(run: RunResult | None) -> list[str]:
    if run is None:
        return []
    return [case for case, status in run.cases.items() if not status.passed]


def failed_regression_tests(run: RunResult | None) -> list[TestResult]:
    if run is None:
        return []
    return [t for name, t in sorted(run.other_tests.items()) if t.status.failed]


def regression_symbol(run: RunResult | None) -> str:
    """One mark for all the upstream regression tests of a run: ✓, ✗ with a count, ! or –."""
    if run is not None and run.status is not RunStatus.OK:
        return SYMBOLS[Status.ERROR]
    if run is None or not run.other_tests:
        return NOT_RUN
    failed = len(failed_regression_tests(run))
    return f"✗{failed}" if failed else "✓"


def regression_cell(result: ReleaseResult) -> str:
    return f"{regression_symbol(result.baseline)}→{regression_symbol(result.patched)}"


def upstream_symbol(run: RunResult | None) -> str:
    """The upstream-style test as one mark: ✓, ✗, ⟳, or – where it did not run."""
    status = run.upstream_status if run is not None else None
    return SYMBOLS[status] if status is not None else NOT_RUN


def upstream_cell(result: ReleaseResult) -> str:
    """``✗→✓``: the upstream-style regression test before and after the patch."""
    return f"{upstream_symbol(result.baseline)}→{upstream_symbol(result.patched)}"


def has_upstream_test(results: Iterable[ReleaseResult]) -> bool:
    return any(r.patched is not None and r.patched.upstream_tests for r in results)


def excerpt(output: str, max_lines: int = 20, max_chars: int = 2000) -> str:
    """The end of a test's output, where Go puts the failing assertion and the FAIL line."""
    lines = ANSI.sub("", output).rstrip().splitlines()
    kept = lines[-max_lines:]
    text = "\n".join(kept)
    if len(text) > max_chars:
        text = text[-max_chars:]
        text = text[text.find("\n") + 1 :] if "\n" in text else text
    omitted = len(lines) - len(text.splitlines())
    return (f"… ({omitted} earlier line{'s' * (omitted != 1)} omitted)\n" if omitted > 0 else "") + text


def run_problem(run: RunResult | None) -> str:
    """Why a run did not get as far as test results, in one line (``build-error: undefined: x``), or ''."""
    if run is None or run.status is RunStatus.OK:
        return ""
    return f"{run.status.value}: {first_line(run.message)}" if run.message.strip() else run.status.value


def release_seconds(result: ReleaseResult) -> float:
    """The release's wall time if the matrix measured it, else the sum of its runs."""
    measured = result.extra.get("elapsed_s")
    if isinstance(measured, (int, float)):
        return float(measured)
    return sum(run.duration_s for run in (result.baseline, result.patched) if run is not None)


def counts(results: Iterable[ReleaseResult]) -> dict[Verdict, int]:
    found: dict[Verdict, int] = {}
    for result in results:
        found[result.verdict] = found.get(result.verdict, 0) + 1
    return found


def headline(results: list[ReleaseResult]) -> str:
    """``3 releases: 2 fixed, 1 still-failing``."""
    tally = ", ".join(f"{n} {verdict.value}" for verdict, n in sorted(counts(results).items(), key=lambda kv: list(Verdict).index(kv[0])))
    return f"{len(results)} release{'s' * (len(results) != 1)}: {tally or 'none'}"


def first_line(text: str) -> str:
    """The first line that says something: not blank, and not the ``# package`` header that Go
    puts before a package's compile errors."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return next((line for line in lines if not line.startswith("# ")), lines[0] if lines else "")


def failed_tests(run: RunResult | None) -> list[TestResult]:
    """The failed or errored tests, less the parents whose failure is only their subtests'."""
    failures = run.failures if run is not None else []
    names = {t.name for t in failures}
    return [t for t in failures if not any(other.startswith(t.name + "/") for other in names)]


def cached_note(result: ReleaseResult) -> str:
    """``cached`` when the runs were replayed from an earlier run of the same inputs (as go test says it)."""
    runs = [run for run in (result.baseline, result.patched) if run is not None]
    cached = [run for run in runs if run.cached]
    if not cached:
        return ""
    return "cached" if len(cached) == len(runs) else ("baseline cached" if result.baseline in cached else "patched run cached")


def _notes(result: ReleaseResult) -> str:
    """What a passing verdict leaves aside: pre-existing failures and flaky tests; and whether
    its runs were replayed."""
    notes = [cached_note(result)] if cached_note(result) else []
    if result.pre_existing:
        notes.append(f"{len(result.pre_existing)} pre-existing failure{'s' * (len(result.pre_existing) != 1)}")
    if result.flaky:
        notes.append(f"{len(result.flaky)} flaky")
    return f" ({', '.join(notes)})" if notes else ""


def _counted(result: ReleaseResult, level: ProofLevel) -> str:
    if level.kind == FINDINGS:
        before = proof_run(result.baseline, level.name)
        there = f" ({len(before.findings)} there before)" if before is not None and before.findings else ""
        return f"; {level.where}: no new finding{there}"
    return f"; {level.where} {proof_counts(result, level.name).replace(' → ', ' before, ')} after"


def case_levels(results: Iterable[ReleaseResult]) -> list[ProofLevel]:
    """The further proofs of cases some release has (their per-case tables)."""
    return [level for level in proof_levels(results) if level.kind != FINDINGS]


def findings_levels(results: Iterable[ReleaseResult]) -> list[ProofLevel]:
    return [level for level in proof_levels(results) if level.kind == FINDINGS]


def reason(result: ReleaseResult) -> str:
    """One line on why the release got its verdict."""
    verdict, base, patched = result.verdict, result.baseline, result.patched
    if verdict is Verdict.FIXED:
        further = "".join(_counted(result, level) for level in proof_levels([result]))
        return f"cases passing {passing_cases(base)} before, {passing_cases(patched)} after" + further + _notes(result)
    if verdict is Verdict.ALREADY_CORRECT:
        return f"cases passing {passing_cases(patched)} before and after" + _notes(result)
    if verdict is Verdict.PASSED:
        return f"cases passing {passing_cases(patched)} (no baseline run)" + _notes(result)
    if verdict is Verdict.PATCHED:
        return "patched, not tested" + (f" ({result.extra['shape']})" if result.extra.get("shape") else "")
    if verdict is Verdict.STILL_FAILING:
        if patched is not None and patched.status is RunStatus.TIMEOUT:
            return f"the patched run timed out while the baseline finished: {first_line(patched.message)}"
        parts = []
        if failed_cases(patched):
            parts.append("cases " + ", ".join(failed_cases(patched)))
        if result.regressions:
            parts.append("tests " + ", ".join(result.regressions))
        if patched is not None and patched.upstream_status is not None and not patched.upstream_status.passed:
            parts.append("the upstream-style test " + ", ".join(sorted(n for n, t in patched.upstream_tests.items() if t.status.failed)))
        for level in PROOF_LEVELS:
            if level.kind == FINDINGS:
                brought = lint_new(result, level.name)
                if brought:
                    parts.append(f"{level.where}, {len(brought)} new finding{'s' * (len(brought) != 1)}: " + "; ".join(f.describe() for f in brought[:3]))
                continue
            failing = failed_cases(proof_run(patched, level.name))
            if failing:
                parts.append(f"{level.where}, cases " + ", ".join(failing))
        return "after the patch: fail " + "; ".join(parts)
    runs = [("baseline", base), ("patched", patched)]
    for level in PROOF_LEVELS:
        runs += [(f"baseline {level.where}", proof_run(base, level.name)), (f"patched {level.where}", proof_run(patched, level.name))]
    problems = [f"{name}: {run_problem(run)}" for name, run in runs if run_problem(run)]
    return first_line(result.message) or "; ".join(problems) or ("no patched run" if patched is None else verdict.value)
