"""The report as JUnit XML: a test suite per release and run, a test case per case and test.

Suites are named ``v3.5.5 baseline`` and ``v3.5.5 patched``; class names are ``v3_5_5.baseline``
because CI systems (Jenkins, GitLab) split class names at dots into package and class. The
baseline's failures are reported as failures: they are what the release does before the patch.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from patcher.harness.contract import HARNESS_TEST
from patcher.reports import cells
from patcher.run.results import ErrorKind, ReleaseResult
from patcher.runners.testresults import FINDINGS, LEVELS_BY_NAME, Finding, RunResult, Status

_ANSI = cells.ANSI
# Characters XML 1.0 cannot carry at all, not even escaped (Go test output may hold any byte).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", _ANSI.sub("", text))


def _testcase(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")


def _outcome(case: ET.Element, tag: str, message: str, body: str = "", kind: str = "") -> None:
    element = ET.SubElement(case, tag, message=clean(cells.first_line(message))[:500])
    if kind:
        element.set("type", kind)
    if body:
        element.text = clean(body)


def _suite_for_run(root: ET.Element, result: ReleaseResult, run_name: str, run: RunResult) -> None:
    classname = f"{result.version.replace('.', '_')}.{run_name.replace(' ', '_')}"
    suite = ET.SubElement(root, "testsuite", name=f"{result.version} {run_name}", time=f"{run.duration_s:.3f}")
    properties = ET.SubElement(suite, "properties")
    for key, value in (("version", result.version), ("commit", result.commit), ("go", result.go), ("run", run_name),
                       ("run-status", run.status.value), ("verdict", result.verdict.value)):
        ET.SubElement(properties, "property", name=key, value=clean(value))
    problem = cells.run_problem(run)
    pre_existing = set(result.pre_existing) if run is result.patched else set()  # the cluster proof has cases only
    by_name = {f"{HARNESS_TEST}/{case}": status for case, status in run.cases.items()}
    by_name.update({name: test.status for name, test in run.upstream_tests.items()})
    by_name.update({name: test.status for name, test in run.other_tests.items()})
    for name, status in by_name.items():
        test = run.tests.get(name)
        case = _testcase(suite, classname, name, test.duration_s if test else 0.0)
        output = test.output if test else ""
        if problem:
            _outcome(case, "error", problem, output or run.message or problem, run.status.value)
        elif status is Status.FAIL:
            kind = "pre-existing" if name in pre_existing else "fail"
            _outcome(case, "failure", _failure_message(output) or f"{name} failed", output, kind)
        elif status is Status.ERROR:
            _outcome(case, "error", output or f"{name} did not run or did not finish", output, "error")
        elif status is Status.SKIP:
            ET.SubElement(case, "skipped", message=clean(cells.first_line(output))[:500])
        elif status is Status.FLAKY:
            ET.SubElement(case, "system-out").text = "flaky: failed, then passed on a rerun (--rerun-fails)"
    if problem:
        ET.SubElement(suite, "system-err").text = clean(run.message or problem)
    _count(suite)


def _findings_suite(root: ET.Element, result: ReleaseResult, run_name: str, run: RunResult, *, new: list[Finding]) -> None:
    """A finding a case; those the patch brought are failures, those already there pass (pre-existing)."""
    classname = f"{result.version.replace('.', '_')}.{run_name.replace(' ', '_')}"
    suite = ET.SubElement(root, "testsuite", name=f"{result.version} {run_name}", time=f"{run.duration_s:.3f}")
    properties = ET.SubElement(suite, "properties")
    for key, value in (("version", result.version), ("run", run_name), ("run-status", run.status.value), ("tool", run.tool)):
        ET.SubElement(properties, "property", name=key, value=clean(value))
    problem = cells.run_problem(run)
    if problem:
        _outcome(_testcase(suite, classname, "lint", run.duration_s), "error", problem, run.message or problem, run.status.value)
    for finding in run.findings:
        case = _testcase(suite, classname, f"{finding.linter}: {finding.file}:{finding.line}", 0.0)
        if finding in new:
            _outcome(case, "failure", finding.text, finding.describe(), "new")
        else:
            ET.SubElement(case, "system-out").text = clean(f"pre-existing: {finding.describe()}")
    _count(suite)


def _failure_message(output: str) -> str:
    """The assertion line of a Go failure, rather than its first (often an ``=== RUN``) line."""
    for line in output.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("=== ", "--- ", "FAIL", "PASS", "ok ")):
            return stripped
    return cells.first_line(output)


def _suite_without_run(root: ET.Element, result: ReleaseResult, run_name: str) -> None:
    """A release that never reached its run (the patch failed, the checkout failed): one errored case."""
    suite = ET.SubElement(root, "testsuite", name=f"{result.version} {run_name}", time="0.000")
    step = "patch" if result.error in (ErrorKind.PATCH, ErrorKind.INPUT) else "run"
    message = result.message or f"{result.verdict.value}: the {run_name} run did not happen"
    _outcome(_testcase(suite, f"{result.version.replace('.', '_')}.{run_name}", step), "error", message, message, result.verdict.value)
    _count(suite)


def _count(element: ET.Element) -> None:
    cases = element.iter("testcase")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for case in cases:
        totals["tests"] += 1
        totals["failures"] += case.find("failure") is not None
        totals["errors"] += case.find("error") is not None
        totals["skipped"] += case.find("skipped") is not None
    for key, value in totals.items():
        element.set(key, str(value))


def document(results: list[ReleaseResult]) -> ET.Element:
    root = ET.Element("testsuites", name="argo-patcher")
    for result in results:
        if result.baseline is not None:
            _suite_for_run(root, result, "baseline", result.baseline)
        if result.patched is not None:
            _suite_for_run(root, result, "patched", result.patched)
        else:
            _suite_without_run(root, result, "patched")
        for run_name, run in (("baseline", result.baseline), ("patched", result.patched)):
            for proof_name, proof in (run.proofs.items() if run is not None else ()):
                if LEVELS_BY_NAME[proof_name].kind == FINDINGS:
                    _findings_suite(root, result, f"{proof_name} {run_name}", proof, new=cells.lint_new(result, proof_name) if run is result.patched else [])
                else:
                    _suite_for_run(root, result, f"{proof_name} {run_name}", proof)
    _count(root)
    root.set("time", f"{sum(float(s.get('time', '0')) for s in root.iter('testsuite')):.3f}")
    return root


def dumps(results: list[ReleaseResult]) -> str:
    root = document(results)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
