"""The patch on every release and branch of the real repository (ARGO_WORKFLOWS_REPO: a clone or
mirror of upstream, or the bundle .ci/run clones): it renders for the release's code, applies
with `git apply` to a clean checkout, is gofmt-clean, its imports match its code, and the tree it
makes is recognised as patched. That it compiles and passes is the harness's and the history's
proof (tests/test_upstream.py, docs/releases.json)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from patcher.delivery import handover
from patcher.harness import upstream
from patcher.patching import goimports, patch, shapes
from patcher.patching.gosyntax import GoFile
from patcher.patching.gotree import GoTree
from patcher.runners import gofmt
from patcher.session import Session
from tests.conftest import UPSTREAM_REPO

pytestmark = pytest.mark.integration
GOFMT = Path(shutil.which("go") or "/nonexistent").with_name("gofmt")


def every_ref() -> list[str]:
    """Every release tag from v3.4.0 and every release branch and main, of the repository the
    integration tests run against (read when the tests are collected)."""
    if not UPSTREAM_REPO:
        return ["(no ARGO_WORKFLOWS_REPO)"]
    git = ["git", f"--git-dir={_git_dir(Path(UPSTREAM_REPO))}"]
    tags = subprocess.run([*git, "tag", "--list", "v*"], capture_output=True, text=True, check=True).stdout.split()
    releases = Session(UPSTREAM_REPO).resolve(">=v3.4.0") if tags else []
    heads = subprocess.run([*git, "for-each-ref", "--format=%(refname:short)", "refs/heads/release-*", "refs/heads/main"],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    return [r.name for r in releases] + sorted(h for h in heads if h == "main" or h >= "release-3.7")


def _git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").exists() else repo


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    if not UPSTREAM_REPO:
        pytest.skip("ARGO_WORKFLOWS_REPO is not set: point it at a clone or mirror of argoproj/argo-workflows (.ci/run uses the bundle)")
    os.environ["ARGO_PATCHER_CACHE"] = str(tmp_path_factory.mktemp("patch-integration-cache"))
    return Session(UPSTREAM_REPO)


@pytest.mark.parametrize("ref", every_ref())
def test_the_patch_renders_applies_is_gofmt_clean_and_its_imports_match(session: Session, ref: str, tmp_path: Path) -> None:
    release = session.resolve_one(ref)
    with session.workspace() as workspace:
        tree = workspace.checkout(release).path
        plan = patch.plan(GoTree(tree), gofmt.check)
        if plan.already_patched:
            pytest.skip(f"{ref} already carries the fix")
        assert shapes.WORKFLOWPOD in plan.changed_files
        for relative, content in plan.contents.items():
            patched = GoFile(content)
            used = goimports.used_names(patched)
            assert [spec.path for spec in goimports.imports(patched) if spec.names and not spec.names & used] == [], f"{relative}: an import left unused"
            assert goimports.new_syntax_errors(GoFile((tree / relative).read_bytes()), patched) == [], relative
            if GOFMT.is_file():
                formatted = subprocess.run([str(GOFMT)], input=content, capture_output=True, check=True).stdout
                assert formatted == content, f"{relative} is not gofmt-clean"
        test = upstream.render_for(GoTree(tree), gofmt.check)  # the fix's own test, rendered for this ref's helpers
        assert sorted(test) == [shapes.TEMPLATE_REF_TEST, shapes.RESOLUTION_TEST] and len(upstream.test_names(test)) == 3
        plan.apply()
        text = handover.diff(tree)
        assert patch.plan(GoTree(tree), gofmt.check).already_patched
        clean = workspace.checkout(release, name=f"{ref}-clean").path
        subprocess.run(["git", "apply", "--check", "-"], cwd=clean, input=text, text=True, check=True)
