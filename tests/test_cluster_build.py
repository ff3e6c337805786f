"""``Runner.build_binary``, which builds the cluster proof's controllers: a main package of the
sample module built with ldflags by the local Go and in a container, and a broken one refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from patcher import runners
from patcher.runners.base import BuildFailed
from patcher.runners.testresults import RunStatus
from tests.runner_support import runner_for

RUNNERS = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("local", marks=pytest.mark.go)]
MAIN = """package main

import "fmt"

var version = "unset"

func main() { fmt.Println("version", version) }
"""


@pytest.fixture
def tree(sample_tree: Path) -> Path:
    (sample_tree / "cmd" / "hello").mkdir(parents=True)
    (sample_tree / "cmd" / "hello" / "main.go").write_text(MAIN)
    (sample_tree / "cmd" / "broken").mkdir(parents=True)
    (sample_tree / "cmd" / "broken" / "main.go").write_text('package main\n\nfunc main() { var x int = "no" }\n')
    return sample_tree


@pytest.fixture
def runner(request: pytest.FixtureRequest, host_go: str, tree: Path) -> runners.Runner:
    return runner_for(request, tree)  # type: ignore[return-value]


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_build_binary_links_with_the_ldflags_into_the_output_directory(runner: runners.Runner, tree: Path, tmp_path: Path) -> None:
    built = runner.build_binary(tree, "./cmd/hello", tmp_path / "out", ldflags="-X main.version=v1.2.3", timeout_s=600, run_id="build-test")
    assert built == (tmp_path / "out" / "hello").resolve()
    assert subprocess.run([str(built)], capture_output=True, text=True, check=True).stdout.strip() == "version v1.2.3"
    static = subprocess.run(["file", str(built)], capture_output=True, text=True)
    if static.returncode == 0:
        assert "statically linked" in static.stdout  # CGO_ENABLED=0


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_code_that_does_not_compile_is_a_build_error_with_the_compilers_message(runner: runners.Runner, tree: Path, tmp_path: Path) -> None:
    with pytest.raises(BuildFailed) as raised:
        runner.build_binary(tree, "./cmd/broken", tmp_path / "out", ldflags="", timeout_s=600, run_id="build-test")
    assert raised.value.status is RunStatus.BUILD_ERROR
    assert "cannot use" in str(raised.value) and "main.go" in str(raised.value)
    assert not (tmp_path / "out" / "broken").exists()
