from __future__ import annotations

import _thread
import threading
import time

import pytest

from patcher.errors import DockerUnavailable, ExitCode, InfraError, InputError
from patcher.options import RunOptions
from patcher.run import matrix, pipeline
from patcher.run.progress import PlainProgress
from patcher.run.results import ReleaseResult, Verdict, exit_code
from patcher.source.versions import parse_tag
from tests import report_samples as samples

RELEASES = [parse_tag(t) for t in ("v3.4.17", "v3.5.15", "v3.6.19", "v3.7.18")]
GiB = 1024**3


def progress(lines: list[str] | None = None) -> PlainProgress:
    return PlainProgress(RELEASES, say=(lines.append if lines is not None else lambda line: None))


def ok(release, on_stage) -> ReleaseResult:
    for stage in ("checkout", "patch", "baseline", "patched", "done"):
        on_stage(release, stage)
    result = samples.fixed()
    result.version = release.name
    return result


@pytest.mark.parametrize(
    ("cpus", "memory", "jobs"),
    [(2, 16 * GiB, 2), (1, None, 2), (16, 64 * GiB, 8), (16, 16 * GiB, 5), (8, 2 * GiB, 1), (3, 0, 2)],
)
def test_default_jobs_is_half_the_cores_at_least_two_capped_by_memory(cpus, memory, jobs):
    assert matrix.default_jobs(cpus, memory) == jobs


def test_results_keep_the_releases_order_whatever_finishes_first():
    def slow_first(release, on_stage):
        time.sleep(0.3 if release is RELEASES[0] else 0.0)
        return ok(release, on_stage)

    lines: list[str] = []
    outcome = matrix.run(RELEASES, slow_first, jobs=4, progress=progress(lines))
    assert [r.version for r in outcome.results] == [r.name for r in RELEASES]
    assert lines[-1].startswith("[v3.4.17] done: fixed")  # it did finish last
    assert outcome.exit_code is ExitCode.OK and outcome.run_wide is None
    assert all(isinstance(r.extra["elapsed_s"], float) for r in outcome.results)


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_no_more_than_jobs_releases_run_at_once(jobs):
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def counting(release, on_stage):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.1)
        with lock:
            running[0] -= 1
        return ok(release, on_stage)

    matrix.run(RELEASES, counting, jobs=jobs, progress=progress())
    assert peak[0] == jobs


def test_one_release_failing_never_stops_the_others():
    def flaky(release, on_stage):
        if release.name == "v3.5.15":
            raise InfraError("docker: the container was killed")
        if release.name == "v3.6.19":
            raise ValueError("a bug")
        return ok(release, on_stage)

    outcome = matrix.run(RELEASES, flaky, jobs=2, progress=progress())
    verdicts = {r.version: r.verdict for r in outcome.results}
    assert verdicts == {"v3.4.17": Verdict.FIXED, "v3.5.15": Verdict.INFRA_ERROR, "v3.6.19": Verdict.INFRA_ERROR, "v3.7.18": Verdict.FIXED}
    assert outcome.results[1].message == "docker: the container was killed"
    # argo-patcher's own error: named as such, its traceback in a log file the line names
    assert outcome.results[2].message.startswith("internal error in v3.6.19: ValueError: a bug; the traceback is in ")
    assert outcome.run_wide is None
    assert outcome.exit_code is ExitCode.INFRA  # nothing failed on its merits


def test_an_input_error_of_one_release_is_that_releases_and_exit_2_when_alone():
    def unrecognised(release, on_stage):
        if release.name == "v3.5.15":
            raise InputError("workflow/controller/workflowpod.go: addMetadata not found")
        return ok(release, on_stage)

    outcome = matrix.run(RELEASES, unrecognised, jobs=2, progress=progress())
    assert [r.verdict for r in outcome.results].count(Verdict.INPUT_ERROR) == 1
    assert outcome.run_wide is None and outcome.exit_code is ExitCode.USAGE


def test_a_run_wide_error_stops_the_run_at_once():
    started: list[str] = []

    def no_docker(release, on_stage):
        started.append(release.name)
        time.sleep(0.05)
        raise DockerUnavailable("cannot reach the Docker daemon (no Docker socket); start it or use --runner local")

    outcome = matrix.run(RELEASES, no_docker, jobs=1, progress=progress())
    assert started == ["v3.4.17"]  # the queue stopped: no other release was tried
    assert isinstance(outcome.run_wide, DockerUnavailable) and outcome.exit_code is ExitCode.INFRA


@pytest.mark.parametrize(
    ("makes", "code"),
    [
        ((samples.fixed, samples.already_correct, samples.passed, samples.patched_untested, samples.pre_existing), ExitCode.OK),
        ((samples.fixed, samples.still_failing), ExitCode.TESTS_FAILED),
        ((samples.patch_error, samples.infra_error), ExitCode.TESTS_FAILED),
        ((samples.build_error,), ExitCode.TESTS_FAILED),
        ((samples.input_error, samples.still_failing), ExitCode.TESTS_FAILED),
        ((samples.fixed, samples.infra_error), ExitCode.INFRA),
        ((samples.input_error, samples.infra_error), ExitCode.INFRA),
        ((samples.fixed, samples.input_error), ExitCode.USAGE),
    ],
)
def test_exit_code(makes, code):
    assert exit_code([make().verdict for make in makes]) is code


def test_ctrl_c_stops_the_queue_and_the_running_releases():
    started: list[str] = []
    reached_patched: list[str] = []
    interrupted = threading.Event()
    cleaned = []

    def blocking(release, on_stage):
        started.append(release.name)
        on_stage(release, "checkout")
        _thread.interrupt_main()  # the user presses Ctrl-C while this release runs
        interrupted.wait(5)
        on_stage(release, "patched")  # the next stage change stops it
        reached_patched.append(release.name)
        return ok(release, on_stage)

    def on_interrupt():
        cleaned.append(True)
        interrupted.set()

    with pytest.raises(KeyboardInterrupt):
        matrix.run(RELEASES, blocking, jobs=1, progress=progress(), on_interrupt=on_interrupt, grace_s=5)
    assert started == ["v3.4.17"]
    assert reached_patched == []
    assert cleaned == [True]


def test_prove_all_shares_one_workspace_and_cleans_it_up(argo_repo, tmp_path):
    from patcher.session import Session

    session = Session(str(argo_repo))
    releases = session.resolve("v3.4,v3.5,v3.6")
    seen = []

    def prove_release(session_, workspace, release, options, on_stage, later):
        assert session_ is session and options is run_options and later is pipeline.NOTHING_LATER
        on_stage(release, "checkout")
        checkout = workspace.checkout(release)
        assert (checkout.path / "RELEASE").read_text() == f"{release.name}\n"
        seen.append((workspace, checkout.path))
        return ok(release, on_stage)

    run_options = RunOptions()
    outcome = matrix.prove_all(session, releases, run_options, jobs=2, prove_release=prove_release, on_interrupt=lambda: None)
    assert [r.version for r in outcome.results] == ["v3.4.1", "v3.5.2", "v3.6.0"]
    assert len({id(w) for w, _ in seen}) == 1
    assert len({p.parent for _, p in seen}) == 1  # one run directory
    assert not any(p.exists() for _, p in seen)  # removed when the matrix ended


def test_a_worker_keeps_to_its_release_line_and_two_never_share_one_while_another_waits():
    tags = ["v3.4.0", "v3.4.1", "v3.4.2", "v3.5.0", "v3.5.1", "v3.6.0", "v3.6.1", "v3.6.2", "v3.6.3"]
    queue = matrix.LineQueue([parse_tag(t) for t in reversed(tags)])
    taken: dict[int, list[str]] = {0: [], 1: []}
    for _ in range(len(tags)):
        for worker in (0, 1):
            release = queue.take(worker)
            if release is not None:
                taken[worker].append(release.name)
    # The longest line first, each worker's releases in version order; the first worker done
    # with its line takes the line nobody is on, and the last one helps with it.
    assert taken[0] == ["v3.6.0", "v3.6.1", "v3.6.2", "v3.6.3", "v3.5.1"]
    assert taken[1] == ["v3.4.0", "v3.4.1", "v3.4.2", "v3.5.0"]
    assert queue.take(0) is None and queue.take(1) is None


def test_when_every_line_is_taken_a_free_worker_helps_with_the_longest():
    queue = matrix.LineQueue([parse_tag(t) for t in ("v3.4.0", "v3.4.1", "v3.4.2")])
    assert [queue.take(0).name, queue.take(1).name, queue.take(0).name] == ["v3.4.0", "v3.4.1", "v3.4.2"]
