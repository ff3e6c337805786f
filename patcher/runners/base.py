"""What every runner shares: its interface, the deadline, and stopping everything on Ctrl-C.

A run is supervised by the thread that called it: it polls (a fraction of a second at a time)
until its container or process ends, its deadline passes, or the process is being stopped.
``abort_all`` stops every run of this process at once, from any thread: the pipeline runs
releases in worker threads, and Ctrl-C (or SIGTERM, which ``cli.main`` turns into one) only
reaches the main thread. As a safety net ``abort_all`` also runs when the interpreter shuts down
(before it waits for worker threads), so nothing is left running whatever the caller does.
"""

from __future__ import annotations

import abc
import atexit
import concurrent.futures.thread  # noqa: F401 - imported first so that our shutdown hook runs before its joins
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from patcher import ui
from patcher.errors import ExitCode, PatcherError, is_no_space
from patcher.gocaches import gocache
from patcher.options import DEFAULT_TIMEOUT_S
from patcher.runners.testresults import RunResult, RunStatus

POLL_S = 0.2
TOOL_CACHE = "argo-patcher-tool-cache"  # in the build cache: run_tool's caches (golangci-lint's)


class RunInterrupted(PatcherError):
    """The run was stopped because the process is being interrupted (Ctrl-C, SIGTERM)."""

    exit_code = ExitCode.INTERRUPTED


class BuildFailed(PatcherError):
    """``Runner.build_binary`` built nothing: ``status`` says whether the code did not compile
    (BUILD_ERROR), the deadline passed (TIMEOUT) or the machinery failed (INFRA_ERROR)."""

    def __init__(self, message: str, status: RunStatus) -> None:
        super().__init__(message)
        self.status = status
        # Code that does not compile fails on its merits (1); a timeout or the machinery is infrastructure (3).
        self.exit_code = ExitCode.TESTS_FAILED if status is RunStatus.BUILD_ERROR else ExitCode.INFRA


class Runner(abc.ABC):
    """Runs ``go test`` on a tree with one Go; made by ``runners.prepare``."""

    kind: str  # "docker" or "local"

    @abc.abstractmethod
    def describe(self) -> str:
        """One line: where and with which Go the tests run."""

    @property
    @abc.abstractmethod
    def toolchain(self) -> str:
        """Names the Go that runs the tests exactly (an image's id, a local Go's version and place)."""

    @abc.abstractmethod
    def cache_identity(self) -> str:
        """Names the Go build cache this runner compiles into, and changes when that cache is
        made anew; empty when it does not exist yet."""

    @abc.abstractmethod
    def trim_cache(self, limit: int) -> gocache.TrimReport:
        """Remove the least recently used files of this runner's Go caches until they take at
        most ``limit`` bytes (see ``gocache``); raises ``InfraError`` when it cannot."""

    @abc.abstractmethod
    def run(
        self,
        tree: Path,
        packages: Sequence[str],
        run_regex: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        run_id: str,
        binary_slot: str | None = None,
    ) -> RunResult:
        """Run ``go test -json -count=1 [-run run_regex] packages`` in ``tree``.

        ``binary_slot`` names where this kind of run (a release line's baseline, say) may keep
        its test binaries for the next run of the same code to skip the link; runners that
        cannot reuse them ignore it.

        Returns a ``RunResult`` whatever the tests, the build or the module download did
        (``status`` says which); raises ``InfraError`` only when the machinery itself fails (no
        daemon), and ``RunInterrupted`` when ``abort_all`` stopped it. Thread-safe."""

    @abc.abstractmethod
    def build_binary(
        self, tree: Path, package: str, output_dir: Path, *, ldflags: str, gcflags: str = "", timeout_s: float, run_id: str,
        target: Mapping[str, str] | None = None,
    ) -> Path:  # fmt: skip
        """``go build -ldflags LDFLAGS [-gcflags GCFLAGS] -o OUTPUT_DIR/<name> PACKAGE`` in ``tree``,
        with the Go and the caches of this runner's test runs (CGO_ENABLED=0); returns the binary's
        path. ``target``: the GOOS, GOARCH (and GOARM) to cross-compile for; by default the Go's own.

        Raises ``BuildFailed`` when it built nothing (its ``status`` says why), ``InfraError``
        when the machinery fails, ``RunInterrupted`` when ``abort_all`` stopped it."""


    @abc.abstractmethod
    def fetch_modules(self, tree: Path, packages: Sequence[str], *, timeout_s: float, run_id: str) -> None:
        """Download into this runner's module cache what ``packages`` and their tests need
        (``go list -deps -test``), for a tool that runs without network. Raises ``InfraError``
        when it cannot (``--offline``, the proxy, a timeout), ``RunInterrupted`` when
        ``abort_all`` stopped it."""

    @abc.abstractmethod
    def run_tool(
        self, tree: Path, tool: Path, args: Sequence[str], *, goroot: Path | None = None, env: Mapping[str, str] | None = None,
        timeout_s: float, run_id: str, cache_var: str | None = None,
    ) -> ToolRun:  # fmt: skip
        """Run the binary ``tool`` (a linter built for this runner's platform) with ``args`` in
        ``tree``, with this runner's Go caches, no network, and ``goroot``'s Go instead of the
        runner's own when given (an older one the tool was built with). ``cache_var`` names the
        variable that points the tool at a cache of its own, kept in the runner's build cache (and
        trimmed with it). Raises ``InfraError`` when the machinery fails, ``RunInterrupted`` when
        ``abort_all`` stopped it."""


@dataclasses.dataclass(frozen=True)
class ToolRun:
    """What a tool printed, and how it ended."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False


def disk_full(result: RunResult, stderr: str, line: Callable[[str], str]) -> RunResult:
    """A run that failed because a file system filled up failed on the machinery, not on the
    code: an infra-error (exit 3) whose message is ``line(what go said)``, naming the file system."""
    said = "\n".join(filter(None, (stderr, result.message)))
    if result.status is not RunStatus.OK and is_no_space(said):
        result.status = RunStatus.INFRA_ERROR
        result.message = line(said)
    return result


class Feed:
    """Hands a stream's chunks to ``sink`` (a ``go test -json`` parser) from a reader thread, and
    keeps the first exception ``sink`` raises instead of losing it with the thread: the run
    re-raises it (``raise_error``) once the stream is drained, so a parser bug is never swallowed
    with the stream's own errors."""

    def __init__(self, sink: Callable[[bytes], None] | None) -> None:
        self.sink = sink
        self.error: BaseException | None = None

    def __call__(self, chunk: bytes) -> None:
        if self.sink is None or self.error is not None:
            return  # after a failure the stream is drained, not parsed
        try:
            self.sink(chunk)
        except Exception as exc:  # noqa: BLE001 - kept, and raised in the run's own thread
            self.error = exc

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


# -- stopping everything ------------------------------------------------------------------------

_aborting = threading.Event()
_live_lock = threading.Lock()
_live: dict[int, Callable[[], None]] = {}
_tokens = itertools.count()


def register(stop: Callable[[], None]) -> int:
    """Remember how to stop something that is running; returns the token to ``unregister`` it."""
    with _live_lock:
        token = next(_tokens)
        _live[token] = stop
    if _aborting.is_set():
        stop()
        raise RunInterrupted("interrupted")
    return token


def unregister(token: int) -> None:
    with _live_lock:
        _live.pop(token, None)


def abort_all() -> None:
    """Stop every run of this process (their containers and process groups); runs waiting on
    them raise ``RunInterrupted``, and runs started afterwards do too. Call it from the main
    thread on KeyboardInterrupt when runs go on in other threads."""
    _aborting.set()
    with _live_lock:
        stops = list(_live.values())
    for stop in stops:
        try:
            stop()
        except Exception as exc:  # noqa: BLE001 - stopping the others matters more; said at debug level
            ui.debug(f"stopping a run failed: {type(exc).__name__}: {exc}")


def check_not_aborting() -> None:
    """Raise ``RunInterrupted`` once ``abort_all`` was called: no new run may start."""
    if _aborting.is_set():
        raise RunInterrupted("interrupted")


def reset_abort() -> None:
    """Allow runs again after ``abort_all`` (for long-lived callers and tests)."""
    _aborting.clear()


def _abort_at_exit() -> None:
    with _live_lock:
        pending = bool(_live)
    if pending:
        ui.debug("stopping the test runs still going on")
        abort_all()


atexit.register(_abort_at_exit)
# Interpreter shutdown joins worker threads (concurrent.futures does it from a threading
# "atexit" hook) before plain atexit hooks run; register there too, where it exists, so that
# workers blocked on a run are released rather than waited for.
_register_threading_atexit = getattr(threading, "_register_atexit", None)
if _register_threading_atexit is not None:
    try:
        _register_threading_atexit(_abort_at_exit)
    except Exception as exc:  # noqa: BLE001 - plain atexit still stops them, only later
        ui.debug(f"cannot stop runs before threads are joined at exit: {type(exc).__name__}: {exc}")


def supervise(finished: Callable[[float], bool], deadline: float) -> bool:
    """Poll ``finished(timeout)`` until it is true (returns False) or ``deadline`` passes
    (returns True). Raises ``RunInterrupted`` when ``abort_all`` is called meanwhile."""
    while True:
        if _aborting.is_set():
            raise RunInterrupted("interrupted")
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        if finished(min(POLL_S, left)):
            if _aborting.is_set():  # it ended because abort_all stopped it
                raise RunInterrupted("interrupted")
            return False
