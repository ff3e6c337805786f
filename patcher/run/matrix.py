"""The one orchestrator: proving one release (``apply``) or many (``matrix``) the same way.

A run first checks everything that is the whole run's (``preflight``: settings, options, the
branch to commit to, where tests run), once, before any release starts. Then each release goes
through the pipeline in worker threads; one release's failure is its own and the others go on.
A worker keeps to one release line, in version order (``LineQueue``): neighbouring releases
share most of their Go build, so each builds on what its predecessor left in the cache, and two
workers never compile the same dependencies of one line at once.
A run-wide failure met while proving (the Docker daemon went away) stops the run at once: it is
raised, as one line with its exit code, whatever the number of releases. At the end the reports
are written and shown, and the verdicts give the exit code (``results.exit_code``).

Ctrl-C (or SIGTERM) stops the queue, asks the running releases to stop at their next stage,
runs the ``on_interrupt`` clean-up (containers, process groups), and re-raises as ``Stopped``,
which carries what the run has: the releases that finished keep their results, the others are
``interrupted``. A run-wide failure ends the same way, its error in ``Outcome.run_wide``. Either
way the reports are written before the one line and the exit code (130, or the failure's).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import shlex
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from patcher import runners, settings, ui
from patcher.errors import ExitCode, InputError, PatcherError, internal_error_line, no_space_line
from patcher.options import RunOptions
from patcher.run import pipeline
from patcher.run.pipeline import NOTHING_LATER, LaterStages
from patcher.run.progress import Progress, for_console
from patcher.run.results import ErrorKind, ReleaseResult, exit_code, interrupted
from patcher.session import Session
from patcher.source import versions
from patcher.source.mirrors import UPSTREAM_URL
from patcher.source.versions import Release

StageCallback = Callable[[Release, str], None]
Prove = Callable[[Release, StageCallback], ReleaseResult]

# Compiling and linking Argo's controller test binary peaks at about this much memory.
JOB_MEMORY_BYTES = 3 * 1024**3
JOBS_HELP = (
    "Releases proved side by side. Default: half the CPU cores (at least 2), and no more than "
    "one per 3 GiB of memory: each release's `go test` already compiles on every core, so more "
    "jobs than that only queue for the CPU, while two or more overlap one release's checkout, "
    "container start and test run with another's compile."
)
GRACE_S = 10.0


class Stopped(KeyboardInterrupt):
    """The run was interrupted; ``outcome`` is what it has (see ``Outcome``), its reports still to write."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.why)
        self.outcome = outcome


class Cancelled(BaseException):
    """Raised inside a worker, at its next stage change, once the run is stopped.

    A BaseException so that a pipeline's ``except Exception`` does not turn it into a result.
    """


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def memory_bytes() -> int | None:
    """Physical memory, or the cgroup's limit when a container has a lower one."""
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        return min(physical, int(limit)) if limit.isdigit() else physical
    except OSError:
        return physical


def default_jobs(cpus: int | None = None, memory: int | None = None) -> int:
    cpus = cpu_count() if cpus is None else cpus
    memory = memory_bytes() if memory is None else memory
    jobs = max(2, cpus // 2)
    if memory:
        jobs = min(jobs, max(1, memory // JOB_MEMORY_BYTES))
    return jobs


def preflight(session: Session, releases: Sequence[Release], options: RunOptions, later: LaterStages = NOTHING_LATER) -> RunOptions:
    """Check what is the whole run's, once, before any release starts; return the options with
    the runner decided ("auto" becomes "docker" or "local"). Raises the run's one error."""
    settings.check()
    options.check()
    if options.deliver.any and len(releases) != 1:
        raise InputError("--output, --keep and --commit-to hand over one release's tree; name one release")
    if later.hand_over is not None and (options.deliver.any or options.deliver.upstream_pr is not None):
        later.hand_over.check(session, options.deliver, releases)
    if options.prove is not None:
        kind = runners.resolve_kind(options.prove.runner, options.prove.image)
        runners.reap_leftovers(kind)
        for proof in later.proofs:
            proof.preflight(kind)
        options = dataclasses.replace(options, prove=dataclasses.replace(options.prove, runner=kind))
    return options


@dataclasses.dataclass
class Outcome:
    """Every release's result, in the order asked for; those the run did not finish are
    ``interrupted`` when it was stopped (``why``: by what) or met a run-wide failure (``run_wide``)."""

    results: list[ReleaseResult]
    run_wide: PatcherError | None = None  # the error that stopped the whole run
    why: str = ""  # what interrupted the run, when something did

    @property
    def exit_code(self) -> ExitCode:
        if self.run_wide is not None:
            return self.run_wide.exit_code
        if self.why:
            return ExitCode.INTERRUPTED
        return exit_code([r.verdict for r in self.results])


def stop_reason(exc: BaseException) -> str:
    """What interrupted a run, from its ``KeyboardInterrupt`` (SIGTERM's handler names itself)."""
    return str(exc.args[0]) if exc.args and exc.args[0] else "interrupted (Ctrl-C)"


def _partial(releases: Sequence[Release], results: dict[Release, ReleaseResult], why: str) -> list[ReleaseResult]:
    return [results[release] if release in results else interrupted(release.name, why) for release in releases]


class LineQueue:
    """The releases still to prove, by release line (a ref without one is a line of its own).

    A worker takes the next release of the line it worked on; when that line is done it takes
    the line with the most releases left that no other worker is on (the longest first, so the
    lines end together), else helps with the longest line."""

    def __init__(self, releases: Sequence[Release]) -> None:
        self._lines: dict[object, collections.deque[Release]] = {}
        for release in sorted(releases):
            self._lines.setdefault(release.line or release.name, collections.deque()).append(release)
        self._on: dict[int, object] = {}  # worker -> the line it is on
        self._lock = threading.Lock()

    def take(self, worker: int) -> Release | None:
        with self._lock:
            line = self._on.get(worker)
            if line is None or not self._lines.get(line):
                others = {key for who, key in self._on.items() if who != worker}
                left = [key for key, pending in self._lines.items() if pending]
                if not left:
                    return None
                free = [key for key in left if key not in others]
                line = max(free or left, key=lambda key: len(self._lines[key]))
                self._on[worker] = line
            return self._lines[line].popleft()


class _Run:
    def __init__(self, releases: Sequence[Release], prove: Prove, progress: Progress) -> None:
        self.prove = prove
        self.progress = progress
        self.pending = LineQueue(releases)
        self.results: dict[Release, ReleaseResult] = {}
        self.run_wide: PatcherError | None = None
        self.cancel = threading.Event()
        self.lock = threading.Lock()

    def on_stage(self, release: Release, stage: str) -> None:
        if self.cancel.is_set():
            raise Cancelled
        self.progress.stage(release, stage)

    def work(self, worker: int) -> None:
        while not self.cancel.is_set():
            release = self.pending.take(worker)
            if release is None:
                return
            try:
                result = self.prove_one(release)
            except Cancelled:
                return
            if self.cancel.is_set():  # the run was stopped under it; its result means nothing
                return
            self.progress.finish(release, result)

    def prove_one(self, release: Release) -> ReleaseResult:
        began = time.monotonic()
        try:
            result = self.prove(release, self.on_stage)
        except PatcherError as exc:
            if exc.run_wide:
                with self.lock:
                    self.run_wide = self.run_wide or exc
                self.cancel.set()
                runners.abort_all()
                raise Cancelled from exc
            full = no_space_line(exc)
            result = ReleaseResult(release.name, message=full or str(exc), error=ErrorKind.INFRA if full else ErrorKind.of(exc.exit_code))
        except Exception as exc:  # noqa: BLE001 - one release's bug must not stop the others
            ui.debug("".join(traceback.format_exception(exc)))
            # A full disk is named; any other error is argo-patcher's own, its traceback kept in a log file the line names.
            message = no_space_line(exc) or internal_error_line(exc, release.name)
            result = ReleaseResult(release.name, message=message, error=ErrorKind.INFRA)
        result.extra.setdefault("elapsed_s", round(time.monotonic() - began, 3))
        with self.lock:
            if not self.cancel.is_set():  # one that ends once the run is stopped was stopped with it: interrupted
                self.results[release] = result
        return result


def run(
    releases: Sequence[Release],
    prove: Prove,
    *,
    jobs: int,
    progress: Progress,
    on_interrupt: Callable[[], None] = lambda: None,
    grace_s: float = GRACE_S,
) -> Outcome:
    """Prove every release with ``jobs`` threads; the results come back in ``releases``' order."""
    state = _Run(releases, prove, progress)
    workers = [threading.Thread(target=state.work, args=(n,), name=f"matrix-{n}", daemon=True) for n in range(max(1, min(jobs, len(releases))))]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():
                worker.join(0.2)  # a bounded wait keeps Ctrl-C responsive
    except KeyboardInterrupt as exc:
        with state.lock:
            state.cancel.set()
            finished = dict(state.results)
        on_interrupt()
        deadline = time.monotonic() + grace_s
        for worker in (w for w in workers if w.ident is not None):
            worker.join(max(0.0, deadline - time.monotonic()))
        why = stop_reason(exc)
        raise Stopped(Outcome(_partial(releases, finished, why), why=why)) from None
    if state.run_wide is not None:
        runners.reset_abort()
        return Outcome(_partial(releases, state.results, f"the run stopped: {state.run_wide}"), state.run_wide)
    return Outcome([state.results[release] for release in releases])


def prove_all(
    session: Session,
    releases: Sequence[Release],
    options: RunOptions,
    *,
    jobs: int,
    prove_release: Callable[..., ReleaseResult] = pipeline.prove_release,
    on_interrupt: Callable[[], None] | None = None,
    later: LaterStages = NOTHING_LATER,
) -> Outcome:
    """Prove ``releases`` in one workspace (one mirror, one run directory), showing progress."""
    workers = max(1, min(jobs, len(releases)))
    if len(releases) > 1:
        ui.info(f"proving {len(releases)} releases, {workers} at a time")
    maintained = versions.maintained_lines(session.mirror.releases())
    with session.workspace(keep=options.deliver.keep) as workspace, for_console(releases) as view:

        def prove(release: Release, on_stage: StageCallback) -> ReleaseResult:
            result = prove_release(session, workspace, release, options, on_stage=on_stage, later=later)
            result.extra.setdefault("reproduce", reproduce_command(session.repo, release, options))
            result.extra.setdefault("maintained_lines", maintained)
            return result

        return run(releases, prove, jobs=jobs, progress=view, on_interrupt=on_interrupt or runners.abort_all)


def reproduce_command(repo: str, release: Release, options: RunOptions) -> str:
    """The one command that proves ``release`` again as this run did (wherever its tests run)."""
    args = ["patcher"]
    if repo != UPSTREAM_URL:
        args += ["--repo", repo]
    args += ["apply", "--version", release.name]
    args += options.prove.command_line() if options.prove is not None else ["--no-test"]
    return shlex.join(args)


def prove_and_report(
    session: Session, releases: Sequence[Release], options: RunOptions, *, jobs: int, spec: str, later: LaterStages = NOTHING_LATER
) -> ExitCode:
    """``patcher apply`` and ``patcher matrix``: check, prove, report; the verdicts give the exit code."""
    options = preflight(session, releases, options, later)
    try:
        outcome = prove_all(session, releases, options, jobs=jobs, later=later)
    except Stopped as stopped:
        later.report(stopped.outcome.results, options.reports, spec)
        raise
    except KeyboardInterrupt as exc:  # before any release started (the workspace, the mirror)
        why = stop_reason(exc)
        later.report(_partial(releases, {}, why), options.reports, spec)
        raise Stopped(Outcome(_partial(releases, {}, why), why=why)) from None
    later.report(outcome.results, options.reports, spec)
    if outcome.run_wide is not None:
        raise outcome.run_wide
    return outcome.exit_code
