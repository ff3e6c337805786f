from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from patcher.delivery import selfimage
from patcher.options import ProveOptions
from patcher.reports import emit
from patcher.source.versions import parse_tag
from tests import gitrepo
from tests import report_samples as samples
from tests.goshapes import make_tree

RELEASES = [parse_tag(t) for t in ("v3.6.19", "v3.7.18", "v4.1.2")]
WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"


def workflow(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("parallelism", 2)
    return yaml.safe_load(emit.to_yaml(emit.argo_workflow(RELEASES, repo="https://example.invalid/argo.git", **kwargs)))


def test_github_matrix_lists_the_releases_for_a_job_strategy():
    assert json.loads(emit.github_matrix(RELEASES)) == {
        "include": [{"version": "v3.6.19", "line": "v3.6"}, {"version": "v3.7.18", "line": "v3.7"}, {"version": "v4.1.2", "line": "v4.1"}]
    }
    assert "\n" not in emit.github_matrix(RELEASES)  # fits one GITHUB_OUTPUT line


def test_workflow_fans_out_one_pod_per_release_and_gathers():
    wf = workflow(apply_args=["--suite", "full", "--no-baseline"], parallelism=2)
    assert wf["kind"] == "Workflow" and wf["spec"]["parallelism"] == 2
    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    (prove_step,), (gather_step,) = templates[wf["spec"]["entrypoint"]]["steps"]
    assert prove_step["withItems"] == ["v3.6.19", "v3.7.18", "v4.1.2"]
    assert prove_step["continueOn"] == {"failed": True, "error": True}
    prove = templates["prove"]
    args = prove["container"]["args"]
    assert args[:6] == ["--repo", "{{workflow.parameters.repo}}", "apply", "--version", "{{inputs.parameters.version}}", "--runner"]
    assert args[-3:] == ["--json", emit.REPORT_PATH, "--exit-zero"] and "--no-baseline" in args
    output = prove["outputs"]["parameters"][0]
    assert output["valueFrom"]["path"] == emit.REPORT_PATH
    assert json.loads(output["valueFrom"]["default"])["version"] == "{{inputs.parameters.version}}"
    # The aggregate Argo always sets, even when no pod succeeded (steps.prove.outputs.parameters.report is not).
    assert gather_step["arguments"]["parameters"][0]["value"] == "{{steps.prove.outputs.parameters}}"
    gather = templates["gather"]
    assert gather["inputs"]["artifacts"][0]["raw"]["data"] == "{{inputs.parameters.reports}}"
    assert gather["container"]["args"][:4] == ["report", emit.GATHERED_PATH, "--expect", "v3.6.19,v3.7.18,v4.1.2"]
    assert prove["container"]["resources"]["requests"] and gather["container"]["resources"]["requests"]
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert params == {"image": selfimage.DEFAULT_TAG, "repo": "https://example.invalid/argo.git"}


def test_deadlines_let_every_wave_of_pods_run_to_its_own():
    options = ProveOptions(timeout_s=600)
    pod = emit.pod_deadline_s(options)
    assert pod == emit.POD_SETUP_S + 2 * 600 and emit.pod_deadline_s(ProveOptions(timeout_s=600, baseline=False)) == emit.POD_SETUP_S + 600
    wf = workflow(parallelism=2, pod_deadline_s=pod)
    assert {t["name"]: t for t in wf["spec"]["templates"]}["prove"]["activeDeadlineSeconds"] == str(pod)
    assert wf["spec"]["activeDeadlineSeconds"] == 2 * pod + emit.POD_SETUP_S  # three releases, two at a time: two waves


def argo_aggregate(pods: list[tuple[str, str | None]]) -> str:
    """What Argo hands the gather step as ``steps.prove.outputs.parameters``: the output
    parameters of the fan-out's Succeeded pods only (workflow/controller/operator.go,
    processAggregateNodeOutputs, the same in every release v3.4 to v4.1), ``[]`` when none did."""
    return json.dumps([{"report": report} for phase, report in pods if phase == "Succeeded" and report is not None])


def test_a_failed_release_fails_the_gathered_report_and_a_lost_pod_counts_as_one(run_cli, tmp_path: Path):
    still_failing = json.dumps(samples.still_failing().to_json())
    fixed = json.dumps(samples.fixed().to_json())
    versions = f"{samples.fixed().version},{samples.still_failing().version},v4.1.2"
    gathered = tmp_path / "reports.json"
    # Every prove pod exits 0 with --exit-zero, so its report is aggregated whatever its verdict;
    # a pod killed on its node (Error) has none.
    gathered.write_text(argo_aggregate([("Succeeded", fixed), ("Succeeded", still_failing), ("Error", None)]))
    done = run_cli("report", str(gathered), "--expect", versions, "--json", str(tmp_path / "out.json"))
    assert done.returncode == 1, done.stderr  # the gather step fails: the Workflow fails
    verdicts = {r["version"]: r["verdict"] for r in json.loads((tmp_path / "out.json").read_text())["results"]}
    assert verdicts == {"v3.4.17": "fixed", "v3.7.18": "still-failing", "v4.1.2": "infra-error"}

    gathered.write_text(argo_aggregate([("Failed", None), ("Error", None)]))
    assert gathered.read_text() == "[]"
    done = run_cli("report", str(gathered), "--expect", "v3.4.17,v4.1.2")
    assert done.returncode == 3 and "no report" in done.stdout + done.stderr  # every pod lost: still a failed gather

    gathered.write_text(argo_aggregate([("Succeeded", fixed)]))
    assert run_cli("report", str(gathered), "--expect", "v3.4.17").returncode == 0


def test_a_prove_pods_command_writes_its_report_and_succeeds_whatever_the_verdict(run_cli, tmp_path: Path):
    """The prove template's own arguments (but --runner local and the tests: an unrecognised
    code shape fails before any test) on a release that fails: exit 0, and the report says why."""
    files = gitrepo.copy_tree(make_tree(tmp_path / "shape", "unknown"))
    repo = gitrepo.make_repo(tmp_path / "argo", ["v4.1.0"], files_for={"v4.1.0": files})
    wf = workflow(apply_args=emit.apply_args(ProveOptions()))
    args = {t["name"]: t for t in wf["spec"]["templates"]}["prove"]["container"]["args"]
    report = tmp_path / "report.json"
    args = [str(repo) if a == "{{workflow.parameters.repo}}" else "v4.1.0" if a == "{{inputs.parameters.version}}" else a for a in args]
    args = [str(report) if a == emit.REPORT_PATH else a for a in args]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    [release] = json.loads(report.read_text())["results"]
    assert release["verdict"] == "input-error" and "addMetadata" in release["message"]
    missing = run_cli(*[("v9.9.9" if a == "v4.1.0" else a) for a in args])  # fails before any release ran
    assert missing.returncode == 0 and "unknown release v9.9.9" in missing.stderr
    [release] = json.loads(report.read_text())["results"]
    assert release["version"] == "v9.9.9" and release["verdict"] == "input-error"


def _strict(node: Any) -> None:
    """Forbid properties the schema does not name, so a misspelt field fails validation."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)


def argo_schema(repo: Path, tag: str) -> jsonschema.protocols.Validator:
    shown = subprocess.run(["git", "-C", str(repo), "show", f"{tag}:api/jsonschema/schema.json"], capture_output=True, text=True)
    if shown.returncode != 0:
        pytest.skip(f"{repo} has no api/jsonschema/schema.json at {tag}: {shown.stderr.strip()}")
    definitions = json.loads(shown.stdout)["definitions"]
    _strict(definitions)
    return jsonschema.Draft202012Validator({"$ref": f"#/definitions/{WORKFLOW}", "definitions": definitions})


@pytest.mark.integration
@pytest.mark.parametrize("tag", ["v3.6.19", "v4.1.2"])
def test_emitted_workflow_is_valid_against_argos_own_schema(upstream_repo: Path, tag: str):
    validator = argo_schema(upstream_repo, tag)
    wf = workflow(apply_args=["--suite", "regression"], parallelism=3)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(wf)]
    assert errors == []
    wf["spec"]["templates"][1]["contaner"] = wf["spec"]["templates"][1].pop("container")
    assert any("contaner" in e.message for e in validator.iter_errors(wf))  # the check has teeth


def test_apply_args_carry_only_the_choices_that_differ():
    assert emit.apply_args(ProveOptions()) == []
    changed = ProveOptions(suite="full", baseline=False, offline=True, runner="docker", image="x", timeout_s=900.0, rerun_fails=2)
    assert emit.apply_args(changed) == ["--suite", "full", "--no-baseline", "--timeout", "900", "--rerun-fails", "2"]
    assert emit.apply_args(None) == ["--no-test"]


def test_render_prints_either_format_and_a_workflow_never_gets_a_local_path(argo_repo: Path, capsys):
    assert json.loads(emit.render("github-matrix", RELEASES, repo=str(argo_repo), options=None, jobs=2))["include"][0] == {"version": "v3.6.19", "line": "v3.6"}
    wf = yaml.safe_load(emit.render("argo-workflow", RELEASES, repo=str(argo_repo), options=ProveOptions(suite="full"), jobs=2))
    assert wf["spec"]["parallelism"] == 2 and "full" in wf["spec"]["templates"][1]["container"]["args"]
    assert {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}["repo"] == "https://github.com/argoproj/argo-workflows.git"
    assert "is a local path" in capsys.readouterr().err
    url = "https://example.invalid/argo.git"
    wf = yaml.safe_load(emit.render("argo-workflow", RELEASES, repo=url, options=ProveOptions(), jobs=2))
    assert {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}["repo"] == url


def test_matrix_command_emits_without_running_anything(run_cli, argo_repo: Path):
    done = run_cli("--repo", str(argo_repo), "matrix", "--versions", "v3.4,v3.5", "--emit", "github-matrix")
    assert done.returncode == 0, done.stderr
    done = run_cli("--repo", str(argo_repo), "matrix", "--emit", "argo-workflow")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["spec"]["parallelism"] >= 2  # the --jobs default, not an unbounded fan-out
    done = run_cli("--repo", str(argo_repo), "matrix", "--versions", "v3.4,v3.5", "--emit", "github-matrix")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"include": [{"version": "v3.4.1", "line": "v3.4"}, {"version": "v3.5.2", "line": "v3.5"}]}
    assert "proving" not in done.stderr
    done = run_cli("--repo", str(argo_repo), "matrix", "--emit", "argo-workflow", "--jobs", "3", "--suite", "precedence", "--no-baseline")
    assert done.returncode == 0, done.stderr
    wf = yaml.safe_load(done.stdout)
    assert wf["spec"]["parallelism"] == 3
    (prove_step,), _ = wf["spec"]["templates"][0]["steps"]
    assert prove_step["withItems"] == ["v3.4.1", "v3.5.2", "v3.6.0", "v4.0.0"]  # 'supported' by default
    assert ["--suite", "precedence", "--no-baseline"] == wf["spec"]["templates"][1]["container"]["args"][7:10]
    done = run_cli("--repo", str(argo_repo), "matrix", "--emit", "github-matrix", "--json", "out.json")
    assert done.returncode == 2 and "--emit prints the matrix and runs nothing" in done.stderr


@pytest.mark.integration
@pytest.mark.cluster
def test_emitted_workflow_is_accepted_by_a_real_api_server_with_nothing_pruned(upstream_repo: Path, cluster_assets: Any, tmp_path: Path):
    """Created on a real kube-apiserver that has v4.1.2's full (validating) Workflow CRD, the
    emitted Workflow reads back as it was sent: nothing refused, nothing pruned."""
    from patcher.cluster.controlplane import ControlPlane

    shown = subprocess.run(["git", "-C", str(upstream_repo), "show", "v4.1.2:manifests/base/crds/full/argoproj.io_workflows.yaml"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    crd = yaml.safe_load(shown.stdout)
    wf = workflow(apply_args=emit.apply_args(ProveOptions(suite="full", rerun_fails=1)), parallelism=3, pod_deadline_s=3600)
    wf["metadata"]["namespace"] = "default"
    with ControlPlane(cluster_assets, tmp_path / "plane", "emit-test") as plane:
        plane.client.create(crd)
        assert plane.client.wait_established([crd["metadata"]["name"]], time.monotonic() + 60) == []
        created = plane.client.create(wf)
        stored = plane.client.read("Workflow", created["metadata"]["name"], "default")
    assert stored["spec"] == wf["spec"]
    assert stored["metadata"]["labels"] == wf["metadata"]["labels"]
