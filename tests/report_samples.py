"""Hand-built release results, one per verdict, for the report and matrix tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from patcher.harness.contract import CASE_IDS, HARNESS_TEST
from patcher.reports import jsonfile
from patcher.run import results
from patcher.run.results import ErrorKind, ReleaseResult
from patcher.runners.testresults import RunResult, RunStatus, Status, TestResult

ASSERTION = "precedence_test.go:42: label team: want template, got holder"
COMPILE_ERROR = "# github.com/argoproj/argo-workflows/v3/workflow/controller\n./operator.go:12:3: undefined: mergePodMetadata"


def run(
    failing: Iterable[str] = (),
    others: Mapping[str, Status] | None = None,
    *,
    status: RunStatus = RunStatus.OK,
    message: str = "",
    duration_s: float = 30.0,
) -> RunResult:
    """A run where the ``failing`` cases fail and every other case passes."""
    tests: dict[str, TestResult] = {}
    if status is RunStatus.OK:
        failing = set(failing)
        for case in CASE_IDS:
            name = f"{HARNESS_TEST}/{case}"
            failed = case in failing
            output = f"=== RUN   {name}\n    {ASSERTION}\n--- FAIL: {name} (0.01s)\n" if failed else ""
            tests[name] = TestResult(name, Status.FAIL if failed else Status.PASS, 0.01, output)
        for name, test_status in (others or {}).items():
            output = f"=== RUN   {name}\n    {name.lower()}_test.go:7: boom\n" if test_status is Status.FAIL else ""
            tests[name] = TestResult(name, test_status, 0.5, output)
    return RunResult(status, tests, duration_s, message)


def fixed() -> ReleaseResult:
    return ReleaseResult("v3.4.17", "a" * 40, "1.19", run(["holder-cluster", "union"]), run(others={"TestPodMetadata": Status.PASS}))


def already_correct() -> ReleaseResult:
    return ReleaseResult("v3.6.19", "b" * 40, "1.23", run(), run())


def still_failing() -> ReleaseResult:
    return ReleaseResult(
        "v3.7.18",
        "c" * 40,
        "1.24",
        run(["template-over-holder"], {"TestTemplateRef": Status.PASS, "TestSkipped": Status.SKIP}),
        run(["template-over-holder"], {"TestTemplateRef": Status.FAIL, "TestSkipped": Status.SKIP}),
    )


def patch_error() -> ReleaseResult:
    return ReleaseResult(
        "v3.5.15", "d" * 40, "1.21", None, None,
        message='the patched workflow/templateresolution/context.go would not compile: "maps" imported and not used',
        error=ErrorKind.PATCH,
    )


def input_error() -> ReleaseResult:
    return ReleaseResult(
        "v3.6.0", "9" * 40, "1.22", None, None,
        message="workflow/controller/workflowpod.go: addMetadata copies metadata in an unknown way", error=ErrorKind.INPUT,
    )


def patched_untested() -> ReleaseResult:
    return ReleaseResult("v3.4.18", "7" * 40, "1.19", None, None, extra={"shape": "addMetadata range into pod.ObjectMeta"})


def with_cluster(after: RunResult | None = None) -> ReleaseResult:
    """Proved with --cluster too: the real controller fails the holder cases unpatched."""
    before, patched = run(["holder-cluster"]), run()
    before.proofs["cluster"] = run(["holder-cluster", "holder-namespaced"], duration_s=9.0)
    patched.proofs["cluster"] = after if after is not None else run(duration_s=9.0)
    return ReleaseResult("v3.5.6", "6" * 40, "1.21", before, patched, extra={"cluster": {"mode": "container", "seconds": {"check_s": 21.0}}})


def pre_existing() -> ReleaseResult:
    """The full suite: a test that fails before and after the patch does not fail the verdict;
    one that failed and then passed on a rerun is flaky."""
    before = run(["holder-cluster"], {"Test_createWorkflowPod_emissary": Status.FAIL, "TestRetry": Status.PASS})
    after = run(others={"Test_createWorkflowPod_emissary": Status.FAIL, "TestRetry": Status.FLAKY})
    return ReleaseResult("v3.5.5", "8" * 40, "1.21", before, after)


def build_error() -> ReleaseResult:
    return ReleaseResult("v4.0.1", "e" * 40, "1.24", run(["holder-cluster"]), run(status=RunStatus.BUILD_ERROR, message=COMPILE_ERROR))


def infra_error() -> ReleaseResult:
    return ReleaseResult("v4.1.2", "f" * 40, "1.24", None, run(status=RunStatus.TIMEOUT, message="go test timed out after 600s"))


def passed() -> ReleaseResult:
    return ReleaseResult("v4.2.0", "0" * 40, "1.25", None, run())


def interrupted() -> ReleaseResult:
    """A release the run did not finish (Ctrl-C, SIGTERM, a run-wide failure)."""
    return results.interrupted("v3.6.2", "interrupted (Ctrl-C)")


ALL = (fixed, already_correct, still_failing, patch_error, input_error, build_error, infra_error, passed, patched_untested, pre_existing, with_cluster,
       interrupted)  # fmt: skip


def every_verdict() -> list[ReleaseResult]:
    return [make() for make in ALL]


def schema_errors(document: Any) -> list[str]:
    """Where a report document breaks patcher/reports/report.schema.json (none: it is valid)."""
    schema = json.loads((Path(jsonfile.__file__).parent / "report.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
