"""argo-patcher's image helper (patcher/delivery/ocitool, go-containerregistry): its own Go tests
(layouts of two platforms, reproducible; the docker-archive is the same image; a push to
go-containerregistry's in-memory registry serves the index and each platform), and its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from patcher.delivery import ociimage
from tests import gotools


@pytest.mark.go
def test_the_helpers_own_go_tests_pass(tmp_path: Path, host_go: str) -> None:
    gotools.assert_go_tests_pass(ociimage.source(), tmp_path, host_go, offline=False)


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
