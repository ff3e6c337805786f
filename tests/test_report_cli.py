from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from patcher.delivery import handover
from patcher.reports import jsonfile, pr
from tests import report_samples as samples


def test_report_merges_shows_the_table_writes_reports_and_exits_by_verdict(run_cli, tmp_path: Path):
    passing = tmp_path / "passing.json"
    passing.write_text(jsonfile.dumps([samples.fixed(), samples.already_correct()]))
    failing = tmp_path / "failing.json"
    failing.write_text(json.dumps(samples.still_failing().to_json()))
    summary = tmp_path / "summary.md"

    done = run_cli("report", str(passing), "--junit", str(tmp_path / "r.xml"))
    assert done.returncode == 0, done.stderr
    assert "v3.4.17" in done.stdout and "fixed" in done.stdout
    assert "2 releases: 1 fixed, 1 already-correct" in done.stderr
    assert len(ET.parse(tmp_path / "r.xml").getroot().findall("testsuite")) == 4

    done = run_cli("report", str(passing), str(failing), "--json", str(tmp_path / "all.json"),
                   env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 1
    merged = json.loads((tmp_path / "all.json").read_text())
    assert [r["verdict"] for r in merged["results"]] == ["fixed", "already-correct", "still-failing"]
    assert "❌ v3.7.18: still-failing" in summary.read_text()


def test_merge_to_stdout_prints_only_the_report(run_cli, tmp_path: Path):
    path = tmp_path / "r.json"
    path.write_text(jsonfile.dumps([samples.fixed()]))
    done = run_cli("-q", "report", str(path), "--json", "-")
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout)["results"][0]["verdict"] == "fixed"


def test_merge_of_only_infrastructure_failures_exits_3(run_cli, tmp_path: Path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"version": "v3.5.15", "message": "the pod wrote no report"}]))
    done = run_cli("report", str(path))
    assert done.returncode == 3
    assert done.stderr.strip() == "error: v3.5.15: the pod wrote no report"


def test_merge_of_a_bad_file_is_one_line_and_exit_2(run_cli, tmp_path: Path):
    path = tmp_path / "r.json"
    path.write_text("[]")
    done = run_cli("report", str(path), str(tmp_path / "missing.json"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "missing.json" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("report", str(path))
    assert done.returncode == 2 and "no release results" in done.stderr


def test_each_format_prints_its_text_and_exits_by_verdict(run_cli, tmp_path: Path):
    path = tmp_path / "r.json"
    path.write_text(jsonfile.dumps([samples.fixed(), samples.still_failing()]))
    as_json = run_cli("report", str(path), "--format", "json")
    assert as_json.returncode == 1 and [r["version"] for r in json.loads(as_json.stdout)["results"]] == ["v3.4.17", "v3.7.18"]
    assert ET.fromstring(run_cli("report", str(path), "--format", "junit").stdout.encode()).tag == "testsuites"
    assert run_cli("report", str(path), "--format", "markdown").stdout.startswith("## argo-patcher")
    assert "### Motivation" in run_cli("report", str(path), "--format", "pr").stdout
    bad = run_cli("report", str(path), "--format", "yaml")
    assert bad.returncode == 2 and "Invalid value for '--format'" in bad.stderr


def test_the_pull_request_body_says_what_was_wrong_what_changed_the_cases_the_tests_and_how_to_reproduce():
    fixed = samples.pre_existing()
    fixed.version, fixed.extra = "release-3.7", {"ref": "branch", "reproduce": "patcher apply --version release-3.7 --suite full"}
    text = pr.render([fixed])
    assert "Fixes #12945" in text
    assert "#### `release-3.7` (`888888888888`): ✅ fixed" in text
    assert "Unpatched, the controller fails 1 of the 15 cases" in text
    assert "- `holder-cluster`: a ClusterWorkflowTemplate's podMetadata reaches pods of templates reached by templateRef" in text
    assert handover.change_description().splitlines()[0] in text  # the commit message's own words
    assert "| `holder-cluster` | ❌ | ✅ |" in text and "| `union` | ✅ | ✅ |" in text
    assert "Failing before and after it (pre-existing, unrelated): `Test_createWorkflowPod_emissary`" in text
    assert "Flaky (passed on a rerun): `TestRetry`" in text
    assert "```sh\npip install argo-patcher\npatcher apply --version release-3.7 --suite full\n```" in text
    assert "local mirror" not in text
    already = samples.already_correct()
    assert "already carries the fix" in pr.render([already]) and "Unpatched, the controller fails" not in pr.render([already])


def test_the_pull_request_body_does_not_name_a_path_of_the_machine_that_ran_it():
    fixed = samples.fixed()
    fixed.extra = {"reproduce": "patcher --repo /tmp/mirror/argo.git apply --version v3.5.5 --suite precedence"}
    text = pr.render([fixed])
    assert "/tmp/mirror" not in text and "\npatcher apply --version v3.5.5 --suite precedence\n" in text and "local mirror" in text
    fork = samples.fixed()
    fork.extra = {"reproduce": "patcher --repo https://github.com/acme/argo-workflows apply --version main --suite precedence"}
    assert "patcher --repo https://github.com/acme/argo-workflows apply --version main" in pr.render([fork])
