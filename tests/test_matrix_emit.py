from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from patcher import emit
from patcher.pipeline import ProveOptions
from patcher.versions import parse_tag

RELEASES = [parse_tag(t) for t in ("v3.6.19", "v3.7.18", "v4.1.2")]
WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"


def workflow(**kwargs: Any) -> dict[str, Any]:
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
    assert prove_step["continueOn"] == {"failed": True}
    args = templates["prove"]["container"]["args"]
    assert args[:6] == ["--repo", "{{workflow.parameters.repo}}", "apply", "--version", "{{inputs.parameters.version}}", "--runner"]
    assert args[-2:] == ["--json", emit.REPORT_PATH] and "--no-baseline" in args
    output = templates["prove"]["outputs"]["parameters"][0]
    assert output["valueFrom"]["path"] == emit.REPORT_PATH
    assert json.loads(output["valueFrom"]["default"])["version"] == "{{inputs.parameters.version}}"
    assert gather_step["arguments"]["parameters"][0]["value"] == "{{steps.prove.outputs.parameters.report}}"
    gather = templates["gather"]
    assert gather["inputs"]["artifacts"][0]["raw"]["data"] == "{{inputs.parameters.reports}}"
    assert gather["container"]["args"][:3] == ["report", "merge", emit.GATHERED_PATH]
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert params == {"image": emit.DEFAULT_SELF_IMAGE, "repo": "https://example.invalid/argo.git"}


def test_workflow_without_jobs_leaves_parallelism_to_the_cluster():
    assert "parallelism" not in workflow()["spec"]


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
    assert emit.apply_args(ProveOptions()) == ["--suite", "regression"]
    changed = ProveOptions(suite="full", baseline=False, offline=True, runner="docker", image="x", timeout_s=900.0)
    assert emit.apply_args(changed) == ["--suite", "full", "--no-baseline", "--timeout", "900"]


def test_render_prints_either_format_and_a_workflow_never_gets_a_local_path(argo_repo: Path, capsys):
    assert json.loads(emit.render("github-matrix", RELEASES, repo=str(argo_repo)))["include"][0] == {"version": "v3.6.19", "line": "v3.6"}
    wf = yaml.safe_load(emit.render("argo-workflow", RELEASES, repo=str(argo_repo), options=ProveOptions(suite="full"), jobs=2))
    assert wf["spec"]["parallelism"] == 2 and "full" in wf["spec"]["templates"][1]["container"]["args"]
    assert {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}["repo"] == "https://github.com/argoproj/argo-workflows.git"
    assert "is a local path" in capsys.readouterr().err
    url = "https://example.invalid/argo.git"
    wf = yaml.safe_load(emit.render("argo-workflow", RELEASES, repo=url))
    assert {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}["repo"] == url


def test_matrix_command_emits_without_running_anything(run_cli, argo_repo: Path):
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
