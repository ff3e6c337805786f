"""What one run of Go tests produced: each test's and case's status, and the run's own.

A ``RunResult`` is one ``go test`` run of a tree (the baseline, unpatched tree, or the patched
tree); another proof of the same tree (its controller against a real API server) is kept beside
it as a ``RunResult`` of its own. ``run.results`` pairs a release's two runs and judges them.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from patcher.harness.contract import CASE_IDS, HARNESS_TEST, UPSTREAM_TESTS, case_of


class Status(str, enum.Enum):
    """The outcome of one test or case."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"
    FLAKY = "flaky"  # failed, then passed when run again (--rerun-fails)

    @property
    def passed(self) -> bool:
        return self in (Status.PASS, Status.FLAKY)

    @property
    def failed(self) -> bool:
        return self in (Status.FAIL, Status.ERROR)


class RunStatus(str, enum.Enum):
    """Whether a run got as far as running tests."""

    OK = "ok"
    BUILD_ERROR = "build-error"
    INFRA_ERROR = "infra-error"
    TIMEOUT = "timeout"


CASES, FINDINGS = "cases", "findings"


@dataclasses.dataclass(frozen=True)
class ProofLevel:
    """A further proof of a tree, as the reports name it: one whose run holds the contract's
    cases (``CASES``: the real controller), or one whose run holds findings (``FINDINGS``: lint)."""

    name: str  # its key in the report (report.schema.json) and in ``RunResult.proofs``
    where: str  # in a sentence: "on a real API server"
    column: str  # the terminal table's column
    heading: str  # a Markdown column
    title: str  # its own table's title
    subject: str  # what ran, in a pull request's table: "Real controller"
    described: str  # what that is, in a sentence
    kind: str = CASES

    @property
    def lower_title(self) -> str:
        return self.title[:1].lower() + self.title[1:]


PROOF_LEVELS = (
    ProofLevel(
        "cluster", "on a real API server", "cluster", "Real API server", "The real workflow-controller against a real API server (--cluster)",
        "Real controller", "the release's `workflow-controller` binary against a real API server, the cases checked on the Pods it created",
    ),
    ProofLevel(
        "node", "on a real node", "node", "Real node", "The release's own Argo on a real node, its workflows run as pods (--cluster=node)",
        "Real pods", "the release's own Argo installed on a private single-node cluster with the images built from the tree, "
        "the cases' workflows run as real pods (and a retry, an exit handler, every workflow Succeeded)",
    ),
    ProofLevel(
        "lint", "under upstream's linters", "lint", "Lint", "Upstream's linters on the changed packages: the ref's golangci-lint and go vet (--lint)",
        "Lint", "the golangci-lint version the ref pins, with its .golangci.yml and build tags, and go vet, over the packages the change touches",
        kind=FINDINGS,
    ),
)  # fmt: skip
LEVELS_BY_NAME = {level.name: level for level in PROOF_LEVELS}
PROOF_NAMES = tuple(level.name for level in PROOF_LEVELS)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem a linter reports at a place in the code."""

    linter: str  # "errcheck", "govet", "vet" (go vet itself)
    file: str  # relative to the tree
    line: int
    text: str

    @property
    def key(self) -> tuple[str, str, str]:
        """What matches a finding in the baseline to one in the patched tree: lines move when code
        is added above them, the linter, file and message do not."""
        return self.linter, self.file, self.text

    def to_json(self) -> dict[str, Any]:
        return {"linter": self.linter, "file": self.file, "line": self.line, "text": self.text}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(str(data["linter"]), str(data["file"]), int(data["line"]), str(data["text"]))

    def describe(self) -> str:
        return f"{self.file}:{self.line}: {self.text} ({self.linter})"


def new_findings(baseline: list[Finding] | None, patched: list[Finding]) -> list[Finding]:
    """The patched tree's findings the baseline lacks, each baseline finding matching one patched
    finding of its key (the nearest line first); all of them without a baseline."""
    if baseline is None:
        return list(patched)
    left: dict[tuple[str, str, str], list[int]] = {}
    for finding in baseline:
        left.setdefault(finding.key, []).append(finding.line)
    new = []
    for finding in sorted(patched, key=lambda f: (f.key, f.line)):
        lines = left.get(finding.key)
        if lines:
            lines.remove(min(lines, key=lambda line: abs(line - finding.line)))
        else:
            new.append(finding)
    return sorted(new, key=lambda f: (f.file, f.line, f.linter))


@dataclasses.dataclass
class TestResult:
    __test__ = False  # not a pytest class, despite its name

    name: str
    status: Status
    duration_s: float = 0.0
    output: str = ""
    package: str = ""  # the import path, where known (it is not kept in reports)


@dataclasses.dataclass
class RunResult:
    status: RunStatus
    tests: dict[str, TestResult] = dataclasses.field(default_factory=dict)
    duration_s: float = 0.0
    message: str = ""
    cached: bool = False  # replayed from an earlier run of exactly the same inputs (resultcache)
    # Further proofs of the same tree, by name: its controller binary against a real API server
    # ("cluster", --cluster), its cases as tests.
    proofs: dict[str, RunResult] = dataclasses.field(default_factory=dict)
    # A proof of FINDINGS (lint): what it found in the tree, and what ran (versions).
    findings: list[Finding] = dataclasses.field(default_factory=list)
    tool: str = ""

    @property
    def cases(self) -> dict[str, Status]:
        """Every contract case's status; a case that did not run is an error."""
        found = {case_of(name): result.status for name, result in self.tests.items()}
        return {case: found.get(case, Status.ERROR) for case in CASE_IDS}

    @property
    def other_tests(self) -> dict[str, TestResult]:
        """Tests other than the harness, its cases and the upstream-style test: upstream's own."""
        return {n: r for n, r in self.tests.items() if _top_level(n) not in (HARNESS_TEST, *UPSTREAM_TESTS)}

    @property
    def upstream_tests(self) -> dict[str, TestResult]:
        """The upstream-style regression test argo-patcher adds (harness.upstream), its subtests too."""
        return {n: r for n, r in self.tests.items() if _top_level(n) in UPSTREAM_TESTS}

    @property
    def upstream_status(self) -> Status | None:
        """The upstream-style test as one: failed when one of its tests failed; None when it did not run."""
        statuses = [r.status for n, r in self.upstream_tests.items() if n in UPSTREAM_TESTS]
        if not statuses:
            return None
        if any(status.failed for status in statuses):
            return Status.FAIL
        return Status.FLAKY if Status.FLAKY in statuses else Status.PASS

    @property
    def failures(self) -> list[TestResult]:
        return [r for r in self.tests.values() if r.status.failed]

    @property
    def cases_pass(self) -> bool:
        """Ran, and every case of the contract passed."""
        return self.status is RunStatus.OK and all(status.passed for status in self.cases.values())

    @property
    def all_pass(self) -> bool:
        """Ran, every case passed, and no other test failed."""
        return self.cases_pass and not any(r.status.failed for r in self.other_tests.values())

    def failed_other_tests(self) -> list[str]:
        return sorted(name for name, r in self.other_tests.items() if r.status.failed)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "cases": {case: status.value for case, status in self.cases.items()},
            "tests": {name: r.status.value for name, r in sorted(self.other_tests.items())},
            **({"upstream_test": {name: r.status.value for name, r in sorted(self.upstream_tests.items())}} if self.upstream_tests else {}),
            "duration_s": round(self.duration_s, 3),
            "message": self.message,
            "cached": self.cached,
            **{name: proof.to_json() for name, proof in self.proofs.items()},
            **({"findings": [f.to_json() for f in self.findings]} if self.findings or self.tool else {}),
            **({"tool": self.tool} if self.tool else {}),
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
        tests.update({n: TestResult(n, Status(s), output=failures.get(n, "")) for n, s in data.get("upstream_test", {}).items()})
        proofs = {name: cls.from_json(data[name]) for name in PROOF_NAMES if data.get(name)}
        findings = [Finding.from_json(f) for f in data.get("findings") or []]
        return cls(
            RunStatus(data["status"]), tests, data.get("duration_s", 0.0), data.get("message", ""), bool(data.get("cached", False)), proofs,
            findings, str(data.get("tool", "")),
        )  # fmt: skip


def _top_level(name: str) -> str:
    """The top-level test of a test or subtest name (``TestX/case`` -> ``TestX``)."""
    return name.split("/", 1)[0]
