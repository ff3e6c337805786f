from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import gitrepo


def pytest_configure(config: pytest.Config) -> None:
    # Tests interrupt the runs they start with SIGINT, as a terminal's Ctrl-C would. A shell that
    # starts pytest in the background (nohup, a CI script's `&`) has SIGINT ignored, and children
    # inherit an ignored signal: given a handler here, they start with the default one.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

# The fixtures of Docker, Go and the sample module, for every test module that asks for them.
pytest_plugins = ("tests.runner_support",)

# Read before the tests isolate their environment from it.
UPSTREAM_REPO = os.environ.get("ARGO_WORKFLOWS_REPO")

RELEASE_TAGS = ["v3.4.0", "v3.4.1", "v3.5.0-rc1", "v3.5.0", "v3.5.1", "v3.5.2", "v3.6.0-rc1", "v3.6.0", "v4.0.0"]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own argo-patcher cache; none touches the user's."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("ARGO_PATCHER_CACHE", str(cache))
    monkeypatch.delenv("ARGO_WORKFLOWS_REPO", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return cache


@pytest.fixture
def argo_repo(tmp_path: Path) -> Path:
    """A non-bare synthetic repository with Argo-shaped release tags."""
    return gitrepo.make_repo(tmp_path / "argo", RELEASE_TAGS)


@pytest.fixture
def run_cli(isolated_cache: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m patcher`` for real, as a user would, capturing its output."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "ARGO_PATCHER_CACHE": str(isolated_cache), "COLUMNS": "200", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "patcher", *args], capture_output=True, text=True, env=full_env, timeout=timeout
        )

    return run


@pytest.fixture(scope="session")
def upstream_repo() -> Path:
    """The real upstream repository, or a skip saying how to provide it."""
    if not UPSTREAM_REPO:
        pytest.skip("ARGO_WORKFLOWS_REPO is not set: point it at a clone or mirror of argoproj/argo-workflows")
    return Path(UPSTREAM_REPO)
