"""The pipeline's scheduling of a release's two runs, with a runner that only keeps time.

The runs themselves are real elsewhere (test_runners, test_matrix_e2e, test_upstream); here the
patch and harness are real (a synthetic v3.5-shaped release) and the runner records when each
run started and ended.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from patcher import runners
from patcher.gocaches import buildmarks, cachewatch, gocache
from patcher.harness.contract import CASE_IDS, HARNESS_TEST
from patcher.options import ProveOptions, RunOptions
from patcher.reports import cells
from patcher.run import pipeline
from patcher.run.results import Verdict
from patcher.runners.base import ToolRun
from patcher.runners.testresults import RunResult, RunStatus, Status, TestResult
from patcher.session import Session
from tests import gitrepo
from tests.goshapes import make_tree


class TimingRunner(runners.Runner):
    kind = "fake"

    def __init__(self, status: RunStatus = RunStatus.OK) -> None:
        self.status = status
        self.spans: dict[str, tuple[float, float]] = {}
        self.slots: dict[str, str | None] = {}
        self.trims: list[int] = []
        self.trimmed_at: list[float] = []
        self.lock = threading.Lock()

    def describe(self) -> str:
        return "a runner that keeps time"

    @property
    def toolchain(self) -> str:
        return "timing-runner-go"

    def cache_identity(self) -> str:
        return "timing-runner-cache"

    def trim_cache(self, limit: int) -> gocache.TrimReport:
        self.trims.append(limit)
        self.trimmed_at.append(time.monotonic())
        return gocache.TrimReport(limit, limit, limit - 10, 10, 2, 20, 0)  # full to the limit after it: watch on

    def run(
        self, tree: Path, packages: Sequence[str], run_regex: str | None = None, *, timeout_s: float = 60, run_id: str, binary_slot: str | None = None
    ) -> RunResult:
        started = time.monotonic()
        time.sleep(0.3)
        with self.lock:
            self.spans[run_id.split("-")[1]] = (started, time.monotonic())
            self.slots[run_id.split("-")[1]] = binary_slot
        patched = "templateHolderPodMetadata" in (tree / "workflow/controller/workflowpod.go").read_text()
        assert (tree / "workflow/controller/zz_argo_patcher_precedence_test.go").is_file()
        failing = set() if patched else {"holder-cluster"}
        tests = {f"{HARNESS_TEST}/{c}": TestResult(f"{HARNESS_TEST}/{c}", Status.FAIL if c in failing else Status.PASS) for c in CASE_IDS}
        return RunResult(self.status, tests)

    def build_binary(self, tree: Path, package: str, output_dir: Path, *, ldflags: str, gcflags: str = "", timeout_s: float, run_id: str) -> Path:
        raise AssertionError("these proofs build no binaries")

    def run_tool(self, tree: Path, tool: Path, args: Sequence[str], **kwargs: object) -> ToolRun:
        raise AssertionError("these proofs run no tools")

    def fetch_modules(self, tree: Path, packages: Sequence[str], **kwargs: object) -> None:
        raise AssertionError("these proofs run no tools")

    def overlapped(self) -> bool:
        (b_start, b_end), (p_start, p_end) = self.spans["baseline"], self.spans["patched"]
        return b_start < p_end and p_start < b_end


@pytest.fixture
def release_repo(tmp_path: Path) -> Path:
    files = gitrepo.copy_tree(make_tree(tmp_path / "shape", "v3.5"))
    return gitrepo.make_repo(tmp_path / "argo", ["v3.5.0"], files_for={"v3.5.0": files})


def prove(repo: Path, runner: TimingRunner, monkeypatch: pytest.MonkeyPatch, **options: object) -> object:
    monkeypatch.setattr(runners, "prepare", lambda *args, **kwargs: runner)
    session = Session(str(repo))
    with session.workspace() as workspace:
        return pipeline.prove_release(session, workspace, session.resolve_one("v3.5.0"), RunOptions(prove=ProveOptions(**options)))


def test_cold_runs_go_one_after_the_other_and_warm_ones_side_by_side(release_repo, monkeypatch):
    first_runner = TimingRunner()
    first = prove(release_repo, first_runner, monkeypatch)
    assert first.extra["schedule"] == "one after the other" and not first_runner.overlapped()
    assert first.verdict is Verdict.FIXED
    assert first.extra["elapsed_s"] >= 0.6  # the wall time of both runs, one after the other
    line = ".".join(first.version.split(".")[:2])
    assert first_runner.slots == {"baseline": f"{line}-baseline", "patched": f"{line}-patched"}

    second_runner = TimingRunner()
    second = prove(release_repo, second_runner, monkeypatch, fresh=True)  # run again, not replayed
    assert second.extra["schedule"] == "side by side" and second_runner.overlapped()
    assert second.verdict is Verdict.FIXED
    assert second.baseline.cases["holder-cluster"] is Status.FAIL and second.patched.cases["holder-cluster"] is Status.PASS


def test_runs_that_did_not_build_leave_no_hint(release_repo, monkeypatch):
    broken = TimingRunner(RunStatus.BUILD_ERROR)
    result = prove(release_repo, broken, monkeypatch)
    assert result.verdict is Verdict.BUILD_ERROR
    assert not buildmarks.is_warm(broken.cache_identity(), result.commit)
    again = TimingRunner()
    assert prove(release_repo, again, monkeypatch).extra["schedule"] == "one after the other"


def test_without_a_baseline_there_is_one_run(release_repo, monkeypatch):
    runner = TimingRunner()
    result = prove(release_repo, runner, monkeypatch, baseline=False)
    assert list(runner.spans) == ["patched"]
    assert result.baseline is None and result.verdict is Verdict.PASSED


def test_the_hint_expires_and_needs_a_cache(isolated_cache):
    assert not buildmarks.is_warm("", "abc")
    buildmarks.remember("", "abc")
    assert not list(isolated_cache.rglob("abc"))
    buildmarks.remember("cache", "abc")
    assert buildmarks.is_warm("cache", "abc") and not buildmarks.is_warm("other cache", "abc")
    [marker] = isolated_cache.rglob("abc")
    old = time.time() - buildmarks.MAX_AGE_S - 60
    os.utime(marker, (old, old))
    assert not buildmarks.is_warm("cache", "abc")


def test_the_go_caches_are_trimmed_under_the_limit_after_each_release(release_repo, monkeypatch):
    runner = TimingRunner()
    prove(release_repo, runner, monkeypatch, cache_limit=5 * 10**9)
    assert runner.trims == [int(5 * 10**9 * 0.85)]  # room left for the releases still running
    unlimited = TimingRunner()
    prove(release_repo, unlimited, monkeypatch)
    assert unlimited.trims == []


@pytest.fixture
def quick_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachewatch, "INTERVAL_S", 0.1)
    monkeypatch.setattr(cachewatch, "_last_check", float("-inf"))
    monkeypatch.setattr(cachewatch, "_last_total", None)


def test_the_go_caches_are_watched_while_a_release_builds(release_repo, monkeypatch, quick_watch):
    runner = TimingRunner()
    prove(release_repo, runner, monkeypatch, cache_limit=5 * 10**9)
    *watching, after = runner.trims
    assert watching and set(watching) == {int(5 * 10**9 * 0.9)} and after == int(5 * 10**9 * 0.85)
    first_run = min(start for start, _ in runner.spans.values())
    last_run = max(end for _, end in runner.spans.values())
    assert all(first_run <= at <= last_run + 0.1 for at in runner.trimmed_at[:-1])  # while the runs went on
    assert not [t for t in threading.enumerate() if t.name.startswith("cachewatch")]


def test_releases_side_by_side_share_one_check_per_interval(quick_watch):
    first, second = TimingRunner(), TimingRunner()
    with cachewatch.kept_under(first, 10**10, "v3.5.0"), cachewatch.kept_under(second, 10**10, "v3.6.0"):
        time.sleep(1.0)
    checks = sorted(first.trimmed_at + second.trimmed_at)
    assert 5 <= len(checks) <= 11 and all(b - a >= 0.09 for a, b in itertools.pairwise(checks))


def test_the_more_room_the_last_trim_found_the_later_the_next_check(quick_watch, monkeypatch):
    monkeypatch.setattr(cachewatch, "GROWTH_PER_S", 10**9)  # a GB a second: a 5 GB gap takes 5 s
    roomy, tight = TimingRunner(), TimingRunner()
    cachewatch.record(gocache.TrimReport(10**10, 3 * 10**9, 3 * 10**9, 10**9, 0, 0, 0))  # 4 GB of 9 GB
    with cachewatch.kept_under(roomy, 10**10, "v3.5.0"):
        time.sleep(0.6)
    assert roomy.trims == []
    cachewatch.record(gocache.TrimReport(10**10, 8 * 10**9, 8 * 10**9, 10**9, 0, 0, 0))  # at the threshold
    with cachewatch.kept_under(tight, 10**10, "v3.5.0"):
        time.sleep(0.6)
    assert len(tight.trims) >= 3

def test_a_failing_check_ends_the_watch_not_the_release(quick_watch):
    class Failing(TimingRunner):
        def trim_cache(self, limit: int) -> gocache.TrimReport:
            super().trim_cache(limit)
            raise gocache.InfraError("no daemon")

    runner = Failing()
    with cachewatch.kept_under(runner, 10**10, "v3.5.0"):
        time.sleep(0.5)
    assert len(runner.trims) == 1
    with cachewatch.kept_under(runner, 0, "v3.5.0"):  # no limit: nothing watched
        time.sleep(0.3)
    assert len(runner.trims) == 1

def test_a_run_of_the_same_inputs_is_replayed_from_the_result_cache_unless_fresh(release_repo, monkeypatch):
    first = TimingRunner()
    result = prove(release_repo, first, monkeypatch)
    assert set(first.spans) == {"baseline", "patched"} and not result.baseline.cached
    again = TimingRunner()
    replayed = prove(release_repo, again, monkeypatch)
    assert again.spans == {}  # nothing ran: no checkout of the baseline, no test
    assert replayed.baseline.cached and replayed.patched.cached and replayed.verdict is Verdict.FIXED
    assert replayed.baseline.cases == result.baseline.cases
    assert "cached" in cells.reason(replayed)
    fresh = TimingRunner()
    assert not prove(release_repo, fresh, monkeypatch, fresh=True).patched.cached
    assert set(fresh.spans) == {"baseline", "patched"}
    other_suite = TimingRunner()
    prove(release_repo, other_suite, monkeypatch, suite="precedence")  # another test selection: another key
    assert set(other_suite.spans) == {"baseline", "patched"}


def test_a_run_that_did_not_get_to_its_tests_is_never_replayed(release_repo, monkeypatch):
    prove(release_repo, TimingRunner(RunStatus.BUILD_ERROR), monkeypatch)
    again = TimingRunner()
    prove(release_repo, again, monkeypatch)
    assert set(again.spans) == {"baseline", "patched"}
