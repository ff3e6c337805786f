"""Running ``go test`` with the Go installed on this machine (``--runner local``).

Same command, parsing and results as in a container, with equivalent settings: CGO_ENABLED=0,
GOTOOLCHAIN=local, GOFLAGS=-buildvcs=false, and the user's go env file ignored (GOENV=off; the
module settings from it are passed on explicitly).

Caches: argo-patcher's own module and build caches under the cache root (``go/mod``,
``go/build``), not the user's. ``patcher cache clean`` can then remove exactly what argo-patcher
made without wiping a developer's caches, ``cache info`` can account for it, and a user's
GOFLAGS or cache state cannot change a verdict. The user's already downloaded modules are still
reused, read-only: their download cache is put first on GOPROXY as a ``file://`` proxy, so a
developer's machine does not fetch again what it has (go.sum checks them as usual).

``go test`` runs in its own process group (a new session: a terminal's Ctrl-C reaches only us);
a timeout, an error or an interruption kills the whole group. Each run records its group in
``<cache root>/runs/``; a run that was killed cannot clean up, so the next run kills the groups
whose owner is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from patcher import locks, settings, ui
from patcher.errors import InfraError, disk_full_line, written_path
from patcher.gocaches import gocache
from patcher.options import DEFAULT_TIMEOUT_S
from patcher.runners import childprocs, gotest, hostgo
from patcher.runners.base import TOOL_CACHE, BuildFailed, Feed, Runner, ToolRun, check_not_aborting, disk_full
from patcher.runners.testresults import RunResult, RunStatus

MAX_STDERR_BYTES = 4 << 20


def go_cache_dir() -> Path:
    return settings.cache_root() / "go"


def tools_dir() -> Path:
    return go_cache_dir() / gocache.TOOLS_DIR


def runs_dir() -> Path:
    return childprocs.runs_dir()


class LocalRunner(Runner):
    kind = "local"

    def __init__(self, host: hostgo.HostGo, *, offline: bool = False) -> None:
        self.host = host
        self.offline = offline
        self.serves_cache = gocache.serves(host.version)  # through argo-patcher's cache program (GOCACHEPROG)

    def describe(self) -> str:
        return f"local Go {self.host.version} ({self.host.go})" + (", offline" if self.offline else "")

    @property
    def toolchain(self) -> str:
        return f"local {self.host.version} {self.host.goroot}"

    def cache_identity(self) -> str:
        build = go_cache_dir() / "build"
        try:
            served = f" {gocache.LRU_DIR}" if self.serves_cache else ""  # another store within the directory
            return f"local {self.host.version} {build} {build.stat().st_ino}{served}"
        except OSError:
            return ""

    def environment(self) -> dict[str, str]:
        """How go runs: this runner's caches and settings, and its cache served by argo-patcher's program."""
        env = self._base_environment()
        if self.serves_cache:
            tool = self._cache_program(env)
            if tool is not None:
                env["GOCACHEPROG"] = gocache.serve_command(str(tool), str(go_cache_dir() / "build"))
        return env

    def _base_environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GO") and k not in ("CGO_ENABLED",)}
        caches = go_cache_dir()
        env.update(self.host.module_settings())
        env.update(
            GOENV="off",
            GOMODCACHE=str(caches / "mod"),
            GOCACHE=str(caches / "build"),
            GOPATH=str(caches / "path"),
            GOTOOLCHAIN="local",
            GOFLAGS="-buildvcs=false",
            CGO_ENABLED="0",
        )
        proxies = [] if self.offline else [env.get("GOPROXY") or hostgo.DEFAULT_GOPROXY]
        user_downloads = Path(self.host.env.get("GOMODCACHE", "")) / "cache" / "download"
        if self.host.env.get("GOMODCACHE") and user_downloads.is_dir() and user_downloads.resolve() != (caches / "mod").resolve():
            proxies.insert(0, user_downloads.resolve().as_uri())
        env["GOPROXY"] = ",".join(proxies) or "off"
        return env

    def _cache_program(self, env: dict[str, str]) -> Path | None:
        """Argo-patcher's cache program, built once per version of its source with this Go."""
        tool = tools_dir() / gocache.tool_name()
        if tool.exists():
            return tool
        tool.parent.mkdir(parents=True, exist_ok=True)
        with locks.lock(f"tool-{tool.name}", timeout=300):
            if tool.exists():
                return tool
            build = subprocess.run(
                [str(self.host.go), *gocache.build_command(str(tool))[1:]], cwd=gocache.source(), env={**env, "GOPROXY": "off"},
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            if build.returncode != 0:
                why = gotest.message_lines(build.stderr)
                ui.warn(f"cannot build argo-patcher's cache program ({why}); the Go build cache is used without tracking its use")
                self.serves_cache = False
                return None
        return tool

    def trim_cache(self, limit: int) -> gocache.TrimReport:
        """Bring this runner's Go caches (under the cache root) under ``limit`` bytes."""
        caches = go_cache_dir()
        tool = self._cache_program(self._base_environment())
        if tool is None:
            raise InfraError("no cache program to trim the Go caches with (it needs a Go that builds it)")
        command = gocache.trim_command(
            str(tool), limit, build_cache=str(caches / "build"), module_cache=str(caches / "mod"), keep=str(tools_dir())
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise InfraError(f"trimming the Go caches failed: {gotest.message_lines(done.stderr) or done.returncode}")
        return gocache.TrimReport.parse(done.stdout)

    def run(
        self,
        tree: Path,
        packages: Sequence[str],
        run_regex: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        run_id: str,
        binary_slot: str | None = None,  # unused: each run's tree has a path of its own, which Go builds into its binaries
    ) -> RunResult:
        check_not_aborting()
        reap_orphans()
        started = time.monotonic()
        parser = gotest.GoTestParser()
        go = self._go(gotest.go_test_args(packages, run_regex, timeout_s=timeout_s), Path(tree).resolve(), run_id, timeout_s, parser.feed)
        duration = time.monotonic() - started
        if go.timed_out:
            why = f"timed out after {timeout_s:g}s; go test was stopped"
            return parser.result(exit_code=None, stderr=go.stderr, duration_s=duration, stopped=why, stopped_status=RunStatus.TIMEOUT)
        if go.exit_code < 0:
            why = f"go test was killed from outside (signal {-go.exit_code})"
            return parser.result(exit_code=go.exit_code, stderr=go.stderr, duration_s=duration, stopped=why)
        result = disk_full(
            parser.result(exit_code=go.exit_code, stderr=go.stderr, duration_s=duration), go.stderr,
            lambda said: disk_full_line(written_path(said) or go_cache_dir(), "running go test"),
        )  # fmt: skip
        if self.offline and "GOPROXY=off" in result.message:
            result.status = RunStatus.INFRA_ERROR
            result.message = f"--offline, and the module cache lacks modules the tests need; run once without --offline\n{result.message}"
        return result

    def build_binary(
        self, tree: Path, package: str, output_dir: Path, *, ldflags: str, gcflags: str = "", timeout_s: float, run_id: str,
        target: Mapping[str, str] | None = None,
    ) -> Path:  # fmt: skip
        """``go build`` with the local Go and this runner's environment (its caches, CGO_ENABLED=0),
        in a process group of its own like ``go test``."""
        check_not_aborting()
        reap_orphans()
        output_dir = Path(output_dir).resolve()
        output_dir.mkdir(parents=True, exist_ok=True)
        output = output_dir / package.rstrip("/").rsplit("/", 1)[-1]
        args = gotest.go_build_args(package, str(output), ldflags=ldflags, gcflags=gcflags)
        go = self._go(args, Path(tree).resolve(), run_id, timeout_s, None, target=target)
        if go.timed_out:
            raise BuildFailed(f"timed out after {timeout_s:g}s building {package}; go build was stopped", RunStatus.TIMEOUT)
        if go.exit_code:
            message = gotest.message_lines(go.stderr) or f"exit code {go.exit_code}"
            status = RunStatus.INFRA_ERROR if go.exit_code < 0 or "GOPROXY=off" in message else RunStatus.BUILD_ERROR
            raise BuildFailed(f"building {package} failed: {message}", status)
        return output

    def fetch_modules(self, tree: Path, packages: Sequence[str], *, timeout_s: float, run_id: str) -> None:
        """``go list -deps -test`` with this runner's proxies."""
        check_not_aborting()
        if self.offline:
            raise InfraError("--offline, and the module cache lacks modules the linters need; run once without --offline")
        go = self._run([str(self.host.go), "list", "-deps", "-test", *packages], Path(tree).resolve(), run_id, timeout_s, None,
                       self._base_environment())  # fmt: skip
        if go.timed_out:
            raise InfraError(f"timed out after {timeout_s:g}s downloading the Go modules")
        if go.exit_code:
            raise InfraError(f"cannot download the Go modules: {gotest.message_lines(go.stderr) or f'exit code {go.exit_code}'}")

    def run_tool(
        self, tree: Path, tool: Path, args: Sequence[str], *, goroot: Path | None = None, env: Mapping[str, str] | None = None,
        timeout_s: float, run_id: str, cache_var: str | None = None,
    ) -> ToolRun:  # fmt: skip
        """The tool with this runner's environment (its caches; GOPROXY off: the tests fetched the
        modules), ``goroot``'s Go first on PATH when given."""
        check_not_aborting()
        reap_orphans()
        environment = {**self._base_environment(), "GOPROXY": "off", **(env or {})}
        if cache_var:
            environment[cache_var] = str(go_cache_dir() / 'build' / TOOL_CACHE)
        if goroot is not None:
            environment.update(GOROOT=str(goroot), PATH=f"{goroot / 'bin'}{os.pathsep}{environment.get('PATH', '')}")
        stdout = bytearray()
        ran = self._run([str(tool), *args], Path(tree).resolve(), run_id, timeout_s, lambda chunk: _append(stdout, chunk), environment)
        return ToolRun(None if ran.timed_out else ran.exit_code, stdout.decode("utf-8", "replace"), ran.stderr, ran.timed_out)

    def _go(
        self, args: list[str], tree: Path, run_id: str, timeout_s: float, on_stdout: Callable[[bytes], None] | None, *,
        target: Mapping[str, str] | None = None,
    ) -> _Finished:  # fmt: skip
        return self._run([str(self.host.go), *args], tree, run_id, timeout_s, on_stdout, {**self.environment(), **(target or {})})

    def _run(
        self, command: list[str], tree: Path, run_id: str, timeout_s: float, on_stdout: Callable[[bytes], None] | None, env: dict[str, str]
    ) -> _Finished:
        """Run ``command`` in ``tree`` in a process group of its own, recorded while it runs (a
        killed argo-patcher's next run reaps it); the whole group is killed when it ends, times
        out or the run is interrupted."""
        ui.debug(f"[{run_id}] {' '.join(command)} in {tree}")
        stdout = subprocess.PIPE if on_stdout is not None else subprocess.DEVNULL
        stderr = bytearray()
        name = Path(command[0]).name
        with childprocs.Group(command, name=name, run_id=run_id, kind="local", cwd=tree, env=env, stdout=stdout, stderr=subprocess.PIPE) as go:
            feed = Feed(on_stdout)
            readers = [threading.Thread(target=_pump, args=(go.proc.stderr, lambda b: _append(stderr, b)), daemon=True)]
            if on_stdout is not None:
                readers.append(threading.Thread(target=_pump, args=(go.proc.stdout, feed), daemon=True))
            for reader in readers:
                reader.start()
            try:
                timed_out = go.supervise(timeout_s)
            finally:
                go.stop()  # the test binaries too, whatever happened
                for reader in readers:  # the pipes end once the whole group is gone
                    reader.join(5)
        feed.raise_error()  # what reads the output failed (a parser bug): not a closed pipe
        return _Finished(go.proc.returncode, stderr.decode("utf-8", "replace"), timed_out)


@dataclasses.dataclass(frozen=True)
class _Finished:
    exit_code: int
    stderr: str
    timed_out: bool


def _pump(stream: object, sink: object) -> None:
    """Read ``stream`` to its end into ``sink`` (a ``Feed`` keeps what its parser raises)."""
    try:
        for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
            sink(chunk)  # type: ignore[operator]
    except (OSError, ValueError) as exc:  # the pipe closed under the reader (the group was killed)
        ui.debug(f"reading a child's output ended: {type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(OSError):
            stream.close()  # type: ignore[attr-defined]


def _append(buffer: bytearray, chunk: bytes) -> None:
    if len(buffer) < MAX_STDERR_BYTES:
        buffer.extend(chunk[: MAX_STDERR_BYTES - len(buffer)])


# -- leftovers of killed runs -------------------------------------------------------------------


def reap_orphans() -> list[int]:
    """Kill the process groups of local runs whose owner process is gone; return their ids."""
    return childprocs.reap_orphans("local", "go test")
