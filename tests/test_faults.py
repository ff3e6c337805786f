"""Faults injected for real, and what users rely on after each: one line, the exit code, the
reports written, and nothing left behind (no container of the run, no child process, no run
directory, no worktree, a mirror that ``git fsck`` finds clean).

The first part is hermetic: the fingerprint of argo-patcher's code and its pinning in a process,
the ``interrupted`` verdict through the orchestrator and every report, every kind of state in
``cache info`` and ``cache clean``. The rest runs ``python3 -m patcher`` against the real upstream
repository (ARGO_WORKFLOWS_REPO) with Docker, on one cache root shared by the module so that each
test replays what an earlier one proved: a matrix interrupted with SIGINT while a release
compiles, a run killed with SIGKILL and the run after it, corrupt result-cache and state files, two
matrices on one cache at once, and an edited copy of argo-patcher run twice.
"""

from __future__ import annotations

import _thread
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import patcher
from patcher import owners, selfcode, state
from patcher.errors import DockerUnavailable, ExitCode
from patcher.gocaches import resultcache
from patcher.reports import jsonfile, junit, markdown, terminal
from patcher.run import matrix
from patcher.run.progress import PlainProgress
from patcher.run.results import ErrorKind, ReleaseResult, Verdict, exit_code, interrupted
from patcher.source.versions import Release, parse_tag
from tests import gitrepo
from tests import report_samples as samples
from tests.goshapes import make_tree
from tests.report_samples import schema_errors
from tests.test_pipeline import TimingRunner, prove

SOURCE_ROOT = Path(patcher.__file__).resolve().parent.parent
CLEAN_PREFIX = "argo-patcher-faulttest"  # no volume of that name exists: --go and --all touch none of the real ones


# -- the fingerprint of argo-patcher's code, and its pinning ---------------------------------------


def copy_of_argo_patcher(into: Path) -> Path:
    """A copy of argo-patcher's source (the package, its templates and Go fixtures) to edit."""
    for name in ("patcher", "templates", "go-fixtures"):
        shutil.copytree(SOURCE_ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def test_the_fingerprint_follows_every_judged_file_and_nothing_else(tmp_path: Path) -> None:
    copy = copy_of_argo_patcher(tmp_path / "src")
    original = selfcode.fingerprint_of(selfcode.read_files(copy / "patcher"))
    assert original == selfcode.fingerprint_of(selfcode.read_files(SOURCE_ROOT / "patcher"))  # contents, not places or times
    assert original == selfcode.fingerprint()  # this process's own reading
    for edited in ("patcher/runners/gotest.py", "templates/controller_add_metadata.go.j2", "go-fixtures/zz_argo_patcher_precedence_test.go.j2"):
        path = copy / edited
        before = path.read_bytes()
        path.write_bytes(before + b"\n")
        assert selfcode.fingerprint_of(selfcode.read_files(copy / "patcher")) != original, edited
        path.write_bytes(before)
    (copy / "patcher" / "__pycache__").mkdir(exist_ok=True)
    (copy / "patcher" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"compiled")
    assert selfcode.fingerprint_of(selfcode.read_files(copy / "patcher")) == original
    assert selfcode.fingerprint_of({}, ("jinja2==1",)) != selfcode.fingerprint_of({}, ("jinja2==2",))


def test_the_result_cache_key_holds_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    def key() -> str:
        return resultcache.key(commit="c" * 40, files={"a.go": b"x"}, harness="h", packages=["./p/"], run_regex=None, timeout_s=60,
                               rerun_fails=0, toolchain="go1.26", flags=())  # fmt: skip

    before = key()
    assert key() == before
    pinned = selfcode.snapshot()
    monkeypatch.setattr(selfcode, "snapshot", lambda: dataclasses.replace(pinned, fingerprint="0123456789abcdef"))
    assert key() != before


def test_a_process_runs_and_builds_from_the_code_it_started_with(tmp_path: Path) -> None:
    """Edits made while a process runs change neither its fingerprint nor what it renders or builds."""
    copy = copy_of_argo_patcher(tmp_path / "src")
    script = """
import json, sys
from pathlib import Path
from patcher import selfcode
from patcher.gocaches import gocache
from patcher.patching import render, resources
first = selfcode.fingerprint()
Path(sys.argv[1], "patcher/runners/gotest.py").write_text(Path(sys.argv[1], "patcher/runners/gotest.py").read_text() + "# edited\\n")
template = Path(sys.argv[1], "templates/controller_add_metadata.go.j2")
template.write_text("{# edited #}\\n" + template.read_text())
(Path(sys.argv[1]) / "patcher/gocaches/cacheprog/main.go").write_text("package main // edited\\n")
print(json.dumps({
    "file": selfcode.__file__, "first": first, "again": selfcode.fingerprint(), "templates": str(resources.data_dir("templates")),
    "template": (resources.data_dir("templates") / "controller_add_metadata.go.j2").read_text().startswith("{# edited"),
    "cacheprog": (gocache.source() / "main.go").read_text().startswith("package main // edited"), "tool": gocache.tool_name(),
}))
"""
    env = {**os.environ, "PYTHONPATH": str(copy), "ARGO_PATCHER_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script, str(copy)], cwd=copy, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["file"].startswith(str(copy))  # the copy ran, not the installed argo-patcher
    assert seen["first"] == seen["again"] == selfcode.fingerprint()  # the copy was this code when the process started
    assert seen["templates"] == str(tmp_path / "cache" / "code" / seen["first"] / "patcher" / "_data" / "templates")
    assert not seen["template"] and not seen["cacheprog"]
    assert seen["tool"] == f"cacheprog-{selfcode.digest('patcher/gocaches/cacheprog/go.mod', 'patcher/gocaches/cacheprog/main.go')}"
    later = subprocess.run([sys.executable, "-c", "from patcher import selfcode; print(selfcode.fingerprint())"], cwd=copy, env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert later.stdout.strip() != seen["first"]  # the next process reads the edited code


def test_a_pinned_copy_removed_under_a_run_is_written_again(isolated_cache: Path) -> None:
    first = selfcode.root()
    assert (first / "patcher" / "selfcode.py").read_bytes() == selfcode.snapshot().files["patcher/selfcode.py"]
    state.clean(kinds=("code",))
    assert not first.exists()
    assert selfcode.root() == first and (first / "patcher" / "__init__.py").is_file()


@pytest.fixture
def release_repo(tmp_path: Path) -> Path:
    """A synthetic v3.5-shaped release (as tests/test_pipeline.py's)."""
    files = gitrepo.copy_tree(make_tree(tmp_path / "shape", "v3.5"))
    return gitrepo.make_repo(tmp_path / "argo", ["v3.5.0"], files_for={"v3.5.0": files})


def test_a_corrupt_kept_result_is_ignored_with_a_warning_and_the_release_runs_again(
    release_repo: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = TimingRunner()
    prove(release_repo, first, monkeypatch)
    kept = sorted((isolated_cache / "results").rglob("*.json"))
    assert len(kept) == 2 and set(first.spans) == {"baseline", "patched"}
    kept[0].write_text('{"status": "ok", "cas')  # torn
    kept[1].write_text('{"status": "nonsense", "cases": {}}')  # not a run's result
    capsys.readouterr()
    again = TimingRunner()
    result: Any = prove(release_repo, again, monkeypatch)
    assert set(again.spans) == {"baseline", "patched"} and not result.patched.cached and result.verdict is Verdict.FIXED
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ignored the kept result")]
    assert len(warned) == 2 and all("the run goes again" in line for line in warned), warned
    replayed: Any = prove(release_repo, TimingRunner(), monkeypatch)  # kept anew, and good
    assert replayed.patched.cached and replayed.baseline.cached


def test_a_corrupt_pull_failures_file_is_ignored_with_a_warning(isolated_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from patcher.runners import images

    (isolated_cache / "pull-failures.json").write_text('{"golang:1.21": {"at": "yesterday"')
    before = dict(images._unpullable)
    images._load_pull_failures()
    assert images._unpullable == before and not (isolated_cache / "pull-failures.json").exists()
    assert "warning: ignored " in capsys.readouterr().err


# -- the interrupted verdict ---------------------------------------------------------------------


RELEASES = [parse_tag("v3.4.3"), parse_tag("v3.5.5")]


def fixed(release: Release) -> ReleaseResult:
    result = samples.fixed()
    result.version = release.name
    return result


def test_an_interrupted_run_keeps_the_finished_releases_and_marks_the_others() -> None:
    finished = threading.Event()

    def prove(release: Release, on_stage: Any) -> ReleaseResult:
        on_stage(release, "checkout")
        if release.name == "v3.5.5":
            return fixed(release)
        finished.wait(10)
        _thread.interrupt_main()  # Ctrl-C while this release compiles
        time.sleep(3)
        on_stage(release, "patched")
        raise AssertionError("not stopped")

    view = PlainProgress(RELEASES, say=lambda line: finished.set() if "done" in line else None)
    with pytest.raises(matrix.Stopped) as stopped:
        matrix.run(RELEASES, prove, jobs=2, progress=view, grace_s=0.5)
    outcome = stopped.value.outcome
    assert [(r.version, r.verdict) for r in outcome.results] == [("v3.4.3", Verdict.INTERRUPTED), ("v3.5.5", Verdict.FIXED)]
    assert outcome.exit_code is ExitCode.INTERRUPTED and outcome.why == "interrupted (Ctrl-C)"
    assert outcome.results[0].message == "not finished: interrupted (Ctrl-C)"
    assert isinstance(stopped.value, KeyboardInterrupt)


def test_a_run_wide_failure_marks_the_releases_it_did_not_finish() -> None:
    def prove(release: Release, on_stage: Any) -> ReleaseResult:
        if release.name == "v3.4.3":
            time.sleep(0.3)
            raise DockerUnavailable("the Docker daemon went away")
        return fixed(release)

    outcome = matrix.run(RELEASES, prove, jobs=2, progress=PlainProgress(RELEASES, say=lambda line: None))
    assert [r.verdict for r in outcome.results] == [Verdict.INTERRUPTED, Verdict.FIXED]
    assert outcome.results[0].message == "not finished: the run stopped: the Docker daemon went away"
    assert outcome.exit_code is ExitCode.INFRA


def test_the_interrupted_verdict_in_every_report() -> None:
    results = [interrupted("v3.4.3", "interrupted (SIGTERM)"), fixed(RELEASES[1])]
    document = jsonfile.document(results, spec="v3.5.5,v3.4.3")
    assert schema_errors(document) == []
    assert document["summary"] == {"interrupted": 1, "fixed": 1} and document["ok"] is False
    assert document["results"][0]["error"] == "interrupted" and document["results"][0]["verdict"] == "interrupted"
    assert [r.verdict for r in jsonfile.parse(json.loads(jsonfile.dumps(results)), "r.json")] == [Verdict.INTERRUPTED, Verdict.FIXED]
    suites = ET.fromstring(junit.dumps(results))
    assert any(case.find("error") is not None and "not finished" in (case.find("error").get("message") or "") for case in suites.iter("testcase"))
    text = markdown.render(results)
    assert "⏹️ interrupted" in text and "✅ fixed" in text
    lines = [line.plain for line in terminal.summary_lines(results)]
    assert any("v3.4.3" in line and "interrupted" in line and "not finished" in line for line in lines), lines
    assert exit_code([Verdict.INTERRUPTED, Verdict.FIXED]) is ExitCode.INTERRUPTED
    assert exit_code([Verdict.INTERRUPTED, Verdict.STILL_FAILING]) is ExitCode.TESTS_FAILED
    assert ErrorKind.of(ExitCode.INTERRUPTED) is ErrorKind.INTERRUPTED


# -- every kind of state, in cache info and cache clean -------------------------------------------


def _fill_every_record(cache: Path) -> None:
    for record in state.RECORDS:
        path = cache / record.relative
        if record.relative.endswith(".json"):
            path.write_text("{}" + " " * 998)
        else:
            (path / "x").mkdir(parents=True, exist_ok=True)
            (path / "x" / "file").write_bytes(b"x" * 1000)
    (cache / "runs" / "x" / "file").unlink()
    (cache / "runs" / "x").rmdir()
    gone = {"owner": f"{socket.gethostname()}/999999999/1", "pgid": 999999999, "started": "1", "run_id": "killed"}
    (cache / "runs" / "local-999999999-999999999.json").write_text(json.dumps(gone) + " " * 900)
    (cache / "runs" / f"local-{os.getpid()}-1.json").write_text(json.dumps({**gone, "owner": owners.owner()}))


def test_cache_info_shows_and_clean_removes_every_kind_of_state(run_cli: Any, isolated_cache: Path) -> None:
    _fill_every_record(isolated_cache)
    env = {"ARGO_PATCHER_VOLUME_PREFIX": CLEAN_PREFIX}
    info = run_cli("cache", "info", env=env)
    assert info.returncode == 0, info.stderr
    rows = {line.split()[0]: line for line in info.stdout.splitlines()[1:]}
    for record in state.RECORDS:
        assert str(isolated_cache / record.relative) in rows[record.kind], (record.kind, info.stdout)
        assert rows[record.kind].split()[2:4] != ["0", "B"], rows[record.kind]
    assert {"mirrors", "go-local", "locks", "go-total", "total"} <= set(rows)
    some = run_cli("cache", "clean", "--results", "--warm", env=env)
    assert some.returncode == 0, some.stderr
    assert not (isolated_cache / "results").exists() and not (isolated_cache / "warm").exists() and (isolated_cache / "lint").exists()
    everything = run_cli("cache", "clean", "--all", env=env)
    assert everything.returncode == 0, everything.stderr
    assert "kept 1 record(s)" in everything.stderr  # this process's record: its run is still going
    left = sorted(p.relative_to(isolated_cache).as_posix() for p in isolated_cache.rglob("*") if p.is_file())
    assert [p for p in left if not p.startswith("locks/")] == [f"runs/local-{os.getpid()}-1.json"], left
    assert run_cli("cache", "clean", "--code", "--mirrors", env=env).returncode == 0  # the old flags and the new go together


# -- real faults, against the real upstream repository ----------------------------------------------

SUITE = ("--suite", "precedence", "--runner", "docker")


@pytest.fixture(scope="module")
def fault_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache root for the real faults: a test replays what an earlier one proved."""
    return tmp_path_factory.mktemp("fault-cache")


class Run:
    """``python3 -m patcher`` as a user starts it, its stderr followed line by line."""

    def __init__(self, args: list[str], cache: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "ARGO_PATCHER_CACHE": str(cache), "COLUMNS": "4000", **(env or {})}  # a line is never wrapped
        full_env.pop("ARGO_PATCHER_VOLUME_PREFIX", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "patcher", *args], cwd=cwd or SOURCE_ROOT, env=full_env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        self.lines: list[str] = []
        self.stdout = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self._out.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, *needles: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not all(any(n in line for line in self.lines) for n in needles):
            assert self.proc.poll() is None, f"ended ({self.proc.returncode}) before {needles}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"no {needles} after {timeout}s:\n{self.stderr}"
            time.sleep(0.1)

    def descendants(self) -> list[tuple[int, str]]:
        """The processes under this one now, with their start times (to tell a reused id)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    children = [int(c) for c in (task / "children").read_text().split()]
                except OSError:
                    continue
                for child in children:
                    found.append((child, _start_time(child)))
                    todo.append(child)
        return found

    def end(self, timeout: float = 300) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(10)
        self._out.join(10)
        return code


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def assert_nothing_left(pid: int, cache: Path, children: list[tuple[int, str]] = ()) -> None:  # type: ignore[assignment]
    """No container, run directory, worktree or process group of the run ``pid``; a clean mirror."""
    import docker

    from patcher.runners import engine
    from patcher.source import checkout

    client = docker.from_env()
    mine = [c for c in client.api.containers(all=True, filters={"label": engine.LABEL_OWNER}) if f"/{pid}/" in (c.get("Labels") or {}).get(engine.LABEL_OWNER, "")]
    assert mine == [], [c.get("Names") for c in mine]
    alive = [child for child, started in children if started and _start_time(child) == started]
    assert alive == [], f"processes of run {pid} still running: {alive}"
    run_dirs = [d for parent in checkout.run_dir_parents() for d in parent.glob(f"{checkout.RUN_DIR_PREFIX}{pid}-*")]
    assert run_dirs == []
    assert not list((cache / "runs").glob(f"*-{pid}-*.json")) if (cache / "runs").is_dir() else True
    for mirror in (cache / "mirrors").iterdir() if (cache / "mirrors").is_dir() else []:
        if not (mirror / "HEAD").is_file():
            continue
        trees = subprocess.run(["git", f"--git-dir={mirror}", "worktree", "list", "--porcelain"], capture_output=True, text=True, check=True)
        assert trees.stdout.count("worktree ") == 1, trees.stdout  # the bare mirror itself
        fsck = subprocess.run(["git", f"--git-dir={mirror}", "fsck", "--no-progress", "--connectivity-only"], capture_output=True, text=True, timeout=300)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def verdicts(path: Path) -> dict[str, tuple[str, bool]]:
    """Each release's verdict, and whether its patched run was replayed."""
    document = json.loads(path.read_text())
    assert schema_errors(document) == []
    return {r["version"]: (r["verdict"], bool(r["patched"] and r["patched"]["cached"])) for r in document["results"]}


@pytest.fixture
def upstream(upstream_repo: Path, docker_daemon: Any) -> Path:
    return upstream_repo


@pytest.mark.integration
@pytest.mark.docker
def test_sigint_while_a_release_compiles_reports_the_finished_one(upstream: Path, fault_cache: Path, tmp_path: Path) -> None:
    """The issue's done-when: v3.5.5 finished, v3.4.3 interrupted in its compile; reports written, exit 130."""
    first = Run(["--repo", str(upstream), "apply", "--version", "v3.5.5", *SUITE, "--json", str(tmp_path / "first.json")], fault_cache)
    assert first.end(900) == 0, first.stderr
    assert verdicts(tmp_path / "first.json") == {"v3.5.5": ("fixed", False)}
    files = {"json": tmp_path / "r.json", "junit": tmp_path / "r.xml", "markdown": tmp_path / "r.md"}
    reports = [arg for fmt, path in files.items() for arg in (f"--{fmt}", str(path))]
    run = Run(["--repo", str(upstream), "matrix", "--versions", "v3.5.5,v3.4.3", *SUITE, "--jobs", "2", *reports], fault_cache)
    run.wait_for("[v3.5.5] done: fixed", "[v3.4.3] baseline started")
    time.sleep(1)  # in the middle of the baseline's compile
    children = run.descendants()
    run.proc.send_signal(signal.SIGINT)
    code = run.end(120)
    assert code == 130, run.stderr
    errors = [line for line in run.lines if line.startswith("error:")]
    assert errors == ["error: interrupted (Ctrl-C)"], run.stderr
    assert "Traceback" not in run.stderr
    assert verdicts(files["json"]) == {"v3.5.5": ("fixed", True), "v3.4.3": ("interrupted", False)}
    assert "interrupted" in files["markdown"].read_text() and "not finished" in files["junit"].read_text()
    print(f"interrupted matrix: {json.loads(files['json'].read_text())['summary']}, exit {code}")
    assert_nothing_left(run.proc.pid, fault_cache, children)


@pytest.mark.integration
@pytest.mark.docker
def test_sigterm_is_an_interruption_too(upstream: Path, fault_cache: Path, tmp_path: Path) -> None:
    run = Run(["--repo", str(upstream), "apply", "--version", "v3.4.3", *SUITE, "--fresh", "--json", str(tmp_path / "r.json")], fault_cache)
    run.wait_for("[v3.4.3] baseline started")
    children = run.descendants()
    run.proc.send_signal(signal.SIGTERM)
    assert run.end(120) == 130, run.stderr
    assert [line for line in run.lines if line.startswith("error:")] == ["error: interrupted (SIGTERM)"], run.stderr
    assert verdicts(tmp_path / "r.json") == {"v3.4.3": ("interrupted", False)}
    assert_nothing_left(run.proc.pid, fault_cache, children)


@pytest.mark.integration
@pytest.mark.docker
def test_kill_9_then_the_next_run_reaps_what_it_left(upstream: Path, fault_cache: Path, tmp_path: Path) -> None:
    import docker

    from patcher.runners import engine

    killed = Run(["--repo", str(upstream), "apply", "--version", "v3.4.3", *SUITE, "--fresh"], fault_cache)
    killed.wait_for("[v3.4.3] baseline started")
    client = docker.from_env()
    deadline = time.monotonic() + 60
    while not [c for c in client.api.containers(filters={"label": engine.LABEL_OWNER}) if f"/{killed.proc.pid}/" in c["Labels"][engine.LABEL_OWNER]]:
        assert time.monotonic() < deadline, killed.stderr
        time.sleep(0.2)
    children = killed.descendants()
    killed.proc.kill()
    assert killed.end(30) == -signal.SIGKILL
    left = [c for c in client.api.containers(all=True, filters={"label": engine.LABEL_OWNER}) if f"/{killed.proc.pid}/" in c["Labels"][engine.LABEL_OWNER]]
    assert left, "a killed run leaves its container"  # the fault is real
    nxt = Run(["--repo", str(upstream), "apply", "--version", "v3.5.5", *SUITE, "--json", str(tmp_path / "next.json")], fault_cache)
    assert nxt.end(900) == 0, nxt.stderr
    assert verdicts(tmp_path / "next.json")["v3.5.5"][0] == "fixed"
    assert_nothing_left(killed.proc.pid, fault_cache, children)
    assert_nothing_left(nxt.proc.pid, fault_cache)


@pytest.mark.integration
@pytest.mark.docker
def test_corrupt_kept_results_and_state_files_are_ignored_with_a_warning(upstream: Path, fault_cache: Path, tmp_path: Path) -> None:
    warm = Run(["--repo", str(upstream), "apply", "--version", "v3.5.5", *SUITE, "--json", str(tmp_path / "warm.json")], fault_cache)
    assert warm.end(900) == 0, warm.stderr
    assert verdicts(tmp_path / "warm.json")["v3.5.5"][0] == "fixed"  # replayed when an earlier test of the module proved it
    kept = sorted((fault_cache / "results").rglob("*.json"))
    assert kept
    for n, path in enumerate(kept):
        path.write_text(['{"status": "ok", "cases"', "[1, 2]", '{"status": "nonsense"}'][n % 3])
    (fault_cache / "pull-failures.json").write_text("{not json")
    for generation in (fault_cache / "binary-slots").glob("*.generation"):
        generation.write_text("seven\n")
    run = Run(["--repo", str(upstream), "apply", "--version", "v3.5.5", *SUITE, "--json", str(tmp_path / "r.json")], fault_cache)
    assert run.end(900) == 0, run.stderr
    assert verdicts(tmp_path / "r.json") == {"v3.5.5": ("fixed", False)}  # ran again
    warnings = [line for line in run.lines if line.startswith("warning:")]
    assert any("ignored the kept result" in line and "the run goes again" in line for line in warnings), run.stderr
    assert any("pull-failures.json" in line for line in warnings) or not any("pull" in line for line in run.lines), run.stderr  # when it pulled
    assert "Traceback" not in run.stderr
    assert_nothing_left(run.proc.pid, fault_cache)


@pytest.mark.integration
@pytest.mark.docker
def test_two_matrices_on_one_cache_at_once(upstream: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"  # cold: both clone the mirror, check out and run at once
    runs = [Run(["--repo", str(upstream), "matrix", "--versions", "v3.5.5", *SUITE, "--json", str(tmp_path / f"{n}.json")], cache) for n in (1, 2)]
    codes = [run.end(900) for run in runs]
    assert codes == [0, 0], "\n---\n".join(run.stderr for run in runs)
    for n, run in enumerate(runs, 1):
        assert verdicts(tmp_path / f"{n}.json")["v3.5.5"][0] == "fixed"
        assert "Traceback" not in run.stderr and not [line for line in run.lines if line.startswith("error:")]
        assert_nothing_left(run.proc.pid, cache)
    assert len([m for m in (cache / "mirrors").iterdir() if (m / "HEAD").is_file()]) == 1


@pytest.mark.integration
@pytest.mark.docker
def test_an_edited_argo_patcher_never_replays_what_the_old_code_judged(upstream: Path, fault_cache: Path, tmp_path: Path) -> None:
    copy = copy_of_argo_patcher(tmp_path / "src")
    env = {"PYTHONPATH": str(copy)}
    args = ["--repo", str(upstream), "apply", "--version", "v3.5.5", *SUITE, "--json"]
    for _ in range(2):  # the second time when no earlier test of the module proved it
        same = Run([*args, str(tmp_path / "same.json")], fault_cache, cwd=copy, env=env)
        assert same.end(900) == 0, same.stderr
        if verdicts(tmp_path / "same.json")["v3.5.5"][1]:
            break
    assert verdicts(tmp_path / "same.json") == {"v3.5.5": ("fixed", True)}  # the same code: replayed
    gotest = copy / "patcher" / "runners" / "gotest.py"
    gotest.write_text(gotest.read_text() + "\n# a change to how results are parsed\n")
    edited = Run([*args, str(tmp_path / "edited.json")], fault_cache, cwd=copy, env=env)
    assert edited.end(900) == 0, edited.stderr
    assert verdicts(tmp_path / "edited.json") == {"v3.5.5": ("fixed", False)}  # judged again by the edited code
    assert (fault_cache / "code" / selfcode.fingerprint_of(selfcode.read_files(copy / "patcher"))).is_dir()
    assert_nothing_left(edited.proc.pid, fault_cache)

