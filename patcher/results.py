"""What a run of Go tests produced, and what a release's two runs mean together.

A ``RunResult`` is one ``go test`` run (the baseline, unpatched tree, or the patched tree); a
``ReleaseResult`` pairs them and carries the ``Verdict``. ``to_json`` gives the report schema::

    {"version": "v3.5.5", "commit": "<sha>", "go": "1.21", "verdict": "fixed",
     "baseline": {"status": "ok", "cases": {"holder-cluster": "fail", ...}, "tests": {...},
                  "duration_s": 0.0}, "patched": {...}}
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any

from patcher.contract import CASE_IDS, HARNESS_TEST, case_of


class Status(str, enum.Enum):
    """The outcome of one test or case."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


class RunStatus(str, enum.Enum):
    """Whether a run got as far as running tests."""

    OK = "ok"
    BUILD_ERROR = "build-error"
    INFRA_ERROR = "infra-error"
    TIMEOUT = "timeout"


class Verdict(str, enum.Enum):
    FIXED = "fixed"
    ALREADY_CORRECT = "already-correct"
    STILL_FAILING = "still-failing"
    PATCH_ERROR = "patch-error"
    BUILD_ERROR = "build-error"
    INFRA_ERROR = "infra-error"
    PASSED = "passed"  # patched passes all, no baseline was run to compare with


@dataclasses.dataclass
class TestResult:
    __test__ = False  # not a pytest class, despite its name

    name: str
    status: Status
    duration_s: float = 0.0
    output: str = ""


@dataclasses.dataclass
class RunResult:
    status: RunStatus
    tests: dict[str, TestResult] = dataclasses.field(default_factory=dict)
    duration_s: float = 0.0
    message: str = ""

    @property
    def cases(self) -> dict[str, Status]:
        """Every contract case's status; a case that did not run is an error."""
        found = {case_of(name): result.status for name, result in self.tests.items()}
        return {case: found.get(case, Status.ERROR) for case in CASE_IDS}

    @property
    def other_tests(self) -> dict[str, TestResult]:
        """Tests other than the harness and its cases: the upstream regression tests."""
        return {n: r for n, r in self.tests.items() if n != HARNESS_TEST and not n.startswith(HARNESS_TEST + "/")}

    @property
    def failures(self) -> list[TestResult]:
        return [r for r in self.tests.values() if r.status in (Status.FAIL, Status.ERROR)]

    @property
    def all_pass(self) -> bool:
        """Ran, every case passed, and no other test failed."""
        if self.status is not RunStatus.OK:
            return False
        if any(status is not Status.PASS for status in self.cases.values()):
            return False
        return all(r.status in (Status.PASS, Status.SKIP) for r in self.other_tests.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "cases": {case: status.value for case, status in self.cases.items()},
            "tests": {name: r.status.value for name, r in sorted(self.other_tests.items())},
            "duration_s": round(self.duration_s, 3),
            "message": self.message,
            "failures": {r.name: r.output for r in self.failures if r.output},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        failures = data.get("failures", {})
        tests = {
            f"{HARNESS_TEST}/{case}": TestResult(f"{HARNESS_TEST}/{case}", Status(s), output=failures.get(f"{HARNESS_TEST}/{case}", ""))
            for case, s in data.get("cases", {}).items()
        }
        tests.update({n: TestResult(n, Status(s), output=failures.get(n, "")) for n, s in data.get("tests", {}).items()})
        return cls(RunStatus(data["status"]), tests, data.get("duration_s", 0.0), data.get("message", ""))


@dataclasses.dataclass
class ReleaseResult:
    version: str
    commit: str = ""
    go: str = ""
    baseline: RunResult | None = None
    patched: RunResult | None = None
    message: str = ""
    patch_error: bool = False
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    tree: Path | None = dataclasses.field(default=None, compare=False, repr=False)  # where it ran; not reported

    @property
    def verdict(self) -> Verdict:
        return judge(self.baseline, self.patched, patch_error=self.patch_error)

    @property
    def ok(self) -> bool:
        return self.verdict in (Verdict.FIXED, Verdict.ALREADY_CORRECT, Verdict.PASSED)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "commit": self.commit,
            "go": self.go,
            "verdict": self.verdict.value,
            "message": self.message,
            "baseline": self.baseline.to_json() if self.baseline else None,
            "patched": self.patched.to_json() if self.patched else None,
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReleaseResult:
        known = {"version", "commit", "go", "verdict", "message", "baseline", "patched"}
        return cls(
            version=data["version"],
            commit=data.get("commit", ""),
            go=data.get("go", ""),
            baseline=RunResult.from_json(data["baseline"]) if data.get("baseline") else None,
            patched=RunResult.from_json(data["patched"]) if data.get("patched") else None,
            message=data.get("message", ""),
            patch_error=data.get("verdict") == Verdict.PATCH_ERROR.value,
            extra={k: v for k, v in data.items() if k not in known},
        )


def judge(baseline: RunResult | None, patched: RunResult | None, *, patch_error: bool = False) -> Verdict:
    if patch_error:
        return Verdict.PATCH_ERROR
    runs = [run for run in (baseline, patched) if run is not None]
    if not runs or patched is None or any(run.status in (RunStatus.INFRA_ERROR, RunStatus.TIMEOUT) for run in runs):
        return Verdict.INFRA_ERROR
    if any(run.status is RunStatus.BUILD_ERROR for run in runs):
        return Verdict.BUILD_ERROR
    if not patched.all_pass:
        return Verdict.STILL_FAILING
    if baseline is None:
        return Verdict.PASSED
    return Verdict.ALREADY_CORRECT if baseline.all_pass else Verdict.FIXED
