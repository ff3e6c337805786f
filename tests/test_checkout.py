from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from patcher.errors import InputError
from patcher.session import Session
from patcher.source.checkout import RUN_DIR_PREFIX
from tests import gitrepo


def worktrees(session: Session) -> list[str]:
    listing = session.mirror.git.worktree("list", "--porcelain")
    return [line.removeprefix("worktree ") for line in listing.splitlines() if line.startswith("worktree ")][1:]


def test_checkout_is_a_clean_detached_tree_of_the_tag(argo_repo):
    session = Session(str(argo_repo))
    release = session.resolve_one("v3.5.1")
    with session.workspace() as workspace:
        checkout = workspace.checkout(release)
        assert (checkout.path / "RELEASE").read_text() == "v3.5.1\n"
        assert (checkout.path / "workflow/controller/workflowpod.go").is_file()
        assert gitrepo.git(checkout.path, "rev-parse", "HEAD") == gitrepo.git(argo_repo, "rev-parse", "v3.5.1^{commit}")
        assert gitrepo.git(checkout.path, "status", "--porcelain") == ""
        assert checkout.commit == gitrepo.git(argo_repo, "rev-parse", "v3.5.1^{commit}")
        root = workspace.root
    assert not root.exists()
    assert worktrees(session) == []


def test_checkout_head_is_detached(argo_repo):
    session = Session(str(argo_repo))
    with session.workspace() as workspace:
        checkout = workspace.checkout(session.resolve_one("v4.0.0"))
        detached = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=checkout.path)
        assert detached.returncode == 1


def test_trees_are_removed_when_the_run_fails(argo_repo):
    session = Session(str(argo_repo))
    with pytest.raises(RuntimeError), session.workspace() as workspace:
        first = workspace.checkout(session.resolve_one("v3.4.0"))
        second = workspace.checkout(session.resolve_one("v3.4.1"))
        raise RuntimeError("boom")
    assert not first.path.exists() and not second.path.exists()
    assert worktrees(session) == []


def test_kept_trees_stay_and_are_not_reaped(argo_repo, tmp_path):
    session = Session(str(argo_repo))
    with session.workspace(keep=True) as workspace:
        kept = workspace.checkout(session.resolve_one("v3.4.0"))
    with session.workspace() as workspace:
        into = workspace.checkout(session.resolve_one("v3.4.1"), into=tmp_path / "out")
    assert (kept.path / "RELEASE").read_text() == "v3.4.0\n"
    assert (tmp_path / "out" / "RELEASE").read_text() == "v3.4.1\n"
    with session.workspace():
        pass
    assert kept.path.exists() and into.path.exists()
    assert sorted(worktrees(session)) == sorted([str(kept.path), str(into.path)])
    shutil.rmtree(kept.path.parent)


def test_output_directory_must_be_new_or_empty(argo_repo, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    session = Session(str(argo_repo))
    with session.workspace() as workspace, pytest.raises(InputError, match="exists and is not empty"):
        workspace.checkout(session.resolve_one("v3.4.1"), into=tmp_path / "out")
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"


DRIVER = """
import signal, sys, time
from patcher.cli import _interrupt
from patcher.session import Session
signal.signal(signal.SIGTERM, _interrupt)  # as patcher.cli.main does
session = Session(sys.argv[1])
with session.workspace() as workspace:
    checkout = workspace.checkout(session.resolve_one("v3.5.1"))
    print(checkout.path, flush=True)
    time.sleep(60)
"""


def start_driver(repo: Path) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(repo)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    path = Path(proc.stdout.readline().strip())
    assert path.is_dir()
    return proc, path


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_removes_its_trees(argo_repo, signum):
    session = Session(str(argo_repo))
    session.resolve("latest")  # make the mirror before the driver, so both share it
    proc, path = start_driver(argo_repo)
    proc.send_signal(signum)
    proc.wait(timeout=30)
    assert not path.exists()
    assert not path.parent.exists()
    assert worktrees(session) == []


def test_trees_of_a_killed_run_are_reaped_by_the_next(argo_repo):
    session = Session(str(argo_repo))
    session.resolve("latest")
    proc, path = start_driver(argo_repo)
    proc.kill()
    proc.wait(timeout=30)
    assert path.exists() and path.parent.name.startswith(f"{RUN_DIR_PREFIX}{proc.pid}-")
    with session.workspace():
        pass
    assert not path.exists()
    assert worktrees(session) == []


def test_files_the_mirror_lacks_are_left_out_with_a_notice(tmp_path, capsys):
    repo = gitrepo.make_repo(tmp_path / "argo", ["v3.5.0"], files_for={"v3.5.0": {"manifests/huge.yaml": "x" * 1000}})
    blob = gitrepo.git(repo, "rev-parse", "v3.5.0:manifests/huge.yaml")
    os.remove(repo / ".git" / "objects" / blob[:2] / blob[2:])
    session = Session(str(repo))
    with session.workspace() as workspace:
        checkout = workspace.checkout(session.resolve_one("v3.5.0"))
        assert checkout.left_out == ("manifests/huge.yaml",)
        assert (checkout.path / "workflow/controller/workflowpod.go").is_file()
        assert not (checkout.path / "manifests/huge.yaml").exists()
        assert gitrepo.git(checkout.path, "status", "--porcelain") == ""
    assert "lacks 1 file(s) of v3.5.0 (manifests/huge.yaml)" in capsys.readouterr().err


def test_many_releases_share_one_workspace(argo_repo):
    session = Session(str(argo_repo))
    with session.workspace() as workspace:
        paths = [workspace.checkout(r).path for r in session.resolve("supported")]
        assert [(p / "RELEASE").read_text().strip() for p in paths] == ["v3.4.1", "v3.5.2", "v3.6.0", "v4.0.0"]
        assert len({p.parent for p in paths}) == 1


def test_temporary_trees_leave_out_the_directories_without_go_but_kept_ones_are_whole(tmp_path):
    files = {"sdks/java/Client.java": "class Client {}\n", "docs/index.md": "# docs\n", "ui/app.ts": "export {}\n"}
    repo = gitrepo.make_repo(tmp_path / "argo", ["v3.5.0"], files_for={"v3.5.0": files})
    session = Session(str(repo))
    release = session.resolve_one("v3.5.0")
    with session.workspace() as workspace:
        lean = workspace.checkout(release)
        assert (lean.path / "workflow/controller/workflowpod.go").is_file()
        assert not any((lean.path / d).exists() for d in ("sdks", "docs", "ui"))
        assert gitrepo.git(lean.path, "status", "--porcelain") == ""
        whole = workspace.checkout(release, into=tmp_path / "out")
        assert all((whole.path / name).is_file() for name in files)


def test_run_directories_of_dead_runs_are_reaped_whatever_their_mirror(argo_repo, tmp_path, monkeypatch):
    from patcher.source import checkout as checkout_module

    monkeypatch.setattr(checkout_module, "scratch_parent", lambda: str(tmp_path))
    monkeypatch.setattr(checkout_module, "run_dir_parents", lambda: [tmp_path])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    abandoned = tmp_path / f"{RUN_DIR_PREFIX}{dead_pid}-abc"
    (abandoned / "v3.5.1" / "workflow").mkdir(parents=True)
    (abandoned / "v3.5.1" / ".git").write_text(f"gitdir: {tmp_path / 'other-mirror' / 'worktrees' / 'v3.5.1'}\n")
    (tmp_path / "other-mirror" / "worktrees" / "v3.5.1").mkdir(parents=True)
    orphaned_kept = tmp_path / f"{RUN_DIR_PREFIX}{dead_pid}-def"
    (orphaned_kept / "v3.4.0").mkdir(parents=True)
    (orphaned_kept / "v3.4.0" / ".git").write_text(f"gitdir: {tmp_path / 'gone' / 'worktrees' / 'v3.4.0'}\n")
    live = tmp_path / f"{RUN_DIR_PREFIX}{os.getpid()}-ghi"
    (live / "v3.5.1").mkdir(parents=True)
    session = Session(str(argo_repo))
    with session.workspace(keep=True) as workspace:
        kept = workspace.checkout(session.resolve_one("v3.4.0"))
    kept_run_dir = kept.path.parent.rename(tmp_path / f"{RUN_DIR_PREFIX}{dead_pid}-kept")
    session.mirror.git.worktree("repair", str(kept_run_dir / "v3.4.0"))

    with session.workspace():
        pass

    assert not abandoned.exists()
    assert orphaned_kept.exists() and live.exists()
    assert (kept_run_dir / "v3.4.0" / "RELEASE").read_text() == "v3.4.0\n"


def test_reaping_looks_on_the_tmpfs_even_when_this_run_would_not_use_it(tmp_path, monkeypatch):
    from patcher.source import checkout as checkout_module

    tmpfs = tmp_path / "shm"
    tmpfs.mkdir()
    monkeypatch.setattr(checkout_module, "TMPFS_CANDIDATES", (str(tmpfs),))
    monkeypatch.setattr(checkout_module, "TMPFS_MIN_FREE", 1 << 62)  # full: this run goes elsewhere
    assert checkout_module.scratch_parent() is None
    assert tmpfs in checkout_module.run_dir_parents()
