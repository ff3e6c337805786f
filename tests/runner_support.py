"""Fixtures and helpers of the Go runner tests: the sample module, Docker, Go, test images."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock
import pytest

from patcher import locks
from patcher.cluster import assets
from patcher.cluster.assets import Assets
from patcher.runners import engine

SAMPLE = Path(__file__).parent / "resources" / "gomod-sample"
# The tests' own cache volumes, kept apart from a user's (and kept between sessions: warm builds).
TEST_VOLUME_PREFIX = "argo-patcher-test"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def docker_daemon() -> object:
    """A Docker client, or a skip saying that no daemon answers."""
    import docker

    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no daemon to test with
        pytest.skip(f"no Docker daemon answers ({type(exc).__name__}: {engine.reason(exc)}); start one to run the container tests")
    return client


@pytest.fixture(scope="session")
def host_go() -> str:
    found = shutil.which("go")
    if found is None:
        pytest.skip("no go on PATH; install Go to run these tests")
    return found


@pytest.fixture(autouse=True)
def test_volumes(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ARGO_PATCHER_VOLUME_PREFIX", TEST_VOLUME_PREFIX)
    return TEST_VOLUME_PREFIX


@pytest.fixture(scope="session")
def go_image(docker_daemon: object, host_go: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image made by `patcher image build` from the local Go (reused when it exists)."""
    env = {**os.environ, "ARGO_PATCHER_CACHE": str(tmp_path_factory.mktemp("image-cache"))}
    proc = subprocess.run([sys.executable, "-m", "patcher", "image", "build"], capture_output=True, text=True, env=env, timeout=600, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def sample_tree(tmp_path: Path) -> Path:
    """A fresh copy of the sample module (a run must not depend on where the tree lives)."""
    tree = tmp_path / "tree"
    shutil.copytree(SAMPLE, tree)
    return tree


def labelled(docker_client: object, run_id: str, role: str | None = None, state: str | None = None) -> list[dict[str, object]]:
    """The containers of a run (plain listing entries: Id, Labels, State), of a role, in a state."""
    found = docker_client.api.containers(all=True, filters={"label": f"{engine.LABEL_RUN_ID}={run_id}"})  # type: ignore[attr-defined]
    return [c for c in found if (role is None or c["Labels"].get(engine.LABEL) == role) and (state is None or c["State"] == state)]


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


DRIVER = """
import sys
from pathlib import Path
from patcher import runners

mode, runner, run_id, tree = sys.argv[1:5]
run = lambda: runners.prepare(Path(tree), runner=runner).run(Path(tree), ["./hang/"], timeout_s=300, run_id=run_id)
if mode == "main":
    run()
else:
    # A worker thread, and a main thread that is interrupted and exits without calling
    # abort_all: the interpreter's exit must still stop the run rather than wait for it.
    import concurrent.futures
    pool = concurrent.futures.ThreadPoolExecutor(1)
    pool.submit(run).result()
"""


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a Python process that runs the sample's hanging tests; kill it at the end."""
    started: list[subprocess.Popen[str]] = []
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)

    def start(mode: str, runner: str, run_id: str, tree: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(script), mode, runner, run_id, str(tree)],
            cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


# -- the local runner's caches, kept between sessions ------------------------------------------


@pytest.fixture(scope="session")
def session_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kept in pytest's cache directory when there is one, so later sessions build warm."""
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("argo-patcher-local-runner")) if cache is not None else tmp_path_factory.mktemp("local-runner-cache")


@pytest.fixture
def local_cache(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One cache root for the local runner tests of a session: with its own Go build cache,
    each test would compile the standard library's testing packages again."""
    monkeypatch.setenv("ARGO_PATCHER_CACHE", str(session_cache))
    return session_cache


# -- the cluster proof's binaries -----------------------------------------------------------------


# Looked up before the tests isolate the cache and environment from the user's.
_FOUND = assets.find()
_CACHE_ROOT = os.environ.get("ARGO_PATCHER_CACHE")


@pytest.fixture(scope="session")
def cluster_assets() -> Assets:
    """The real binaries: those found (KUBEBUILDER_ASSETS, PATH, the user's cache), or those a
    build going on now makes (.ci/run starts one while the first tests run); else a skip that
    says how to get them. A test run never starts a build of many minutes by itself."""
    if _FOUND is not None:
        return _FOUND
    previous = os.environ.get("ARGO_PATCHER_CACHE")
    try:
        if _CACHE_ROOT is None:
            os.environ.pop("ARGO_PATCHER_CACHE", None)
        else:
            os.environ["ARGO_PATCHER_CACHE"] = _CACHE_ROOT
        build_lock = locks.lock("cluster-build", timeout=0)
        try:
            build_lock.acquire()
        except filelock.Timeout:  # a build is going on: wait for it
            print("waiting for the build of etcd and kube-apiserver going on", file=sys.stderr)
            build_lock = locks.lock("cluster-build", timeout=assets.LOCK_TIMEOUT_S)
            build_lock.acquire()
        build_lock.release()
        found = assets.find()
    finally:
        if previous is not None:
            os.environ["ARGO_PATCHER_CACHE"] = previous
    if found is None:
        pytest.skip("no etcd and kube-apiserver: point KUBEBUILDER_ASSETS at them, put them on PATH, or run `patcher cluster build` once")
    return found


def can_unshare() -> bool:
    """Whether a private network namespace (the cluster check's local mode) can be made here."""
    from patcher.cluster import isolation
    from patcher.errors import InfraError

    try:
        isolation.netns_command()
    except InfraError:
        return False
    return True


def runner_for(request: pytest.FixtureRequest, tree: Path) -> object:
    """The runner a test parametrized over ``docker`` and ``local`` asks for, on ``tree``."""
    from patcher import runners

    if request.param == "docker":
        return runners.prepare(tree, runner="docker", image=request.getfixturevalue("go_image"))
    request.getfixturevalue("local_cache")
    return runners.prepare(tree, runner="local")
