"""The patch and the harness on real releases (needs ARGO_WORKFLOWS_REPO; the build also needs Go)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from patcher import delivery, harness, patch
from patcher.session import Session

RELEASES = ["v3.4.18", "v3.5.5", "v3.5.15", "v3.6.19", "v3.7.0", "v3.7.4", "v3.7.18", "v4.0.10", "v4.1.2"]
MERGING = {"v3.7.0", "v3.7.4", "v3.7.18", "v4.0.10", "v4.1.2"}
GO = shutil.which("go")

pytestmark = pytest.mark.integration


@pytest.fixture
def session(upstream_repo) -> Session:
    return Session(str(upstream_repo))


@pytest.mark.parametrize("tag", RELEASES)
def test_the_patch_applies_is_gofmt_clean_and_builds(session, tmp_path, tag):
    release = session.resolve_one(tag)
    with session.workspace() as workspace:
        tree = workspace.checkout(release).path
        plan = patch.plan(tree)
        expected = ["workflow/controller/workflowpod.go"] + (["workflow/templateresolution/context.go"] if tag in MERGING else [])
        assert plan.changed_files == expected
        plan.apply()
        text = delivery.diff(tree)
        assert patch.plan(tree).already_patched

        clean = workspace.checkout(release, name=f"{tag}-clean").path
        subprocess.run(["git", "apply", "--check", "-"], cwd=clean, input=text, text=True, check=True)
        harness.write(tree)
        if GO is None:
            pytest.skip("no Go toolchain on PATH: gofmt and go build not checked")
        gofmt = subprocess.run([os.path.join(os.path.dirname(GO), "gofmt"), "-l", *expected, harness.path(tree)], cwd=tree, capture_output=True, text=True)
        assert gofmt.stdout == "" and gofmt.returncode == 0
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}
        build = subprocess.run([GO, "build", "./workflow/..."], cwd=tree, env=env, capture_output=True, text=True)
        assert build.returncode == 0, build.stderr[-3000:]
