from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from patcher.errors import InfraError, InputError
from patcher.session import Session
from patcher.source.mirrors import RepoSource, Store
from tests import gitrepo


def tree_state(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``path`` with its size and mtime, to prove nothing was written."""
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file()}


def test_local_repository_is_used_read_only(argo_repo, run_cli, isolated_cache):
    before = tree_state(argo_repo)
    result = run_cli("--repo", str(argo_repo), "versions", "v3.5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["v3.5.2"]
    with Session(str(argo_repo)).workspace() as workspace:
        checkout = workspace.checkout(Session(str(argo_repo)).resolve_one("v3.4.1"))
        assert (checkout.path / "RELEASE").read_text() == "v3.4.1\n"
    assert tree_state(argo_repo) == before
    assert (isolated_cache / "mirrors").is_dir()


def test_bare_local_repository(argo_repo, tmp_path, run_cli):
    bare = gitrepo.bare_clone(argo_repo, tmp_path / "bare.git")
    result = run_cli("--repo", str(bare), "versions", ">=v3.5,<v4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["v3.5.0", "v3.5.1", "v3.5.2", "v3.6.0"]


def test_url_is_cloned_once_and_a_warm_cache_needs_no_network(argo_repo, tmp_path, run_cli, isolated_cache):
    bare = gitrepo.bare_clone(argo_repo, tmp_path / "remote.git")
    url = bare.as_uri()
    first = run_cli("--repo", url, "versions", "latest")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["v4.0.0"]
    assert "cloning" in first.stderr

    bare.rename(tmp_path / "gone.git")  # any fetch from here on would fail
    second = run_cli("--repo", url, "versions", "v3.4,v3.5.1")
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["v3.4.1", "v3.5.1"]
    assert "cloning" not in second.stderr and "fetching" not in second.stderr
    assert [p.name for p in (isolated_cache / "mirrors").iterdir()] == [RepoSource(url).key]


def test_a_version_missing_from_the_cache_is_fetched(argo_repo, tmp_path, run_cli):
    bare = gitrepo.bare_clone(argo_repo, tmp_path / "remote.git")
    url = bare.as_uri()
    assert run_cli("--repo", url, "versions", "latest").stdout.split() == ["v4.0.0"]
    gitrepo.add_release(argo_repo, "v4.0.1")
    gitrepo.git(argo_repo, "push", "-q", str(bare), "--tags")

    assert run_cli("--repo", url, "versions", "latest").stdout.split() == ["v4.0.0"], "latest is there: no fetch"
    found = run_cli("--repo", url, "versions", "v4.0.1")
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["v4.0.1"]
    assert "fetching" in found.stderr
    assert run_cli("--repo", url, "versions", "latest", "--refresh").stdout.split() == ["v4.0.1"]


def test_unknown_version_is_one_line_naming_the_nearest(argo_repo, run_cli):
    result = run_cli("--repo", str(argo_repo), "versions", "v9.9.9")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "error: unknown release v9.9.9; nearest: v3.5.2, v3.6.0, v4.0.0"


def test_unreachable_url_is_an_infrastructure_error_and_leaves_nothing(tmp_path, run_cli, isolated_cache):
    result = run_cli("--repo", (tmp_path / "nowhere.git").as_uri(), "versions")
    assert result.returncode == 3
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: git failed while cloning") and "point --repo at a local mirror" in last
    assert "Traceback" not in result.stderr
    assert list((isolated_cache / "mirrors").iterdir()) == []


@pytest.mark.parametrize("kind", ["missing", "plain-dir"])
def test_repo_that_is_not_a_git_repository(tmp_path, run_cli, kind):
    path = tmp_path / "not-git"
    if kind == "plain-dir":
        path.mkdir()
    result = run_cli("--repo", str(path), "versions")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(path) in result.stderr


def test_repository_that_is_not_argo(tmp_path):
    repo = gitrepo.make_repo(tmp_path / "other", ["v1.0.0"], {"README": "not argo\n"})
    with pytest.raises(InputError, match="does not look like Argo Workflows: v1.0.0 has no workflow/controller/workflowpod.go"):
        Session(str(repo)).resolve_one("v1.0.0")


def test_repository_without_release_tags(tmp_path):
    repo = gitrepo.make_repo(tmp_path / "untagged", [])
    gitrepo.write_files(repo, {"a": "b"})
    gitrepo.git(repo, "add", "-A")
    gitrepo.git(repo, "commit", "-qm", "x")
    with pytest.raises(InputError, match="no release tags"):
        Session(str(repo)).resolve("latest")


def test_a_version_spec_naming_many_is_refused_where_one_is_needed(argo_repo):
    with pytest.raises(InputError, match="names 2 releases"):
        Session(str(argo_repo)).resolve_one(">=v3.5.1,<v3.6")


def test_concurrent_first_uses_make_one_mirror(argo_repo, tmp_path, isolated_cache):
    url = gitrepo.bare_clone(argo_repo, tmp_path / "remote.git").as_uri()
    script = (
        "import sys; from patcher.session import Session; "
        "print(' '.join(r.name for r in Session(sys.argv[1]).resolve('supported')))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert set(outputs) == {"v3.4.1 v3.5.2 v3.6.0 v4.0.0"}
    assert [p.name for p in (isolated_cache / "mirrors").iterdir()] == [RepoSource(url).key]


def test_mirror_keys_are_stable_and_distinct():
    a, b = RepoSource("https://github.com/argoproj/argo-workflows.git"), RepoSource("https://example.com/argo-workflows")
    assert a.key.startswith("argo-workflows-") and b.key.startswith("argo-workflows-")
    assert a.key != b.key and a.key == RepoSource("https://github.com/argoproj/argo-workflows.git").key


def test_store_lists_its_mirrors(argo_repo, isolated_cache):
    store = Store()
    assert store.mirrors() == []
    Session(str(argo_repo), store).resolve("latest")
    assert [p.parent for p in store.mirrors()] == [isolated_cache / "mirrors"]


def test_git_failures_become_infra_errors(argo_repo):
    mirror = Session(str(argo_repo)).mirror
    release = mirror.releases()[0]
    mirror.git.update_environment(GIT_DIR=str(argo_repo / "no-such-dir"))
    with pytest.raises(InfraError, match=f"git failed while reading {release}"):
        mirror.commit_of(release)
