"""argo-patcher's GitHub Action (action.yml) and the fan-out example beside it
(docs/github-actions/matrix.yml): their structure, actionlint on both, and the action's steps run
for real by nektos/act against the bundle of real upstream trees (tests/test_github_action_run.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import gotools

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
EXAMPLE = ROOT / "docs" / "github-actions" / "matrix.yml"
INPUTS = {"versions", "suite", "cluster", "repo", "jobs", "emit", "gather"}
PUBLISHED_AS = "OWNER/argo-patcher@v1"  # the example's placeholder for where the action is hosted


def load(path: Path) -> dict[Any, Any]:
    return dict(yaml.safe_load(path.read_text()))


def test_the_action_is_a_composite_of_bash_steps_with_no_other_action():
    action = load(ACTION)
    assert set(action["inputs"]) == INPUTS and all(spec.get("description") for spec in action["inputs"].values())
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    assert all(step["shell"] == "bash" and "uses" not in step for step in steps)  # the runner's Python and bash, offline too
    assert set(action["outputs"]) == {"report", "verdict", "exit-code", "matrix", "versions"}
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.patcher.outputs.{name} }}}}"


def test_the_steps_read_inputs_from_the_environment_never_from_the_script():
    """An input spliced into a script would run as shell code (a version spec is free text)."""
    for step in load(ACTION)["runs"]["steps"]:
        assert "${{" not in step["run"], step["name"]
    env = next(step for step in load(ACTION)["runs"]["steps"] if step.get("id") == "patcher")["env"]
    assert {re.sub(r"\$\{\{ inputs\.(\w+) \}\}", r"\1", value) for value in env.values()} == INPUTS


def test_the_example_fans_out_over_the_emitted_matrix_and_gathers_with_expect():
    jobs = load(EXAMPLE)["jobs"]
    [plan] = jobs["plan"]["steps"]
    assert plan["uses"] == PUBLISHED_AS and plan["with"]["emit"] == "github-matrix"
    prove = jobs["prove"]
    assert prove["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}" and prove["strategy"]["fail-fast"] is False
    assert prove["steps"][0]["with"]["versions"] == "${{ matrix.version }}"
    assert "always()" in prove["steps"][1]["if"]  # a failed release's report is gathered too
    gather = jobs["gather"]
    assert "always()" in gather["if"]
    step = next(s for s in gather["steps"] if s.get("id") == "gather")
    assert step["uses"] == PUBLISHED_AS and step["with"] == {"versions": "${{ needs.plan.outputs.versions }}", "gather": "reports"}


# -- actionlint ----------------------------------------------------------------------------------


def composite_as_workflow(action: dict[Any, Any]) -> dict[str, Any]:
    """actionlint reads workflows, not action.yml (rhysd/actionlint#46): the composite's steps as
    a reusable workflow's job, its inputs as the workflow's, so that their expressions and
    scripts (with shellcheck, when installed) are checked as a workflow's are."""
    inputs = {name: {"type": "string", "default": spec.get("default", ""), "description": spec["description"]} for name, spec in action["inputs"].items()}
    return {"name": "composite", "on": {"workflow_call": {"inputs": inputs}}, "jobs": {"composite": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}}}


def lint_repo(tmp_path: Path, action_text: str, example_text: str) -> Path:
    """A repository holding the action at its root, the example using it as ``./`` (so that
    actionlint checks the inputs and outputs it uses against action.yml) and the composite as a
    workflow."""
    repo = tmp_path / "repo"
    workflows = repo / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (repo / "action.yml").write_text(action_text)
    (workflows / "matrix.yml").write_text(example_text.replace(PUBLISHED_AS, "./"))
    (workflows / "composite.yml").write_text(yaml.safe_dump(composite_as_workflow(yaml.safe_load(action_text)), sort_keys=False))
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def actionlint(binary: Path, repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), "-oneline"], cwd=repo, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def actionlint_binary() -> Path:
    return gotools.for_tests(gotools.ACTIONLINT)


@pytest.mark.go
def test_actionlint_passes_on_the_action_and_the_example(actionlint_binary: Path, tmp_path: Path):
    done = actionlint(actionlint_binary, lint_repo(tmp_path, ACTION.read_text(), EXAMPLE.read_text()))
    print(f"actionlint {gotools.ACTIONLINT.version}: rc {done.returncode}\n{done.stdout}")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.go
def test_actionlint_catches_a_misspelt_input_and_output_and_a_bad_expression(actionlint_binary: Path, tmp_path: Path):
    example = EXAMPLE.read_text().replace("emit: github-matrix", "emitt: github-matrix").replace("steps.gather.outputs.verdict", "steps.gather.outputs.verdit")
    action = ACTION.read_text().replace("VERSIONS: ${{ inputs.versions }}", "VERSIONS: ${{ inputs.version }}")
    done = actionlint(actionlint_binary, lint_repo(tmp_path, action, example))
    assert done.returncode == 1
    assert 'input "emitt" is not defined in action' in done.stdout
    assert 'property "verdit" is not defined' in done.stdout
    assert 'property "version" is not defined' in done.stdout
