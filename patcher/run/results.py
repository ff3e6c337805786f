"""What a run of Go tests produced, and what a release's two runs mean together.

A ``RunResult`` is one ``go test`` run (the baseline, unpatched tree, or the patched tree); a
``ReleaseResult`` pairs them and carries the ``Verdict``. A release that stopped before its runs
could judge it keeps the kind of what stopped it (``ErrorKind``), as nox keeps a session's
``Status`` with its reason: the kind decides the verdict, and the verdicts the exit code.
``to_json`` gives the report schema (``patcher/reports/report.schema.json``)::

    {"version": "v3.5.5", "commit": "<sha>", "go": "1.21", "verdict": "fixed", "error": null,
     "baseline": {"status": "ok", "cases": {"holder-cluster": "fail", ...}, "tests": {...},
                  "duration_s": 0.0}, "patched": {...}, "pre_existing": [], "flaky": []}
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any

from patcher.errors import ExitCode
from patcher.runners.testresults import FINDINGS, LEVELS_BY_NAME, RunResult, RunStatus, Status, new_findings


class ErrorKind(str, enum.Enum):
    """What stopped a release before its runs could judge it, which decides its exit code."""

    INPUT = "input"  # the user's input: an unrecognised code shape, a tree that is not Argo's
    PATCH = "patch"  # the rendered patch is broken: the patch's own failure
    INFRA = "infra"  # the machinery: git, Docker, the Go toolchain, the network
    INTERRUPTED = "interrupted"  # the run stopped before this release finished (Ctrl-C, SIGTERM, a run-wide failure)

    @classmethod
    def of(cls, exit_code: int) -> ErrorKind:
        return {ExitCode.USAGE: cls.INPUT, ExitCode.TESTS_FAILED: cls.PATCH, ExitCode.INTERRUPTED: cls.INTERRUPTED}.get(ExitCode(exit_code), cls.INFRA)


class Verdict(str, enum.Enum):
    FIXED = "fixed"
    ALREADY_CORRECT = "already-correct"
    PASSED = "passed"  # patched passes all, no baseline was run to compare with
    PATCHED = "patched"  # patched and handed over, not tested (--no-test)
    STILL_FAILING = "still-failing"
    BUILD_ERROR = "build-error"
    PATCH_ERROR = "patch-error"
    INPUT_ERROR = "input-error"
    INFRA_ERROR = "infra-error"
    INTERRUPTED = "interrupted"  # not finished: the run stopped first; its finished releases keep theirs

    @property
    def ok(self) -> bool:
        return self in (Verdict.FIXED, Verdict.ALREADY_CORRECT, Verdict.PASSED, Verdict.PATCHED)

    @property
    def exit_code(self) -> ExitCode:
        if self.ok:
            return ExitCode.OK
        by_verdict = {Verdict.INPUT_ERROR: ExitCode.USAGE, Verdict.INFRA_ERROR: ExitCode.INFRA, Verdict.INTERRUPTED: ExitCode.INTERRUPTED}
        return by_verdict.get(self, ExitCode.TESTS_FAILED)


def exit_code(verdicts: list[Verdict]) -> ExitCode:
    """The run's exit code: 1 when a release failed on its merits, else 130 when one was not
    finished (interrupted), else 3 when the machinery failed, else 2 when the only failures were
    input errors, else 0. (A run that is interrupted exits 130 whatever its finished releases did.)"""
    codes = {verdict.exit_code for verdict in verdicts}
    for code in (ExitCode.TESTS_FAILED, ExitCode.INTERRUPTED, ExitCode.INFRA, ExitCode.USAGE):
        if code in codes:
            return code
    return ExitCode.OK


def interrupted(version: str, why: str) -> ReleaseResult:
    """A release the run did not finish: ``why`` says what stopped the run."""
    return ReleaseResult(version, message=f"not finished: {why}", error=ErrorKind.INTERRUPTED)


@dataclasses.dataclass
class ReleaseResult:
    version: str
    commit: str = ""
    go: str = ""
    baseline: RunResult | None = None
    patched: RunResult | None = None
    message: str = ""
    error: ErrorKind | None = None  # what stopped the release before its runs could judge it
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    tree: Path | None = dataclasses.field(default=None, compare=False, repr=False)  # where it ran; not reported

    @property
    def verdict(self) -> Verdict:
        return judge(self.baseline, self.patched, error=self.error)

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def pre_existing(self) -> list[str]:
        """Tests besides the contract's cases that fail after the patch as they did before it."""
        if self.baseline is None or self.patched is None:
            return []
        before = set(self.baseline.failed_other_tests())
        return [name for name in self.patched.failed_other_tests() if name in before]

    @property
    def regressions(self) -> list[str]:
        """Tests besides the contract's cases that fail after the patch and did not before it
        (every failing one, when there is no baseline to compare with)."""
        if self.patched is None:
            return []
        before = set(self.baseline.failed_other_tests()) if self.baseline is not None else set()
        return [name for name in self.patched.failed_other_tests() if name not in before]

    @property
    def flaky(self) -> list[str]:
        """Tests that failed, then passed when run again, in either run."""
        runs = (run for run in (self.baseline, self.patched) if run is not None)
        return sorted({name for run in runs for name, r in run.tests.items() if r.status is Status.FLAKY})

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "commit": self.commit,
            "go": self.go,
            "verdict": self.verdict.value,
            "error": self.error.value if self.error else None,
            "message": self.message,
            "baseline": self.baseline.to_json() if self.baseline else None,
            "patched": self.patched.to_json() if self.patched else None,
            "pre_existing": self.pre_existing,
            "flaky": self.flaky,
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReleaseResult:
        known = {"version", "commit", "go", "verdict", "error", "message", "baseline", "patched", "pre_existing", "flaky"}
        return cls(
            version=data["version"],
            commit=data.get("commit", ""),
            go=data.get("go", ""),
            baseline=RunResult.from_json(data["baseline"]) if data.get("baseline") else None,
            patched=RunResult.from_json(data["patched"]) if data.get("patched") else None,
            message=data.get("message", ""),
            error=_error_of(data),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _error_of(data: dict[str, Any]) -> ErrorKind | None:
    if data.get("error"):
        return ErrorKind(data["error"])
    verdict = data.get("verdict")
    if verdict is None and not data.get("baseline") and not data.get("patched"):
        return ErrorKind.INFRA  # a stand-in for a report that never came (a pod that wrote none)
    by_verdict = {Verdict.INPUT_ERROR.value: ErrorKind.INPUT, Verdict.PATCH_ERROR.value: ErrorKind.PATCH, Verdict.INTERRUPTED.value: ErrorKind.INTERRUPTED}
    return by_verdict.get(verdict) if isinstance(verdict, str) else None


def judge(baseline: RunResult | None, patched: RunResult | None, *, error: ErrorKind | None = None) -> Verdict:
    """The release's verdict from what stopped it, else from its proofs: the Go tests, and the
    real controller against a real API server when it was asked for (each run's ``cluster``).

    A patched proof that timed out while the baseline's finished failed on its merits; a test that
    fails before and after the patch is pre-existing and does not count against it; the
    contract's cases must pass after the patch, in every proof, whatever they did before.
    """
    if error is not None:
        by_error = {ErrorKind.INPUT: Verdict.INPUT_ERROR, ErrorKind.PATCH: Verdict.PATCH_ERROR, ErrorKind.INTERRUPTED: Verdict.INTERRUPTED}
        return by_error.get(error, Verdict.INFRA_ERROR)
    if baseline is None and patched is None:
        return Verdict.PATCHED
    if patched is None:
        return Verdict.INFRA_ERROR
    verdicts = [_judge_proof(baseline, patched)]
    for name, proof in patched.proofs.items():
        before = baseline.proofs.get(name) if baseline is not None else None
        judge_one = _judge_findings if LEVELS_BY_NAME[name].kind == FINDINGS else _judge_proof
        verdicts.append(judge_one(before, proof))
    for worst in (Verdict.INFRA_ERROR, Verdict.BUILD_ERROR, Verdict.STILL_FAILING, Verdict.PASSED, Verdict.FIXED):
        if worst in verdicts:
            return worst
    return Verdict.ALREADY_CORRECT


def _judge_findings(baseline: RunResult | None, patched: RunResult) -> Verdict:
    """A proof of findings (lint) fails on what the patched tree has and the baseline lacks; what
    was there already is reported and not counted. One that could not run is never a pass."""
    runs = [run for run in (baseline, patched) if run is not None]
    if any(run.status in (RunStatus.INFRA_ERROR, RunStatus.TIMEOUT) for run in runs):
        return Verdict.INFRA_ERROR
    if any(run.status is RunStatus.BUILD_ERROR for run in runs):
        return Verdict.BUILD_ERROR
    if new_findings(baseline.findings if baseline is not None else None, patched.findings):
        return Verdict.STILL_FAILING
    return Verdict.ALREADY_CORRECT  # passes without deciding whether the release was fixed


def _judge_proof(baseline: RunResult | None, patched: RunResult) -> Verdict:
    if patched.status is RunStatus.TIMEOUT and baseline is not None and baseline.status is RunStatus.OK:
        return Verdict.STILL_FAILING
    runs = [run for run in (baseline, patched) if run is not None]
    if any(run.status in (RunStatus.INFRA_ERROR, RunStatus.TIMEOUT) for run in runs):
        return Verdict.INFRA_ERROR
    if any(run.status is RunStatus.BUILD_ERROR for run in runs):
        return Verdict.BUILD_ERROR
    before = set(baseline.failed_other_tests()) if baseline is not None else set()
    if not patched.cases_pass or any(name not in before for name in patched.failed_other_tests()):
        return Verdict.STILL_FAILING
    if patched.upstream_status is not None and not patched.upstream_status.passed:
        return Verdict.STILL_FAILING  # the fix's own test must pass after it, whatever it did before
    if baseline is None:
        return Verdict.PASSED
    fixed_its_test = baseline.upstream_status is not None and baseline.upstream_status.failed
    return Verdict.FIXED if not baseline.cases_pass or fixed_its_test else Verdict.ALREADY_CORRECT
