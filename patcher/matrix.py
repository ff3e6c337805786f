"""Proving many releases side by side: worker threads, isolated failures, one exit code.

Each release runs through a ``prove`` callable (the pipeline's ``prove_release`` with the
session, workspace and options bound). A release's failure is its own: an error raised while
proving it becomes that release's ``infra-error`` result and the others go on. Only when every
release fails with an error is it the run's problem: ``Outcome.error`` (exit 2 or 3).
Ctrl-C stops the queue, asks the running releases to stop at their next stage, runs the
``on_interrupt`` clean-up (containers), and re-raises.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from patcher import reports, ui
from patcher.errors import ExitCode, PatcherError
from patcher.progress import Progress, for_console
from patcher.results import ReleaseResult, Verdict
from patcher.session import Session
from patcher.versions import Release

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


class Cancelled(BaseException):
    """Raised inside a worker, at its next stage change, once the run is interrupted.

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


def exit_code(results: Sequence[ReleaseResult]) -> ExitCode:
    """0 when every release passed; 1 when one failed on its merits; 3 when only infrastructure failed."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return ExitCode.OK
    if any(r.verdict is not Verdict.INFRA_ERROR for r in failed):
        return ExitCode.TESTS_FAILED
    return ExitCode.INFRA


@dataclasses.dataclass
class Outcome:
    results: list[ReleaseResult]
    error: PatcherError | None = None  # set when every release failed with an error: the run's problem

    @property
    def exit_code(self) -> ExitCode:
        return self.error.exit_code if self.error is not None else exit_code(self.results)


class _Run:
    def __init__(self, releases: Sequence[Release], prove: Prove, progress: Progress) -> None:
        self.prove = prove
        self.progress = progress
        self.pending: queue.Queue[Release] = queue.Queue()
        for release in releases:
            self.pending.put(release)
        self.results: dict[Release, ReleaseResult] = {}
        self.errors: dict[Release, PatcherError] = {}
        self.cancel = threading.Event()
        self.lock = threading.Lock()

    def on_stage(self, release: Release, stage: str) -> None:
        if self.cancel.is_set():
            raise Cancelled
        self.progress.stage(release, stage)

    def work(self) -> None:
        while not self.cancel.is_set():
            try:
                release = self.pending.get_nowait()
            except queue.Empty:
                return
            try:
                result = self.prove_one(release)
            except Cancelled:
                return
            finally:
                self.pending.task_done()
            if self.cancel.is_set():  # the run was stopped under it; its result means nothing
                return
            self.progress.finish(release, result)

    def prove_one(self, release: Release) -> ReleaseResult:
        began = time.monotonic()
        try:
            result = self.prove(release, self.on_stage)
        except PatcherError as exc:
            with self.lock:
                self.errors[release] = exc
            result = ReleaseResult(release.tag, message=str(exc), extra={"error": type(exc).__name__})
        except Exception as exc:  # noqa: BLE001 - one release's bug must not stop the others
            ui.debug("".join(traceback.format_exception(exc)))
            result = ReleaseResult(release.tag, message=f"internal error: {type(exc).__name__}: {exc}", extra={"error": "internal"})
        result.extra.setdefault("elapsed_s", round(time.monotonic() - began, 3))
        with self.lock:
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
    workers = [threading.Thread(target=state.work, name=f"matrix-{n}", daemon=True) for n in range(max(1, min(jobs, len(releases))))]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():
                worker.join(0.2)  # a bounded wait keeps Ctrl-C responsive
    except KeyboardInterrupt:
        state.cancel.set()
        on_interrupt()
        deadline = time.monotonic() + grace_s
        for worker in (w for w in workers if w.ident is not None):
            worker.join(max(0.0, deadline - time.monotonic()))
        raise
    results = [state.results[release] for release in releases]
    run_wide = state.errors[releases[0]] if releases and len(state.errors) == len(releases) else None
    return Outcome(results, run_wide)


def prove_all(
    session: Session,
    releases: Sequence[Release],
    options: object,
    *,
    jobs: int,
    prove_release: Callable[..., ReleaseResult] | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> Outcome:
    """Prove ``releases`` in one workspace (one mirror, one run directory), showing progress."""
    if prove_release is None:
        from patcher.pipeline import prove_release
    if on_interrupt is None:
        from patcher.runners.base import abort_all as on_interrupt
    workers = max(1, min(jobs, len(releases)))
    ui.info(f"proving {len(releases)} release{'s' * (len(releases) != 1)}, {workers} at a time")
    with session.workspace() as workspace, for_console(releases) as view:

        def prove(release: Release, on_stage: StageCallback) -> ReleaseResult:
            return prove_release(session, workspace, release, options, on_stage=on_stage)

        return run(releases, prove, jobs=jobs, progress=view, on_interrupt=on_interrupt)


def prove_and_report(
    session: Session,
    releases: Sequence[Release],
    options: object,
    *,
    jobs: int,
    spec: str,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
) -> ExitCode:
    """``patcher matrix``: prove, show and write the reports, and say how it went as an exit code."""
    outcome = prove_all(session, releases, options, jobs=jobs)
    reports.present(outcome.results, json_path=json_path, junit_path=junit_path, markdown_path=markdown_path, spec=spec)
    if outcome.error is not None:
        raise outcome.error
    return outcome.exit_code
