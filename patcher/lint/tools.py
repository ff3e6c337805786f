"""golangci-lint, as a ref pins it, built once per version and Go into argo-patcher's cache.

A golangci-lint type-checks the code it lints with the ``go/types`` it was built with and reads
the standard library of the Go it runs with: an old one built with today's Go misreads both (v1.47
built with Go 1.26 reports thousands of ``typecheck`` errors on v3.4). So each pinned version is
built with the Go of the tree's era, the newest patch of the release line the tree's go.mod names
(never older than the linter's own go.mod asks), and runs with that Go's root. Both come from the
Go module proxy: the toolchain as ``golang.org/toolchain`` (``GOTOOLCHAIN=go1.21.13``), the
linter as its module. A build goes to a staging directory renamed into place under a file lock,
as the cluster's binaries are; one that fails says why in the release's report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from patcher import locks, settings, ui
from patcher.errors import InfraError
from patcher.lint.pins import Pin
from patcher.patching import gomod
from patcher.patching.gomod import GoVersion
from patcher.runners import childprocs, hostgo
from patcher.runners.local import LocalRunner

BUILD_TIMEOUT_S = 30 * 60
_TOOLCHAIN = re.compile(r"^v0\.0\.1-go(\d+\.\d+\.\d+)\.linux-amd64$")


@dataclasses.dataclass(frozen=True)
class Linter:
    """A golangci-lint binary and the Go root it runs with."""

    version: str
    go: str  # 1.21.13
    binary: Path
    goroot: Path

    def describe(self) -> str:
        return f"golangci-lint {self.version} (Go {self.go})"


def lint_dir() -> Path:
    return settings.cache_root() / "lint"


def ensure(pin: Pin, tree_go: GoVersion) -> Linter:
    """The linter ``pin`` names, with the Go of a tree whose go.mod asks for ``tree_go``; built
    first when the cache lacks it. ``InfraError`` saying why when it cannot be had here."""
    host = hostgo.find()
    if host is None:
        raise InfraError(f"no Go on PATH to build golangci-lint {pin.version} with; install Go (go.dev/dl)")
    env = _environment(host)
    line = max(tree_go, _own_minimum(pin, host, env)).line
    go = newest_patch(line, host, env)
    target = lint_dir() / f"golangci-lint-{pin.version}-go{go}"
    goroot = _goroot(go, host, env)
    binary = target / "golangci-lint"
    if not binary.is_file():
        with locks.lock(f"lint-{target.name}", timeout=BUILD_TIMEOUT_S):
            if not binary.is_file():
                _build(pin, go, target, host, env)
    return Linter(pin.version, go, binary, goroot)


def _environment(host: hostgo.HostGo) -> dict[str, str]:
    env = LocalRunner(host).environment()
    env.pop("GOCACHEPROG", None)  # the older Go builds into the plain cache directory
    return env


_toolchains: dict[str, tuple[str, ...]] = {}  # per go binary: the toolchains the proxy serves


def _versions(host: hostgo.HostGo, env: dict[str, str]) -> tuple[str, ...]:
    """The Go releases the module proxy serves as toolchains (for linux/amd64), asked once."""
    key = str(host.go)
    if key not in _toolchains:
        # The proxies of GOPROXY but the local download cache, whose list holds only what was fetched here.
        proxy = ",".join(p for p in env.get("GOPROXY", "").split(",") if not p.startswith("file://")) or hostgo.DEFAULT_GOPROXY
        listing = _go(host, ["list", "-m", "-versions", "golang.org/toolchain"], {**env, "GOPROXY": proxy}, "listing the Go toolchains of the module proxy")
        _toolchains[key] = tuple(m.group(1) for m in map(_TOOLCHAIN.match, listing.split()) if m)
    return _toolchains[key]


def newest_patch(line: str, host: hostgo.HostGo, env: dict[str, str]) -> str:
    """The newest patch release of Go ``line`` (``1.21`` -> ``1.21.13``) the proxy has."""
    if str(host.version).startswith(f"{line}.") or str(host.version) == line:
        return str(host.version)  # the runner's own Go is of that line
    found = sorted((GoVersion.parse(v) for v in _versions(host, env) if v.startswith(f"{line}.")), reverse=True)
    if not found:
        raise InfraError(f"the Go module proxy serves no Go {line} toolchain to build and run golangci-lint with")
    return str(found[0])


def _own_minimum(pin: Pin, host: hostgo.HostGo, env: dict[str, str]) -> GoVersion:
    """The Go the linter's own go.mod asks for."""
    module = pin.package.removesuffix("/cmd/golangci-lint")
    listing = _go(host, ["mod", "download", "-json", f"{module}@{pin.version}"], env, f"downloading golangci-lint {pin.version}")
    try:
        return gomod.parse(Path(json.loads(listing)["GoMod"]).read_text(encoding="utf-8")).go
    except (ValueError, KeyError, OSError) as exc:
        raise InfraError(f"cannot read the go.mod of golangci-lint {pin.version} ({type(exc).__name__}: {exc})") from None


def _goroot(go: str, host: hostgo.HostGo, env: dict[str, str]) -> Path:
    """The root of Go ``go``: the runner's own, or the toolchain the go command fetches (once)."""
    if str(host.version) == go:
        return host.goroot
    out = _go(host, ["env", "GOROOT"], {**env, "GOTOOLCHAIN": f"go{go}"}, f"fetching the Go {go} toolchain")
    return Path(out.strip())


def _build(pin: Pin, go: str, target: Path, host: hostgo.HostGo, env: dict[str, str]) -> None:
    ui.info(f"building golangci-lint {pin.version} with Go {go} (once; later runs reuse it)")
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        build_env = {**env, "GOTOOLCHAIN": f"go{go}", "GOBIN": str(staging), "GOFLAGS": "-buildvcs=false"}
        _go(host, ["install", f"{pin.package}@{pin.version}"], build_env, f"building golangci-lint {pin.version} with Go {go}")
        (staging / "built.json").write_text(json.dumps({"version": pin.version, "go": go}) + "\n")
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    ui.info(f"built golangci-lint {pin.version} in {time.monotonic() - started:.0f}s")


def _go(host: hostgo.HostGo, args: list[str], env: dict[str, str], doing: str) -> str:
    """``go ARGS`` in a process group of its own, in a scratch directory; its stdout, or
    ``InfraError`` naming ``doing``."""
    with tempfile.TemporaryDirectory(prefix="argo-patcher-lint-") as scratch:
        return childprocs.output([str(host.go), *args], cwd=Path(scratch), env=env, doing=doing, kind="lint", timeout_s=BUILD_TIMEOUT_S)
