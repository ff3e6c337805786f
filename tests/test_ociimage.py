"""argo-patcher's image helper (patcher/delivery/ocitool, go-containerregistry): its own Go tests
(layouts of two platforms, reproducible; the docker-archive is the same image; a push to
go-containerregistry's in-memory registry serves the index and each platform), and its name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from patcher.delivery import ociimage
from tests import gotools


@pytest.mark.go
def test_the_helpers_own_go_tests_pass(tmp_path: Path, host_go: str) -> None:
    gotools.assert_go_tests_pass(ociimage.SOURCE, tmp_path, host_go, offline=False)


def test_a_change_to_the_helpers_source_names_a_new_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = shutil.copytree(ociimage.SOURCE, tmp_path / "ocitool")
    monkeypatch.setattr(ociimage, "SOURCE", source)
    ociimage.tool_name.cache_clear()
    before = ociimage.tool_name()
    (source / "main.go").write_text((source / "main.go").read_text() + "\n// changed\n")
    ociimage.tool_name.cache_clear()
    try:
        assert ociimage.tool_name() != before and ociimage.tool_name().startswith("ocitool-")
    finally:
        ociimage.tool_name.cache_clear()
