"""Any git ref as a version: branches, commits, an ambiguous name, a moved branch; the backport
onto a branch with a sign-off; an already-fixed ref. Synthetic repositories of our own."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests import gitrepo
from tests.goshapes import make_tree


@pytest.fixture
def identity(tmp_path: Path) -> dict[str, str]:
    """A git identity for argo-patcher's own git commands, as a user's global config gives one."""
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Ada Maintainer\n\temail = ada@example.invalid\n")
    return {"GIT_CONFIG_GLOBAL": str(config)}


@pytest.fixture
def no_identity(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    return {"GIT_CONFIG_GLOBAL": str(empty), "GIT_CONFIG_NOSYSTEM": "1"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """v3.5.0 (the v3.5 shape), then branches: release-3.5 one commit ahead, a fork's
    team/argo-3.5, main (the v4 shape), and 'stable' both as a tag and as a branch."""
    v35 = gitrepo.copy_tree(make_tree(tmp_path / "v3.5", "v3.5"))
    v4 = gitrepo.copy_tree(make_tree(tmp_path / "v4", "v4"))
    path = gitrepo.make_repo(tmp_path / "argo", ["v3.5.0"], files_for={"v3.5.0": v35})
    gitrepo.git(path, "branch", "release-3.5")
    gitrepo.git(path, "checkout", "-q", "release-3.5")
    gitrepo.write_files(path, {"NOTES": "a fix after v3.5.0\n"})
    gitrepo.git(path, "add", "-A")
    gitrepo.git(path, "commit", "-q", "-m", "release-3.5: a fix")
    gitrepo.git(path, "branch", "team/argo-3.5")
    gitrepo.git(path, "tag", "stable", "v3.5.0")
    gitrepo.git(path, "branch", "stable", "release-3.5")
    gitrepo.git(path, "checkout", "-q", "main")
    gitrepo.write_files(path, v4)
    gitrepo.git(path, "add", "-A")
    gitrepo.git(path, "commit", "-q", "-m", "main: the v4 shape")
    return path


def sha(repo: Path, ref: str) -> str:
    return gitrepo.git(repo, "rev-parse", f"{ref}^{{commit}}")


def proved(run_cli, repo: str, version: str, *extra: str, env: dict[str, str] | None = None) -> dict:
    """``apply --no-test`` of ``version``, as its JSON report says it went."""
    done = run_cli("--repo", repo, "apply", "--version", version, "--no-test", "--json", "-", *extra, env=env)
    assert done.returncode == 0, done.stderr
    [release] = json.loads(done.stdout)["results"]
    return release


def test_a_spec_mixes_tags_branches_and_commit_ids(repo, run_cli):
    commit = sha(repo, "release-3.5")
    done = run_cli("--repo", str(repo), "versions", f"main,release-3.5,v3.5,team/argo-3.5,{commit[:8]}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["v3.5.0", "release-3.5", commit[:8], "main", "team/argo-3.5"]


@pytest.mark.parametrize(("version", "ref", "kind"), [("release-3.5", "release-3.5", "branch"), ("main", "main", "branch"), ("v3.5.0", "v3.5.0", "tag")])
def test_reports_show_the_ref_as_asked_and_the_commit_it_was(repo, run_cli, version, ref, kind):
    release = proved(run_cli, str(repo), version)
    assert (release["version"], release["ref"], release["commit"]) == (version, kind, sha(repo, ref))
    assert release["verdict"] == "patched"
    assert release["reproduce"] == f"patcher --repo {repo} apply --version {version} --no-test"


def test_a_commit_id_of_seven_or_more_hex_digits(repo, run_cli):
    commit = sha(repo, "team/argo-3.5")
    release = proved(run_cli, str(repo), commit[:7])
    assert (release["ref"], release["commit"]) == ("commit", commit)


def test_a_name_that_is_a_tag_and_a_branch_is_the_tag(repo, run_cli):
    release = proved(run_cli, str(repo), "stable")
    assert (release["ref"], release["commit"]) == ("tag", sha(repo, "refs/tags/stable"))


def test_the_diff_of_a_branch_applies_to_its_head(repo, run_cli, tmp_path):
    done = run_cli("--repo", str(repo), "diff", "--version", "release-3.5")
    assert done.returncode == 0, done.stderr
    gitrepo.git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "head"), "release-3.5")
    subprocess.run(["git", "apply", "--check", "-"], cwd=tmp_path / "head", input=done.stdout, text=True, check=True)


def test_an_unknown_ref_is_one_line_with_the_nearest_tags_and_branches(repo, run_cli):
    done = run_cli("--repo", str(repo), "diff", "--version", "release-3.6")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: unknown ref release-3.6: no tag or branch has that name; nearest: release-3.5"


def test_a_moved_branch_is_fetched_when_the_mirror_is_older_than_the_age_limit(repo, run_cli, tmp_path):
    remote = gitrepo.bare_clone(repo, tmp_path / "remote.git")
    url = remote.as_uri()
    before = proved(run_cli, url, "release-3.5")["commit"]
    gitrepo.git(repo, "checkout", "-q", "release-3.5")
    gitrepo.write_files(repo, {"NOTES": "another fix\n"})
    gitrepo.git(repo, "commit", "-q", "-am", "release-3.5: another fix")
    gitrepo.git(repo, "push", "-q", str(remote), "release-3.5")
    moved = sha(repo, "release-3.5")
    assert moved != before

    assert proved(run_cli, url, "release-3.5", "--branch-max-age", "1h")["commit"] == before  # young enough: no network
    assert proved(run_cli, url, "v3.5.0", "--branch-max-age", "0")["commit"] == sha(repo, "v3.5.0")  # tags never move: no fetch
    assert proved(run_cli, url, "release-3.5", env={"ARGO_PATCHER_BRANCH_MAX_AGE": "0"})["commit"] == moved
    bad = run_cli("--repo", url, "versions", "release-3.5", "--branch-max-age", "soon")
    assert bad.returncode == 2 and "--branch-max-age='soon'" in bad.stderr


def test_refresh_fetches_a_moved_branch_whatever_its_age(repo, run_cli, tmp_path):
    remote = gitrepo.bare_clone(repo, tmp_path / "remote.git")
    url = remote.as_uri()
    proved(run_cli, url, "main")
    gitrepo.git(repo, "commit", "-q", "--allow-empty", "-m", "main moves")
    gitrepo.git(repo, "push", "-q", str(remote), "main")
    assert proved(run_cli, url, "main", "--refresh")["commit"] == sha(repo, "main")


def test_a_local_repository_is_always_read_fresh(repo, run_cli):
    proved(run_cli, str(repo), "main")
    gitrepo.git(repo, "commit", "-q", "--allow-empty", "-m", "main moves")
    assert proved(run_cli, str(repo), "main", "--branch-max-age", "1d")["commit"] == sha(repo, "main")


def test_backport_onto_a_branch_with_a_signed_off_commit(repo, run_cli, identity):
    branch = "cherry-pick-12987-to-release-3.5"
    done = run_cli("--repo", str(repo), "apply", "--version", "release-3.5", "--no-test", "--commit-to", branch, "--signoff", env=identity)
    assert done.returncode == 0, done.stderr
    assert gitrepo.git(repo, "rev-parse", f"{branch}^") == sha(repo, "release-3.5")
    body = gitrepo.git(repo, "log", "-1", "--format=%B", branch)
    assert body.splitlines()[0] == "fix(controller): apply templateRef holders' podMetadata beneath the workflow's. Fixes #12945"
    assert body.rstrip().endswith("Signed-off-by: Ada Maintainer <ada@example.invalid>")
    assert gitrepo.git(repo, "log", "-1", "--format=%an <%ae>", branch) == "Ada Maintainer <ada@example.invalid>"


def test_an_mbox_can_be_signed_off_too(repo, run_cli, identity):
    done = run_cli("--repo", str(repo), "diff", "--version", "main", "--format", "mbox", "--signoff", env=identity)
    assert done.returncode == 0, done.stderr
    assert "Signed-off-by: Ada Maintainer <ada@example.invalid>" in done.stdout
    unsigned = run_cli("--repo", str(repo), "diff", "--version", "main", "--signoff", env=identity)
    assert unsigned.returncode == 2 and "add --format mbox" in unsigned.stderr


def test_a_signoff_without_a_git_identity_is_refused_before_any_work(repo, run_cli, no_identity):
    done = run_cli("--repo", str(repo), "apply", "--version", "release-3.5", "--no-test", "--commit-to", "b", "--signoff", env=no_identity)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: --signoff needs your git identity")
    assert "b" not in gitrepo.git(repo, "branch", "--list", "b")
    assert run_cli("--repo", str(repo), "apply", "--version", "main", "--no-test", "--signoff").returncode == 2  # no --commit-to


def test_an_already_fixed_ref_has_nothing_to_commit(repo, run_cli, tmp_path, identity):
    out = tmp_path / "fixed"
    assert run_cli("--repo", str(repo), "apply", "--version", "main", "--no-test", "--output", str(out)).returncode == 0
    gitrepo.git(out, "commit", "-q", "-am", "the fix")
    gitrepo.git(out, "push", "-q", str(repo), "HEAD:refs/heads/fixed-main")  # the kept tree is a worktree of argo-patcher's mirror
    release = proved(run_cli, str(repo), "fixed-main", "--commit-to", "again", env=identity)
    assert release["verdict"] == "patched"
    assert not gitrepo.git(repo, "branch", "--list", "again")
    done = run_cli("--repo", str(repo), "diff", "--version", "fixed-main")
    assert done.returncode == 0 and done.stdout == "" and "already carries the precedence fix" in done.stderr
