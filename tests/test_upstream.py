"""Against the real upstream repository (ARGO_WORKFLOWS_REPO, the bundle in CI): versions,
checkouts, the harness on unpatched and patched releases of every code shape and on the release
branches, `patcher apply` end to end, and a branch backported with a signed-off commit. Go tests
run where the runner's 'auto' puts them: Docker when a daemon answers, else the local Go."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from patcher.harness.contract import CASE_IDS
from patcher.session import Session
from tests.report_samples import schema_errors

pytestmark = pytest.mark.integration

# What the unpatched releases get wrong, one release of each code shape the patch knows: ranges
# into pod.ObjectMeta (v3.4, v3.5), into pod (v3.6), the merge in template resolution with logrus
# (v3.7), maps.Copy with a context-first template context and a "maps" import the patch removes
# (v4.0.0-v4.0.5), and without it (v4.0.6 on, v4.1). Upstream #12945 before v3.7; the copy into
# the template's metadata from v3.7.0 on (#12987), and its later changes.
IGNORED = {"holder-cluster", "holder-namespaced", "union", "all-three", "nested-by-name", "nested-innermost", "dag-task"}
BASELINE_FAILURES = {
    "v3.5.5": IGNORED,
    "v3.6.19": IGNORED,
    "v3.7.4": {"workflow-over-holder", "template-over-holder", "template-over-workflow", "all-three", "no-mutation"},
    "v4.0.3": {"workflow-over-holder", "template-over-holder", "template-over-workflow", "all-three", "no-mutation"},
    "v4.1.2": {"workflow-over-holder", "no-mutation"},
}


@pytest.fixture
def session(upstream_repo) -> Session:
    return Session(str(upstream_repo))


def test_versions_of_a_release_line_and_a_range(upstream_repo, run_cli):
    line = run_cli("--repo", str(upstream_repo), "versions", "v3.5")
    assert line.returncode == 0, line.stderr
    assert line.stdout.splitlines()[-1] == "v3.5.15"
    ranged = run_cli("--repo", str(upstream_repo), "versions", ">=v3.6,<v3.7")
    assert ranged.returncode == 0, ranged.stderr
    assert ranged.stdout.split() == ["v3.6.0"] + [f"v3.6.{n}" for n in range(2, 20)]


def test_unknown_version_fails_in_one_line(upstream_repo, run_cli):
    result = run_cli("--repo", str(upstream_repo), "diff", "--version", "v9.9.9")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown release v9.9.9; nearest: v4.1.0, v4.1.1, v4.1.2"


@pytest.mark.parametrize("tag", ["v3.5.5", "v4.1.2"])
def test_checkout_of_a_release(session, tag):
    release = session.resolve_one(tag)
    with session.workspace() as workspace:
        started = time.monotonic()
        checkout = workspace.checkout(release)
        print(f"checkout of {tag}: {time.monotonic() - started:.2f}s")
        assert (checkout.path / "workflow/controller/workflowpod.go").is_file()
        assert checkout.commit == session.mirror.commit_of(release)
    assert not checkout.path.exists()


BRANCHES = ["release-3.7", "release-4.0", "release-4.1", "main"]


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache root for the proofs of this module: a test replays what an earlier one proved."""
    return tmp_path_factory.mktemp("upstream-cache")


@pytest.fixture(scope="session")
def proved(upstream_repo: Path, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One matrix of a release of each code shape and the four branch heads, as a user runs it:
    two at a time, each branch after its line's release (it builds on that release's Go cache)."""
    report = tmp_path_factory.mktemp("upstream-matrix") / "r.json"
    spec = ",".join([*BASELINE_FAILURES, *BRANCHES])
    done = subprocess.run(
        [sys.executable, "-m", "patcher", "--repo", str(upstream_repo), "matrix", "--versions", spec, "--suite", "precedence", "--json", str(report)],
        capture_output=True, text=True, timeout=5400, env={**os.environ, "ARGO_PATCHER_CACHE": str(shared_cache)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    assert schema_errors(json.loads(report.read_text())) == []
    return {r["version"]: r for r in json.loads(report.read_text())["results"]}


@pytest.mark.parametrize("tag", sorted(BASELINE_FAILURES))
def test_harness_fails_before_and_passes_after_the_patch(proved, tag):
    release = proved[tag]
    assert release["baseline"]["status"] == "ok", release["baseline"]["message"]
    failing = {case for case, status in release["baseline"]["cases"].items() if status != "pass"}
    print(f"{tag} ({release.get('shape')}): baseline fails {sorted(failing)}")
    assert failing == BASELINE_FAILURES[tag]
    assert release["patched"]["cases"] == {case: "pass" for case in CASE_IDS}, release["patched"]["failures"]
    assert release["verdict"] == "fixed"


def test_a_matrix_of_the_release_branches_and_main(proved, upstream_repo):
    for name in BRANCHES:
        release = proved[name]
        head = subprocess.run(["git", f"--git-dir={_git_dir(upstream_repo)}", "rev-parse", f"refs/heads/{name}"],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        assert (release["ref"], release["commit"]) == ("branch", head), name
        assert release["verdict"] == "fixed" and set(release["patched"]["cases"].values()) == {"pass"}, name
        assert "no-mutation" in {case for case, status in release["baseline"]["cases"].items() if status == "fail"}, name


def test_apply_end_to_end(upstream_repo, run_cli, tmp_path, shared_cache):
    report = tmp_path / "report.json"
    result = run_cli("--repo", str(upstream_repo), "apply", "--version", "v3.5.5", "--json", str(report),
                     env={"ARGO_PATCHER_CACHE": str(shared_cache)}, timeout=3600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    [release] = json.loads(report.read_text())["results"]
    assert release["verdict"] == "fixed"
    assert release["baseline"]["cases"]["holder-cluster"] == "fail"
    assert set(release["patched"]["cases"].values()) == {"pass"}
    assert release["patched"]["tests"] and set(release["patched"]["tests"].values()) <= {"pass", "skip"}
    assert "v3.5.5" in result.stdout and "fixed" in result.stdout


def test_a_release_branch_is_backported_with_a_signed_off_commit_and_a_pr_body(proved, upstream_repo, run_cli, tmp_path, shared_cache):
    """The release-3.7 head, proved (its runs replayed from the matrix above, where they ran for
    real), then committed to a branch named as Argo's cherry-pick automation names them, signed
    off, in a clone of the repository."""
    repo = tmp_path / "argo.git"
    subprocess.run(["git", "clone", "-q", "--bare", "--shared", str(upstream_repo), str(repo)], check=True)
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Ada Maintainer\n\temail = ada@example.invalid\n")
    branch = "cherry-pick-12987-to-release-3.7"
    pr = tmp_path / "pr.md"
    result = run_cli("--repo", str(repo), "apply", "--version", "release-3.7", "--suite", "precedence", "--commit-to", branch, "--signoff",
                     "--pr-body", str(pr), "--json", str(tmp_path / "r.json"),
                     env={"GIT_CONFIG_GLOBAL": str(config), "ARGO_PATCHER_CACHE": str(shared_cache)}, timeout=3600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    [release] = json.loads((tmp_path / "r.json").read_text())["results"]
    head = proved["release-3.7"]["commit"]
    assert (release["ref"], release["commit"], release["verdict"]) == ("branch", head, "fixed")
    body = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%B", branch], capture_output=True, text=True, check=True).stdout
    assert body.startswith("fix(controller): ") and "Signed-off-by: Ada Maintainer <ada@example.invalid>" in body
    assert subprocess.run(["git", "-C", str(repo), "rev-parse", f"{branch}^"], capture_output=True, text=True).stdout.strip() == head
    text = pr.read_text()
    assert "`release-3.7`" in text and "Unpatched, the controller fails" in text and "patcher apply --version release-3.7" in text


def _git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").exists() else repo
