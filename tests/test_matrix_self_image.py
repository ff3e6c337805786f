from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from patcher import __version__
from patcher.runners import engine

TAG = "argo-patcher-test/self:latest"


@pytest.mark.docker
def test_self_image_runs_patcher_with_its_python_git_and_go(docker_daemon: Any, host_go: str, run_cli: Any, argo_repo: Path) -> None:
    done = run_cli("image", "build", "--self", "--tag", TAG, "--rebuild", timeout=900)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == TAG
    try:
        assert docker_daemon.images.get(TAG).labels[engine.LABEL] == "self"

        def run(*args: str, **kwargs: Any) -> str:
            return docker_daemon.containers.run(TAG, list(args), remove=True, **kwargs).decode()

        assert run("--version").strip() == f"argo-patcher, version {__version__}"
        # A pod clones its --repo with git: here a mounted local repository (through git's shell).
        listed = run(
            "--repo", "/repo", "versions", "v3.5",
            user=f"{os.getuid()}:{os.getgid()}",
            volumes={str(argo_repo): {"bind": "/repo", "mode": "ro"}},
            environment={"ARGO_PATCHER_CACHE": "/tmp/cache"},
        )  # fmt: skip
        assert listed.split() == ["v3.5.2"]
        assert run("version", entrypoint="go").startswith("go version go")
        imports = "import ssl, yaml, jinja2, tree_sitter_go, docker, git; print('ok')"
        assert run("-c", imports, entrypoint="/opt/python/bin/python3").strip() == "ok"
        # It is not one of the Go images the docker runner chooses from.
        assert TAG not in run_cli("image", "list").stdout
    finally:
        docker_daemon.images.remove(TAG, force=True)
