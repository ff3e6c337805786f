from __future__ import annotations

import subprocess

import pytest

from patcher.delivery import handover
from patcher.errors import InputError
from patcher.session import Session
from patcher.source.versions import parse_tag
from tests import gitrepo


def patched_checkout(session, workspace, tag="v3.5.1"):
    checkout = workspace.checkout(session.resolve_one(tag))
    pod = checkout.path / "workflow/controller/workflowpod.go"
    pod.write_text(pod.read_text() + "\n// patched\n")
    (checkout.path / "workflow/controller/zz_new_test.go").write_text("package controller\n")
    return checkout


def test_diff_applies_to_a_clean_checkout(argo_repo, tmp_path):
    session = Session(str(argo_repo))
    with session.workspace() as workspace:
        text = handover.diff(patched_checkout(session, workspace).path)
        clean = workspace.checkout(session.resolve_one("v3.5.1"), name="clean")
        subprocess.run(["git", "apply", "--check", "-"], cwd=clean.path, input=text, text=True, check=True)
        subprocess.run(["git", "apply", "-"], cwd=clean.path, input=text, text=True, check=True)
        assert (clean.path / "workflow/controller/workflowpod.go").read_text().endswith("// patched\n")
        assert (clean.path / "workflow/controller/zz_new_test.go").exists()
    assert text.startswith("diff --git a/workflow/controller/workflowpod.go")


def test_diff_of_an_unchanged_tree_is_empty(argo_repo):
    session = Session(str(argo_repo))
    with session.workspace() as workspace:
        assert handover.diff(workspace.checkout(session.resolve_one("v3.5.1")).path) == ""


def test_mbox_is_one_commit_that_git_am_accepts(argo_repo, tmp_path):
    session = Session(str(argo_repo))
    release = session.resolve_one("v3.5.1")
    message = handover.commit_message(release, with_harness=True)
    with session.workspace() as workspace:
        text = handover.mbox(patched_checkout(session, workspace).path, message)
    assert text.startswith("From ") and text.count("\nSubject: ") == 1
    assert "Subject: [PATCH] fix(controller): apply templateRef holders' podMetadata" in text
    assert "Fixes #12945" in text

    target = tmp_path / "target"
    gitrepo.git(tmp_path, "clone", "-q", str(argo_repo), str(target))
    gitrepo.git(target, "checkout", "-q", "-b", "backport", "v3.5.1")
    gitrepo.git(target, "am", "-q", input=text)
    assert gitrepo.git(target, "log", "-1", "--format=%s") == handover.TITLE == "fix(controller): apply templateRef holders' podMetadata beneath the workflow's. Fixes #12945"
    assert "Fixes #12945" in gitrepo.git(target, "log", "-1", "--format=%b")
    assert gitrepo.git(target, "status", "--porcelain") == ""


def test_commit_message_states_the_precedence():
    message = handover.commit_message(parse_tag("v3.5.5"), with_harness=False)
    assert message.splitlines()[0].startswith("fix(controller): ") and message.splitlines()[0].endswith(". Fixes #12945")
    assert "TestTemplateRefPodMetadataPrecedence" in message  # the regression test goes with the fix
    assert message.index("1. the podMetadata of the template's holder") < message.index("2. the workflow's podMetadata")
    assert message.index("2. the workflow's podMetadata") < message.index("3. the template's own metadata")
    assert "harness" not in message


def test_commit_to_creates_a_branch_without_touching_the_work_tree(argo_repo):
    gitrepo.write_files(argo_repo, {"scratch.txt": "uncommitted work\n"})
    status_before = gitrepo.git(argo_repo, "status", "--porcelain")
    head_before = gitrepo.git(argo_repo, "rev-parse", "HEAD")
    session = Session(str(argo_repo))
    release = session.resolve_one("v3.5.1")
    with session.workspace() as workspace:
        sha = handover.commit_to_branch(session, patched_checkout(session, workspace).path, "backport/v3.5.1", "fix: x")
    assert gitrepo.git(argo_repo, "rev-parse", "backport/v3.5.1") == sha
    assert gitrepo.git(argo_repo, "rev-parse", "backport/v3.5.1^") == gitrepo.git(argo_repo, "rev-parse", f"{release.name}^{{commit}}")
    assert gitrepo.git(argo_repo, "show", "backport/v3.5.1:workflow/controller/workflowpod.go").endswith("// patched")
    assert gitrepo.git(argo_repo, "status", "--porcelain") == status_before
    assert gitrepo.git(argo_repo, "rev-parse", "HEAD") == head_before


def test_commit_to_refuses_an_existing_branch(argo_repo):
    gitrepo.git(argo_repo, "branch", "taken", "v3.4.0")
    session = Session(str(argo_repo))
    with session.workspace() as workspace, pytest.raises(InputError, match="branch taken already exists"):
        handover.commit_to_branch(session, patched_checkout(session, workspace).path, "taken", "fix: x")
    assert gitrepo.git(argo_repo, "rev-parse", "taken") == gitrepo.git(argo_repo, "rev-parse", "v3.4.0^{commit}")


def test_commit_to_needs_a_local_repository(argo_repo, tmp_path):
    url = gitrepo.bare_clone(argo_repo, tmp_path / "remote.git").as_uri()
    session = Session(url)
    with session.workspace() as workspace, pytest.raises(InputError, match="needs --repo to be a local repository"):
        handover.commit_to_branch(session, patched_checkout(session, workspace).path, "b", "fix: x")


def test_a_backport_of_an_upstream_pull_request_is_titled_as_upstream_titles_cherry_picks():
    assert handover.commit_title("release-3.7", 12987) == f"{handover.TITLE} (cherry-pick #12987 for 3.7)"
    assert handover.commit_title("v4.0.10", 12987).endswith("(cherry-pick #12987 for 4.0)")
    assert handover.commit_title("main") == handover.TITLE
    with pytest.raises(InputError, match="main is on no release line"):
        handover.commit_title("main", 12987)
    message = handover.commit_message(parse_tag("v4.0.10"), with_harness=False, upstream_pr=12987)
    assert message.splitlines()[0].endswith("(cherry-pick #12987 for 4.0)") and "Cherry-picked from #12987." in message
