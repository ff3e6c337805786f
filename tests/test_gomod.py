"""Reading go.mod: the module path, and the Go versions a tree needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from patcher.errors import InputError
from patcher.patching import gomod
from patcher.patching.gomod import GoVersion


def test_versions_order_like_go() -> None:
    ordered = ["1.20", "1.21", "1.21rc1", "1.21rc2", "1.21.0", "1.21.5", "1.22"]
    parsed = [GoVersion.parse(v) for v in ordered]
    assert parsed == sorted(parsed)
    assert GoVersion.parse("go1.21.5") == GoVersion(1, 21, 5)
    assert str(GoVersion.parse("1.21rc2")) == "1.21rc2" and GoVersion.parse("1.22.3").line == "1.22"
    with pytest.raises(ValueError):
        GoVersion.parse("1")


def test_find_a_version_in_text() -> None:
    assert GoVersion.find("go version go1.26.8 linux/amd64") == GoVersion(1, 26, 8)
    assert GoVersion.find("GOLANG_VERSION=1.21.5") == GoVersion(1, 21, 5)
    assert GoVersion.find("no version") is None


def test_read_go_and_toolchain(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(
        "// a comment\nmodule github.com/argoproj/argo-workflows/v3 // trailing\n\ngo 1.21.0\n\ntoolchain go1.21.5\n\n"
        "require (\n\tgo 1.99 // not a directive inside a block\n\tgithub.com/a/b v1.0.0\n)\n"
    )
    mod = gomod.read(tmp_path)
    assert mod.module == "github.com/argoproj/argo-workflows/v3"
    assert mod.minimum == GoVersion(1, 21, 0)
    assert mod.preferred == GoVersion(1, 21, 5)
    assert mod.describe() == "go 1.21.0, toolchain go1.21.5"


def test_go_line_only_and_older_toolchain(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/m\n\ngo 1.21\n")
    assert gomod.read(tmp_path).preferred == GoVersion.parse("1.21")
    (tmp_path / "go.mod").write_text("module example.com/m\ngo 1.22.2\ntoolchain go1.22.0\n")
    assert gomod.read(tmp_path).preferred == GoVersion(1, 22, 2)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no go.mod"):
        gomod.read(tmp_path)
    (tmp_path / "go.mod").write_text("go 1.21\n")
    with pytest.raises(InputError, match="no module line"):
        gomod.read(tmp_path)
    (tmp_path / "go.mod").write_text("module m\ngo banana\n")
    with pytest.raises(InputError, match="not a Go version"):
        gomod.read(tmp_path)


def test_the_sample_module() -> None:
    mod = gomod.read(Path(__file__).parent / "resources" / "gomod-sample")
    assert mod.module == "example.com/sample" and mod.minimum == GoVersion(1, 21)
