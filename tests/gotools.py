"""Go tools that the tests of argo-patcher's GitHub Action use, pinned, found on PATH first, else
built once from the Go module proxy into argo-patcher's cache (``<cache root>/tools``), the way
``patcher cluster build`` builds the control plane, with the local runner's Go caches.

    python3 -m tests.gotools      # build those not found (.ci/run starts it early, in the background)

kubectl too, when PATH has none recent enough: built as the control plane is (``patcher.cluster.assets``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from patcher import locks, settings
from patcher.cluster import assets
from patcher.errors import PatcherError
from patcher.runners import hostgo
from patcher.runners.local import LocalRunner

BUILD_TIMEOUT_S = 15 * 60


@dataclasses.dataclass(frozen=True)
class Tool:
    name: str
    package: str
    version: str

    @property
    def cached(self) -> Path:
        return settings.cache_root() / "tools" / f"{self.name}-{self.version}" / self.name


ACTIONLINT = Tool("actionlint", "github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12")
ACT = Tool("act", "github.com/nektos/act", "v0.2.89")
TOOLS = (ACTIONLINT, ACT)


def locate(tool: Tool) -> Path | None:
    on_path = shutil.which(tool.name)
    if on_path:
        return Path(on_path)
    return tool.cached if tool.cached.is_file() and os.access(tool.cached, os.X_OK) else None


def ensure(tool: Tool) -> Path:
    """The tool, built first when it is nowhere (one build at a time, under a lock); raises
    ``RuntimeError`` saying why when it cannot be built."""
    found = locate(tool)
    if found is not None:
        return found
    with locks.lock(f"tool-{tool.name}-{tool.version}", timeout=BUILD_TIMEOUT_S):
        found = locate(tool)
        if found is not None:
            return found
        host = hostgo.find()
        if host is None:
            raise RuntimeError(f"no Go on PATH to build {tool.name} {tool.version}")
        tool.cached.parent.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{tool.name}-", dir=tool.cached.parent.parent) as staging:
            env = {**LocalRunner(host).environment(), "GOBIN": staging}
            done = subprocess.run(
                [str(host.go), "install", f"{tool.package}@{tool.version}"], env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
            )
            if done.returncode != 0:
                raise RuntimeError(f"building {tool.name} {tool.version} failed: {done.stderr.strip().splitlines()[-1:]}")
            shutil.rmtree(tool.cached.parent, ignore_errors=True)
            os.replace(staging, tool.cached.parent)
            os.mkdir(staging)  # for the context manager to remove
    return tool.cached


def kubectl() -> Path | None:
    """A kubectl whose kustomize reads directories as resources (1.21 on, as upstream's manifests
    need): PATH's, else the one ``patcher.cluster.assets`` builds, pinned to the control plane's
    Kubernetes, into the cache."""
    on_path = shutil.which("kubectl")
    if on_path and _kubectl_minor(on_path) >= 21:
        return Path(on_path)
    cached = assets.KUBECTL.cached_binary
    return cached if cached.is_file() else None


def _kubectl_minor(binary: str) -> int:
    try:
        done = subprocess.run([binary, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30)
        return int(json.loads(done.stdout)["clientVersion"]["minor"].rstrip("+"))
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return 0


# Read before the tests isolate their cache from the user's: the tools are built once for all sessions.
_USER_CACHE = os.environ.get("ARGO_PATCHER_CACHE")


@contextlib.contextmanager
def users_cache() -> Iterator[None]:
    """ARGO_PATCHER_CACHE as the user had it before the tests isolated theirs, while in the block."""
    isolated = os.environ.get("ARGO_PATCHER_CACHE")
    if _USER_CACHE is None:
        os.environ.pop("ARGO_PATCHER_CACHE", None)
    else:
        os.environ["ARGO_PATCHER_CACHE"] = _USER_CACHE
    try:
        yield
    finally:
        if isolated is not None:
            os.environ["ARGO_PATCHER_CACHE"] = isolated


def for_tests(tool: Tool) -> Path:
    """``ensure`` in the user's cache (not a test's own), or a pytest skip saying why not."""
    import pytest

    try:
        with users_cache():
            return ensure(tool)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no {tool.name} on PATH or in argo-patcher's cache, and it cannot be built: {exc}")


def kubectl_for_tests() -> Path:
    """``kubectl()`` (after the build going on, if any: .ci/run starts one), or a pytest skip
    saying how to get one; a test never starts that build of minutes by itself."""
    import pytest

    with users_cache():
        found = kubectl()
        if found is None:
            with locks.lock("cluster-build", timeout=assets.LOCK_TIMEOUT_S):  # kubectl builds under the control plane's lock
                found = kubectl()
    if found is None:
        pytest.skip(f"no kubectl 1.21 or later on PATH or in argo-patcher's cache; `python3 -m tests.gotools` builds {assets.KUBECTL.version}")
    return found


def main() -> int:
    for tool in TOOLS:
        try:
            print(f"{tool.name} {tool.version}: {ensure(tool)}", flush=True)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"{tool.name} {tool.version}: {exc}", file=sys.stderr, flush=True)
            return 1
    if kubectl() is None:
        try:
            print(f"kubectl {assets.KUBECTL.version}: {assets.build_recipe(assets.KUBECTL)}", flush=True)
        except PatcherError as exc:
            print(f"kubectl {assets.KUBECTL.version}: {exc}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


def assert_go_tests_pass(source: Path, scratch: Path, go: str, *, offline: bool, timeout_s: int = 900) -> None:
    """``go test ./...`` of one of argo-patcher's own Go helpers, copied to ``scratch`` (their
    modules from the user's module cache, else, unless ``offline``, the Go module proxy)."""
    copy = shutil.copytree(source, scratch / source.name)
    env = {**os.environ, "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", **({"GOPROXY": "off"} if offline else {})}
    done = subprocess.run([go, "test", "-count=1", "./..."], cwd=copy, env=env, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stdout + done.stderr
