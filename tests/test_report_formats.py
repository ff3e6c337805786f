from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from patcher import reports
from patcher.errors import InputError
from patcher.harness.contract import CASE_IDS, HARNESS_TEST
from patcher.options import ReportOptions
from patcher.reports import cells, jsonfile, junit, markdown, pr, releases
from patcher.run.results import ErrorKind, ReleaseResult, Verdict
from patcher.runners.testresults import RunStatus, Status
from patcher.runners.testresults import TestResult as GoTest
from tests import report_samples as samples

# JSON


def test_json_has_the_issue_schema_and_run_metadata():
    doc = json.loads(jsonfile.dumps(samples.every_verdict(), spec="supported"))
    assert doc["tool"] == "argo-patcher" and doc["spec"] == "supported" and doc["ok"] is False
    assert set(doc["summary"]) == {v.value for v in Verdict}
    assert sum(doc["summary"].values()) == len(samples.ALL) and doc["summary"]["fixed"] == 3  # fixed, pre_existing, with_cluster
    fixed = doc["results"][0]
    assert fixed["version"] == "v3.4.17" and fixed["commit"] == "a" * 40 and fixed["go"] == "1.19"
    assert fixed["verdict"] == "fixed"
    assert list(fixed["baseline"]["cases"]) == list(CASE_IDS)
    assert fixed["baseline"]["cases"]["holder-cluster"] == "fail"
    assert fixed["patched"]["tests"] == {"TestPodMetadata": "pass"}
    assert fixed["baseline"]["status"] == "ok" and fixed["baseline"]["duration_s"] == 30.0
    by_verdict = {r["verdict"]: r for r in doc["results"]}
    assert by_verdict["infra-error"]["baseline"] is None  # no baseline ran
    assert fixed["error"] is None and by_verdict["input-error"]["error"] == "input" and by_verdict["patch-error"]["error"] == "patch"
    pre_existing = next(r for r in doc["results"] if r["version"] == "v3.5.5")
    assert pre_existing["verdict"] == "fixed"
    assert pre_existing["pre_existing"] == ["Test_createWorkflowPod_emissary"] and pre_existing["flaky"] == ["TestRetry"]
    assert pre_existing["patched"]["tests"]["TestRetry"] == "flaky"


def test_json_is_ok_only_when_every_release_passed():
    assert json.loads(jsonfile.dumps([samples.fixed(), samples.passed()]))["ok"] is True
    assert json.loads(jsonfile.dumps([]))["ok"] is False


@pytest.mark.parametrize("make", samples.ALL)
def test_json_round_trips_through_from_json(make):
    result = make()
    again = jsonfile.parse(json.loads(jsonfile.dumps([result])), "test")
    assert len(again) == 1
    assert again[0].verdict is result.verdict
    assert again[0].to_json() == result.to_json()


def test_load_merges_reports_and_accepts_single_release_objects(tmp_path: Path):
    first = tmp_path / "a.json"
    first.write_text(jsonfile.dumps([samples.fixed(), samples.still_failing()]))
    single = tmp_path / "b.json"
    rerun = samples.already_correct()
    rerun.version = "v3.7.18"  # a later report of the same release replaces the earlier one
    single.write_text(json.dumps(rerun.to_json()))
    merged = reports.load([first, single])
    assert [(r.version, r.verdict) for r in merged] == [("v3.4.17", Verdict.FIXED), ("v3.7.18", Verdict.ALREADY_CORRECT)]


def test_load_reads_argos_gathered_list_of_objects_or_strings(tmp_path: Path):
    fixed, missing = samples.fixed().to_json(), {"version": "v3.5.15", "message": "the pod wrote no report"}
    objects = tmp_path / "objects.json"
    objects.write_text(json.dumps([fixed, missing]))
    strings = tmp_path / "strings.json"
    strings.write_text(json.dumps([json.dumps({"results": [fixed]}), json.dumps(missing)]))
    for path in (objects, strings):
        merged = reports.load([path])
        assert [(r.version, r.verdict) for r in merged] == [("v3.4.17", Verdict.FIXED), ("v3.5.15", Verdict.INFRA_ERROR)]
        assert merged[1].message == "the pod wrote no report"


@pytest.mark.parametrize("content", ["not json", '["not json either"]', '{"results": [{"commit": "x"}]}', "[1, 2]"])
def test_load_rejects_what_is_not_a_report_in_one_line(tmp_path: Path, content: str):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        reports.load([path])
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


# JUnit


def parse_junit(results: list[ReleaseResult]) -> ET.Element:
    return ET.fromstring(junit.dumps(results).encode("utf-8"))


def test_junit_has_a_suite_per_release_and_run_and_a_case_per_case_and_test():
    root = parse_junit(samples.every_verdict())
    names = [s.get("name") for s in root.iter("testsuite")]
    assert names[:4] == ["v3.4.17 baseline", "v3.4.17 patched", "v3.6.19 baseline", "v3.6.19 patched"]
    assert "v3.5.15 patched" in names and "v4.1.2 baseline" not in names
    patched = next(s for s in root.iter("testsuite") if s.get("name") == "v3.4.17 patched")
    cases = [c.get("name") for c in patched.iter("testcase")]
    assert cases == [f"{HARNESS_TEST}/{c}" for c in CASE_IDS] + ["TestPodMetadata"]
    assert {c.get("classname") for c in patched.iter("testcase")} == {"v3_4_17.patched"}
    props = {p.get("name"): p.get("value") for p in patched.iter("property")}
    assert props["verdict"] == "fixed" and props["commit"] == "a" * 40


def test_junit_counts_and_failure_messages():
    root = parse_junit(samples.every_verdict())
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    baseline = suites["v3.4.17 baseline"]
    assert (baseline.get("tests"), baseline.get("failures"), baseline.get("errors")) == ("15", "2", "0")
    failure = next(c for c in baseline.iter("testcase") if c.get("name").endswith("/holder-cluster")).find("failure")
    assert failure.get("message") == samples.ASSERTION
    assert samples.ASSERTION in failure.text
    still = suites["v3.7.18 patched"]
    assert still.get("skipped") == "1" and still.get("failures") == "2"
    built = suites["v4.0.1 patched"]
    assert built.get("errors") == "15"
    error = built.find("testcase/error")
    assert error.get("type") == "build-error" and "undefined: mergePodMetadata" in error.text
    assert "undefined: mergePodMetadata" in built.find("system-err").text
    patch = suites["v3.5.15 patched"]
    assert [c.get("name") for c in patch.iter("testcase")] == ["patch"]
    assert "imported and not used" in patch.find("testcase/error").get("message")
    totals = {k: sum(int(s.get(k)) for s in root.iter("testsuite")) for k in ("tests", "failures", "errors", "skipped")}
    assert {k: int(root.get(k)) for k in totals} == totals


def test_junit_stays_well_formed_with_control_characters_and_markup():
    result = samples.fixed()
    name = f"{HARNESS_TEST}/union"
    result.patched.tests[name] = GoTest(name, Status.FAIL, 0.1, "got <b>&\x1b[31mred\x1b[0m\x00\x07 ]]> done")
    root = parse_junit([result])
    text = next(c for c in root.iter("testcase") if c.get("name") == name and "patched" in c.get("classname")).find("failure").text
    assert "<b>&red" in text and "\x1b" not in text and "]]> done" in text


# Markdown


def test_markdown_summarises_every_release_and_details_the_failures():
    text = markdown.render(samples.every_verdict(), spec="supported")
    assert text.startswith("## ")
    assert f"**{len(samples.ALL)} releases: 3 fixed" in text and "versions `supported`" in text
    assert "| **v3.4.17** (`aaaaaaaaaaaa`, Go 1.19) | ✅ fixed | 13/15 | 15/15 |" in text
    assert "| `holder-cluster` | ❌→✅ |" in text
    # the case table and the real controller's, five failures (still-failing, patch-, input-,
    # build-, infra-error), the interrupted release, and the passing release that has a
    # pre-existing failure and a flaky test
    assert text.count("<details>") == text.count("</details>") == 2 + 5 + 1 + 1
    assert "<summary>⏹️ v3.6.2: interrupted — not finished: interrupted (Ctrl-C)</summary>" in text
    assert "<summary>❌ v3.7.18: still-failing" in text
    assert "<summary>⚠️ v4.1.2: infra-error" in text and "<summary>⚠️ v3.6.0: input-error" in text
    assert "undefined: mergePodMetadata" in text and samples.ASSERTION in text
    assert "<summary>✅ v3.5.5: fixed — cases passing 14/15 before, 15/15 after (1 pre-existing failure, 1 flaky)" in text
    assert "Pre-existing (failing before and after the patch): `Test_createWorkflowPod_emissary`" in text
    assert "Flaky (passed on a rerun): `TestRetry`" in text


def test_markdown_escapes_cells_and_fences():
    result = samples.patch_error()
    result.version = "v3.5.15|x"
    result.message = "bad <tag> ``` fence"
    text = markdown.render([result])
    assert "v3.5.15\\|x" in text and "&lt;tag&gt;" in text
    assert "````text\nbad <tag> ``` fence\n````" in text


# Writing, and the step summary


def test_write_puts_each_report_in_its_file_and_appends_the_step_summary(tmp_path: Path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    results = [samples.fixed(), samples.build_error()]
    files = ReportOptions(json_path=tmp_path / "out/r.json", junit_path=tmp_path / "r.xml", markdown_path=tmp_path / "r.md")
    reports.write(results, files, spec="v3.4")
    assert [r.version for r in reports.load([tmp_path / "out/r.json"])] == ["v3.4.17", "v4.0.1"]
    ET.parse(tmp_path / "r.xml")
    assert (tmp_path / "r.md").read_text() in summary.read_text()
    assert summary.read_text().startswith("earlier step\n## ")
    reports.write(results, ReportOptions())
    assert summary.read_text().count(f"## {markdown.TITLE}") == 2


def test_no_step_summary_without_the_variable(tmp_path: Path):
    assert reports.append_step_summary("text") is None


def test_an_unwritable_report_path_is_one_input_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot write the JSON report"):
        reports.write([samples.fixed()], ReportOptions(json_path=blocker / "r.json"))


def test_a_run_that_timed_out_is_an_error_in_every_format():
    result = samples.infra_error()
    assert result.patched.status is RunStatus.TIMEOUT
    root = parse_junit([result])
    assert root.find("testsuite/testcase/error").get("type") == "timeout"
    assert "go test timed out" in markdown.render([result])


# The JSON Schema of the report


def report_schema() -> dict:
    return json.loads((Path(jsonfile.__file__).parent / "report.schema.json").read_text())


def test_every_report_validates_against_the_schema():
    doc = json.loads(jsonfile.dumps(samples.every_verdict(), spec="supported"))
    assert samples.schema_errors(doc) == []
    doc["results"][0]["verdict"] = "fine"
    doc["results"][1]["baseline"]["cases"].pop("union")
    doc["results"][2]["surprise"] = 1
    assert len(samples.schema_errors(doc)) == 3  # the schema has teeth


def test_the_schema_names_exactly_the_verdicts_statuses_and_cases_of_the_code():
    defs = report_schema()["$defs"]
    assert defs["verdict"]["enum"] == [v.value for v in Verdict]
    assert defs["status"]["enum"] == [s.value for s in Status]
    assert defs["run-status"]["enum"] == [s.value for s in RunStatus]
    assert defs["error"]["enum"] == [k.value for k in ErrorKind] + [None]
    assert defs["case"]["enum"] == list(CASE_IDS)


# The releases page


def history() -> list[ReleaseResult]:
    """Releases as the history shows them: the holder ignored, then the merge's behaviours."""
    ignored = ["holder-cluster", "holder-namespaced", "union", "all-three", "nested-by-name", "nested-innermost", "dag-task"]
    merged = ["workflow-over-holder", "template-over-holder", "template-over-workflow", "all-three", "no-mutation"]
    shapes = {
        "v3.6.18": ignored, "v3.6.19": ignored, "v3.7.0": merged + ["missing-template"], "v3.7.1": merged,
        "v4.1.2": ["workflow-over-holder", "no-mutation"], "v4.2.0": [],
    }  # fmt: skip
    return [ReleaseResult(v, f"{n:040x}", "1.24", samples.run(failing), samples.run()) for n, (v, failing) in enumerate(shapes.items())]


def test_ranges_are_runs_of_neighbours_in_the_reports_order():
    order = ["a", "b", "c", "d", "e"]
    assert releases.ranges(["a", "b", "d"], order) == "a – b, d (3)"
    assert releases.ranges([], order) == "none"


def test_the_releases_page_groups_the_failing_cases_into_upstream_behaviours():
    text = releases.render(history())
    assert text.startswith("# Is my release affected?")
    assert "**6 releases: 5 fixed, 1 already-correct.** After the patch, 6 of 6 releases pass all 15 cases." in text
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| the ") or line.startswith("| a ")}
    assert "v3.6.18 – v3.6.19 (2)" in rows["the holder's podMetadata is ignored for templates reached by templateRef"]
    assert "| v3.7.0 (1) |" in rows["a templateRef to a missing template dereferences nil"]
    assert "v3.7.0 – v3.7.1 (2)" in rows["the template's own metadata is overridden"]
    assert "v3.7.0 – v4.1.2 (3)" in rows["the (Cluster)WorkflowTemplates in the controller's cache are modified"]
    assert "| v4.1.2 | `000000000000` | 2 of 15: `workflow-over-holder`, `no-mutation` | #12987 | 15/15 | fixed |" in text
    assert "| v4.2.0 | `000000000000` | 0 of 15: none | – | 15/15 | already-correct |" in text
    assert "| v3.7.1 | `000000000000` | 5 of 15: `workflow-over-holder`" in text and "#15870; #12987 |" in text


# The real controller's proof (--cluster)


def test_the_verdict_counts_the_real_controllers_proof():
    assert samples.with_cluster().verdict is Verdict.FIXED
    assert samples.with_cluster(samples.run(["no-mutation"])).verdict is Verdict.STILL_FAILING
    assert samples.with_cluster(samples.run(status=RunStatus.INFRA_ERROR, message="etcd did not come up")).verdict is Verdict.INFRA_ERROR
    assert samples.with_cluster(samples.run(status=RunStatus.BUILD_ERROR, message="undefined: x")).verdict is Verdict.BUILD_ERROR
    already = samples.already_correct()
    already.baseline.proofs["cluster"], already.patched.proofs["cluster"] = samples.run(["defaults"]), samples.run()
    assert already.verdict is Verdict.FIXED  # the real controller failed a case unpatched
    timed_out = samples.with_cluster(samples.run(status=RunStatus.TIMEOUT, message="the cases timed out"))
    assert timed_out.verdict is Verdict.STILL_FAILING  # its baseline's proof finished: a failure on its merits


def test_every_format_shows_the_real_controllers_proof():
    result = samples.with_cluster()
    doc = json.loads(jsonfile.dumps([result]))
    assert samples.schema_errors(doc) == []
    [release] = doc["results"]
    assert release["baseline"]["cluster"]["cases"]["holder-namespaced"] == "fail" and release["patched"]["cluster"]["status"] == "ok"
    assert jsonfile.parse(doc, "test")[0].to_json() == result.to_json()
    suites = [s.get("name") for s in parse_junit([result]).iter("testsuite")]
    assert suites == ["v3.5.6 baseline", "v3.5.6 patched", "v3.5.6 cluster baseline", "v3.5.6 cluster patched"]
    text = markdown.render([result])
    assert "| Real API server |" in text and "13/15 → 15/15" in text and "the real workflow-controller against a real API server" in text
    assert "on a real API server 13/15 before, 15/15 after" in cells.reason(result)
    body = pr.render([result])
    assert "| Real controller before | Real controller after |" in body and "| `holder-namespaced` | ✅ | ✅ | ❌ | ✅ |" in body
