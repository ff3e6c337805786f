"""argo-patcher's image helper (patcher/delivery/ocitool, go-containerregistry): its own Go tests
(layouts of two platforms, reproducible; the docker-archive is the same image; a push to
go-containerregistry's in-memory registry serves the index and each platform), and its name."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from patcher.delivery import ociimage


@pytest.mark.go
def test_the_helpers_own_go_tests_pass(tmp_path: Path, host_go: str) -> None:
    source = shutil.copytree(ociimage.source(), tmp_path / "ocitool")
    # The modules come from the user's module cache, else the Go module proxy (the first time).
    env = {**os.environ, "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    done = subprocess.run([host_go, "test", "-count=1", "./..."], cwd=source, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_change_to_the_helpers_source_names_a_new_build(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from patcher import selfcode

    pinned = selfcode.snapshot()
    ociimage.tool_name.cache_clear()
    before = ociimage.tool_name()
    main = f"{ociimage.SOURCE_PATH}/main.go"
    changed = dataclasses.replace(pinned, files={**pinned.files, main: pinned.files[main] + b"\n// changed\n"})
    monkeypatch.setattr(selfcode, "snapshot", lambda: changed)
    ociimage.tool_name.cache_clear()
    try:
        assert ociimage.tool_name() != before and ociimage.tool_name().startswith("ocitool-")
    finally:
        ociimage.tool_name.cache_clear()
