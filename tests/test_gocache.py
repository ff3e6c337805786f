"""argo-patcher's Go build cache program, for real: its own Go tests, the runners serving their
build cache through it, and trimming to a limit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from patcher import runners
from patcher.errors import InputError
from patcher.gocaches import gocache
from patcher.runners import local as local_runner
from tests import gotools

GO = shutil.which("go")
RUNNERS = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("local", marks=pytest.mark.go)]


@pytest.mark.go
def test_the_programs_own_go_tests_pass(tmp_path: Path, host_go: str) -> None:
    gotools.assert_go_tests_pass(gocache.source(), tmp_path, host_go, offline=True, timeout_s=600)


@pytest.mark.parametrize(
    ("option", "env", "expected"),
    [(None, None, 20 * 10**9), ("5GB", None, 5 * 10**9), (None, "3GiB", 3 * 2**30), ("0", "1TB", 0), ("2500MB", None, 2_500_000_000)],
)
def test_the_limit_comes_from_the_option_else_the_environment_else_20GB(option, env, expected, monkeypatch):
    if env is not None:
        monkeypatch.setenv("ARGO_PATCHER_CACHE_LIMIT", env)
    assert gocache.limit_bytes(option) == expected


@pytest.mark.parametrize(("option", "message"), [("lots", "expected a size"), ("1GB", "under 2GB would trim")])
def test_a_bad_limit_is_one_input_error(option, message):
    with pytest.raises(InputError, match=message):
        gocache.limit_bytes(option)


def test_a_trim_leaves_room_under_the_limit_for_the_releases_still_running():
    limit = gocache.limit_bytes("20GB")
    assert gocache.trim_target(limit) == 17 * 10**9
    assert gocache.MIN_LIMIT * gocache.TRIM_TO > 10**9  # a small limit still holds a release's build


def test_the_trim_report_is_read_from_the_programs_last_line():
    text = 'noise\n{"limit":100,"before":90,"after":60,"also":30,"removed_files":2,"removed_bytes":30,"protected_bytes":0}\n'
    report = gocache.TrimReport.parse(text)
    assert (report.total, report.removed_bytes) == (90, 30)
    assert "after removing" in report.describe()


@pytest.fixture
def runner(request: pytest.FixtureRequest, host_go: str, sample_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> runners.Runner:
    monkeypatch.setenv("ARGO_PATCHER_CACHE", str(tmp_path / "cache"))
    if request.param == "docker":
        monkeypatch.setenv("ARGO_PATCHER_VOLUME_PREFIX", f"argo-patcher-gocachetest-{os.getpid()}")
        request.addfinalizer(lambda: _remove_volumes(f"argo-patcher-gocachetest-{os.getpid()}"))
        return runners.prepare(sample_tree, runner="docker", image=request.getfixturevalue("go_image"))
    return runners.prepare(sample_tree, runner="local")


def _remove_volumes(prefix: str) -> None:
    from patcher.runners import engine

    for volume in engine.client().volumes.list(filters={"name": prefix}):
        volume.remove(force=True)


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_a_run_serves_its_build_cache_through_the_program_and_trim_keeps_what_was_just_used(runner: runners.Runner, sample_tree: Path) -> None:
    assert runner.serves_cache  # type: ignore[attr-defined] # Go 1.26 here
    build = local_runner.go_cache_dir() / "build"
    if isinstance(runner, local_runner.LocalRunner):
        runner.environment()  # builds the program itself, on Go's own cache

    def native() -> set[Path]:
        return {p for p in build.glob("[0-9a-f][0-9a-f]/*") if p.is_file()}

    before = native()
    first = runner.run(sample_tree, ["./ok/"], run_id=f"gocache-{os.getpid()}-1")
    assert first.tests, first.message
    report = runner.trim_cache(0)
    assert report.before > 10**6 and report.removed_files == 0  # the standard library's test packages, at least
    if isinstance(runner, local_runner.LocalRunner):
        assert list((build / gocache.LRU_DIR).rglob("*-d"))
        assert native() == before  # nothing of the run went into Go's own cache: all of it through the program
    tight = runner.trim_cache(gocache.MIN_LIMIT)
    # Everything was used within the grace: nothing is removed, however tight the limit.
    assert tight.removed_files == 0 and (tight.total <= gocache.MIN_LIMIT or tight.protected_bytes > 0)
    again = runner.run(sample_tree, ["./ok/"], run_id=f"gocache-{os.getpid()}-2")
    assert {n: t.status for n, t in again.tests.items()} == {n: t.status for n, t in first.tests.items()}
