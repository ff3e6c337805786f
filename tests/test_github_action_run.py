"""argo-patcher's GitHub Action run for real: nektos/act runs a workflow that uses it (``uses:
./``) on this machine (act's host mode, offline: no image, no remote action), against the
bundle of real upstream trees, with a two-release matrix each time. Green: v3.5.4 and v3.5.5,
both fixed. Failing: v3.5.5 and v3.5.90, v3.5.5 with a controller file that does not compile
(a release failing on its merits, exit 1). Each run checks the job's result, the action's
outputs (the report's path, the verdict, the exit code), the report itself and the step summary."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import gotools
from tests.test_github_action import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.go]

BROKEN = "package controller\n\n// Made not to compile: the release fails on its merits, before and after the patch.\nvar brokenOnPurpose int = \"not an int\"\n"


@pytest.fixture(scope="module")
def argo_repo(upstream_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle (its objects shared, not copied), with one release more: v3.5.90, which is
    v3.5.5 plus a Go file of the controller's package that does not compile."""
    repo = tmp_path_factory.mktemp("argo") / "argo.git"
    git = ["git", f"--git-dir={repo}"]
    subprocess.run(["git", "clone", "-q", "--bare", "--shared", str(upstream_repo), str(repo)], check=True)
    env = {**os.environ, "GIT_INDEX_FILE": str(repo / "broken-index"), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}  # fmt: skip

    def run(*args: str, stdin: str | None = None) -> str:
        return subprocess.run([*git, *args], input=stdin, env=env, capture_output=True, text=True, check=True).stdout.strip()

    blob = run("hash-object", "-w", "--stdin", stdin=BROKEN)
    run("read-tree", "v3.5.5")
    run("update-index", "--add", "--cacheinfo", f"100644,{blob},workflow/controller/zz_broken.go")
    commit = run("commit-tree", run("write-tree"), "-p", run("rev-parse", "v3.5.5^{commit}"), "-m", "v3.5.5, made not to compile")
    run("tag", "v3.5.90", commit)
    return repo


@pytest.fixture(scope="module")
def act_binary() -> Path:
    return gotools.for_tests(gotools.ACT)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One argo-patcher cache for both runs: the failing run replays v3.5.5 from the green one."""
    return tmp_path_factory.mktemp("action-cache")


def workflow(inputs: dict[str, str], keep: Path) -> dict[str, Any]:
    """A caller's workflow: check out (act copies this repository instead), use the action, and
    hand its outputs on in a step that runs even when it failed (keeping the report, which is in
    the job's temporary directory, at ``keep``)."""
    return {
        "on": "push",
        "jobs": {
            "prove": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"id": "patcher", "uses": "./", "with": inputs},
                    {
                        "if": "always()",
                        "env": {"REPORT": "${{ steps.patcher.outputs.report }}", "VERDICT": "${{ steps.patcher.outputs.verdict }}",
                                "CODE": "${{ steps.patcher.outputs.exit-code }}", "KEEP": str(keep)},  # fmt: skip
                        "run": 'echo "outputs: report=$REPORT verdict=$VERDICT exit-code=$CODE"; if [ -n "$REPORT" ]; then cp "$REPORT" "$KEEP"; fi',
                    },
                ],
            }
        },
    }


def run_action(act: Path, tmp_path: Path, inputs: dict[str, str], cache: Path) -> dict[str, Any]:
    """The action, as a workflow of a repository holding this one's files, run by act."""
    repo = tmp_path / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_bytes(source.read_bytes())
    (repo / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    kept = tmp_path / "report.json"
    (repo / ".github" / "workflows" / "action-test.yml").write_text(yaml.safe_dump(workflow(inputs, kept), sort_keys=False))
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the action under test"]):
        subprocess.run(["git", *args], cwd=repo, env={**os.environ, **env}, check=True)
    started = time.monotonic()
    done = subprocess.run(
        [str(act), "push", "-W", ".github/workflows/action-test.yml", "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode", "--json",
         "--no-cache-server"],
        cwd=repo, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "act-cache"), "ARGO_PATCHER_CACHE": str(cache), "COLUMNS": "160"},
    )  # fmt: skip
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    outputs = {e["name"]: e["arg"] for e in events if e.get("command") == "set-output" and e.get("stepID") == ["patcher"]}
    # The summary is said twice, by the composite's step and by the action: once is enough.
    summary = next((e["msg"].split("Summary - ", 1)[1] for e in events if e.get("command") == "summary"), "")
    echoed = "".join(e["msg"] for e in events if e.get("raw_output") and "outputs: report=" in e.get("msg", ""))
    job = [e["jobResult"] for e in events if "jobResult" in e]
    log = "".join(e.get("msg", "") + "\n" for e in events if e.get("raw_output"))
    print(f"act ran {inputs['versions']} in {time.monotonic() - started:.0f}s: rc {done.returncode}, job {job}, outputs {outputs}")
    report = json.loads(kept.read_text()) if kept.exists() else None
    return {"done": done, "outputs": outputs, "summary": summary, "echoed": echoed, "job": job, "log": log, "report": report}


def test_a_green_matrix_passes_and_says_so_in_the_summary_and_outputs(act_binary: Path, argo_repo: Path, shared_cache: Path, tmp_path: Path):
    ran = run_action(act_binary, tmp_path, {"versions": "v3.5.4,v3.5.5", "suite": "precedence", "repo": str(argo_repo), "jobs": "2"}, shared_cache)
    assert ran["done"].returncode == 0, ran["log"][-4000:] + ran["done"].stderr[-2000:]
    assert ran["job"] == ["success"]
    outputs = ran["outputs"]
    assert (outputs["verdict"], outputs["exit-code"]) == ("passed", "0")
    assert outputs["report"].endswith(".json")
    verdicts = {r["version"]: r["verdict"] for r in ran["report"]["results"]}
    assert verdicts == {"v3.5.4": "fixed", "v3.5.5": "fixed"}
    assert "**2 releases: 2 fixed**" in ran["summary"]
    assert all(re.search(rf"^\| \*\*{v}\*\* .*\| ✅ fixed \|", ran["summary"], re.MULTILINE) for v in ("v3.5.4", "v3.5.5"))
    assert "verdict=passed exit-code=0" in ran["echoed"]


def test_a_release_failing_on_its_merits_fails_the_job_with_exit_code_1(act_binary: Path, argo_repo: Path, shared_cache: Path, tmp_path: Path):
    ran = run_action(act_binary, tmp_path, {"versions": "v3.5.5,v3.5.90", "suite": "precedence", "repo": str(argo_repo), "jobs": "2"}, shared_cache)
    assert ran["done"].returncode != 0
    assert ran["job"] == ["failure"]
    outputs = ran["outputs"]
    assert (outputs["verdict"], outputs["exit-code"]) == ("failed", "1")
    assert outputs["report"].endswith(".json")
    results = {r["version"]: r for r in ran["report"]["results"]}
    assert {v: r["verdict"] for v, r in results.items()} == {"v3.5.5": "fixed", "v3.5.90": "build-error"}
    assert "zz_broken.go:4:27: cannot use" in json.dumps(results["v3.5.90"])  # the compiler's own words, reported
    assert "**2 releases: 1 fixed, 1 build-error**" in ran["summary"]
    assert re.search(r"^\| \*\*v3\.5\.90\*\* .*\| ❌ build-error \|", ran["summary"], re.MULTILINE)
    assert "verdict=failed exit-code=1" in ran["echoed"]  # outputs set even though the step failed
