"""Faults of the environment, injected for real (issue 19, items 4 to 6): the Docker daemon
stopped in the middle of a release (a private dockerd of the test's own), a full TMPDIR (a small
tmpfs), Ctrl-C in the middle of ``--cluster``, and a PATH without ``go``. Each checks what a user
relies on: the line, the exit code, the report that was written, and that nothing is left behind.

These run ``python -m patcher`` as a user would, against the real upstream trees
(``ARGO_WORKFLOWS_REPO``); mounting a tmpfs and starting a dockerd need root, and they skip
with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patcher.run import results
from tests.runner_support import REPO_ROOT

VERSION = "v3.5.5"
# Whether an interrupted run writes its reports yet (issue 19, item 2, done beside this one).
REPORTS_ON_INTERRUPT = hasattr(results.Verdict, "INTERRUPTED")


def _patcher_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    env.update(ARGO_PATCHER_CACHE=str(tmp_path / "cache"), ARGO_PATCHER_PULL_TIMEOUT="0", **extra)
    return env


def _path_without_go() -> str:
    """PATH without any directory that holds a ``go``."""
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "go").exists())


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention ``text`` (a test's private directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def _mounts_under(path: Path) -> list[str]:
    return [line for line in Path("/proc/self/mounts").read_text().splitlines() if f" {path}" in line]


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root")


# -- a full TMPDIR -------------------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(size: str = "1m") -> Iterator[Path]:
    _need_root("mounting a tmpfs")
    mount = Path(tempfile.mkdtemp(prefix="argo-patcher-full-"))
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


@pytest.mark.integration
def test_a_full_tmpdir_is_named_in_one_line_with_exit_3(upstream_repo: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    with small_tmpfs() as full:
        proc = subprocess.run(
            [sys.executable, "-m", "patcher", "--repo", str(upstream_repo), "apply", "--version", VERSION, "--no-test", "--json", str(report)],
            capture_output=True, text=True, env=_patcher_env(tmp_path, TMPDIR=str(full)), timeout=600, cwd=tmp_path,
        )  # fmt: skip
        left = sorted(os.listdir(full))
    assert proc.returncode == 3, proc.stderr
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1, proc.stderr
    line = errors[0]
    # The file system, what was being written, and the space there.
    assert line.startswith(f"error: no space left on device: {full} (tmpfs) is full while "), line
    assert " free of 1.0 MB" in line and "point TMPDIR at a larger file system" in line
    assert "Could not reset index file" not in line.split(": git: ", 1)[0]
    written = json.loads(report.read_text())["results"]
    assert [(r["version"], r["verdict"]) for r in written] == [(VERSION, "infra-error")]
    assert written[0]["message"].startswith("no space left on device: ")
    assert left == [], f"left in the full TMPDIR: {left}"
    # The mirror kept no worktree of the run.
    listing = subprocess.run(["git", "worktree", "list", "--porcelain"], capture_output=True, text=True,
                             cwd=next((tmp_path / "cache" / "mirrors").iterdir()), check=True).stdout  # fmt: skip
    assert str(full) not in listing


@pytest.mark.integration
def test_a_full_cache_is_named_in_one_line_with_exit_3(upstream_repo: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    with small_tmpfs("64k") as full:
        env = {**_patcher_env(tmp_path), "ARGO_PATCHER_CACHE": str(full)}
        proc = subprocess.run(
            [sys.executable, "-m", "patcher", "--repo", str(upstream_repo), "apply", "--version", VERSION, "--no-test", "--json", str(report)],
            capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
        )  # fmt: skip
        left = [p.name for p in Path(full, "mirrors").glob("*.staging-*")] if Path(full, "mirrors").is_dir() else []
    assert proc.returncode == 3, proc.stderr
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1 and errors[0].startswith(f"error: no space left on device: {full} (tmpfs) is full while mirroring "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not left, f"half-made mirrors left: {left}"


# -- a PATH without go -----------------------------------------------------------------------------


@pytest.mark.integration
def test_without_go_or_docker_a_run_is_one_clear_line(upstream_repo: Path, tmp_path: Path) -> None:
    env = _patcher_env(tmp_path, PATH=_path_without_go(), DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock")
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "patcher", "--repo", str(upstream_repo), "apply", "--version", VERSION, "--json", str(report)],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1 and "no Go on PATH" in errors[0] and "Docker" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    built = subprocess.run([sys.executable, "-m", "patcher", "cluster", "build"], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert built.returncode == 3 and _error_lines(built.stderr) and "no Go on PATH and " in _error_lines(built.stderr)[0], built.stderr
    # diff needs neither (tree-sitter); without both it says that gofmt was not checked.
    diffed = subprocess.run([sys.executable, "-m", "patcher", "--repo", str(upstream_repo), "diff", "--version", VERSION],
                            capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)  # fmt: skip
    assert diffed.returncode == 0 and diffed.stdout.startswith("diff --git"), diffed.stderr
    assert "gofmt check is skipped" in diffed.stderr


@pytest.mark.integration
@pytest.mark.docker
def test_with_docker_and_no_go_gofmt_runs_in_the_tree_s_go_image(upstream_repo: Path, tmp_path: Path, docker_daemon: object, go_image: str) -> None:
    before = {c.id for c in docker_daemon.containers.list(all=True)}  # type: ignore[attr-defined]
    since = int(time.time()) - 1
    proc = subprocess.run(
        [sys.executable, "-m", "patcher", "--repo", str(upstream_repo), "apply", "--version", VERSION, "--no-test", "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, env=_patcher_env(tmp_path, PATH=_path_without_go()), timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "gofmt check is skipped" not in proc.stderr
    events = docker_daemon.events(since=since, until=int(time.time()) + 1, decode=True,  # type: ignore[attr-defined]
                                  filters={"type": "container", "event": "start", "label": "argo-patcher=gofmt"})  # fmt: skip
    started = [e for e in events]
    assert started, "no gofmt container ran: the patch's gofmt check was skipped"
    assert {c.id for c in docker_daemon.containers.list(all=True)} <= before  # type: ignore[attr-defined]
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["verdict"] == "patched"


# -- the Docker daemon stopped in the middle of a release ---------------------------------------------


@contextlib.contextmanager
def private_dockerd() -> Iterator[tuple[str, int, Path]]:
    """A dockerd of the test's own (its own data root, exec root, pid file, socket and bridge; no
    iptables), so that stopping it leaves the machine's daemon and its docker0 alone: (DOCKER_HOST,
    pid, its directory)."""
    _need_root("a private dockerd")
    if shutil.which("dockerd") is None:
        pytest.skip("no dockerd on PATH")
    root = Path(tempfile.mkdtemp(prefix="d19-", dir="/tmp"))  # short: a unix socket's path is limited
    host = f"unix://{root}/docker.sock"
    # A bridge of its own: dockerd --bridge=none deletes the machine's docker0 (the shared daemon's).
    bridge = f"ap{os.getpid() % 100000}"
    made = subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], capture_output=True, text=True)
    if made.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot make a bridge for the private dockerd: {made.stderr.strip()}")
    log = (root / "dockerd.log").open("wb")
    daemon = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"),
         "-H", host, f"--bridge={bridge}", "--iptables=false", "--ip6tables=false", "--ip-masq=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        import docker

        deadline = time.monotonic() + 60
        while True:
            try:
                docker.DockerClient(base_url=host, timeout=5).ping()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if daemon.poll() is not None or time.monotonic() > deadline:
                    pytest.skip(f"the private dockerd did not start: {(root / 'dockerd.log').read_text()[-500:]}")
                time.sleep(0.5)
        yield host, daemon.pid, root
    finally:
        if daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(10)
        log.close()
        for line in reversed(_mounts_under(root)):
            subprocess.run(["umount", "-l", line.split()[1]], check=False)
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


@pytest.mark.integration
@pytest.mark.docker
@pytest.mark.go
def test_the_docker_daemon_stopped_in_the_middle_of_a_release(upstream_repo: Path, tmp_path: Path, host_go: str) -> None:
    import docker

    had_docker0 = Path("/sys/class/net/docker0").exists()
    with private_dockerd() as (host, daemon_pid, root):
        work = tmp_path / "tmp"
        work.mkdir()
        env = _patcher_env(tmp_path, DOCKER_HOST=host, TMPDIR=str(work), ARGO_PATCHER_VOLUME_PREFIX="argo-patcher-fault")
        built = subprocess.run([sys.executable, "-m", "patcher", "image", "build"], capture_output=True, text=True, env=env, timeout=600)
        assert built.returncode == 0, built.stderr
        client = docker.DockerClient(base_url=host, timeout=30)
        since = int(time.time()) - 1
        stopped = threading.Event()

        def stop_at_the_first_container() -> None:
            with contextlib.suppress(Exception):  # the stream ends with the daemon
                for _event in client.events(since=since, decode=True, filters={"type": "container", "event": "start"}):
                    os.kill(daemon_pid, signal.SIGTERM)  # the daemon stops, its containers with it
                    stopped.set()
                    return

        watcher = threading.Thread(target=stop_at_the_first_container, daemon=True)
        watcher.start()
        report = tmp_path / "report.json"
        proc = subprocess.run(
            [sys.executable, "-m", "patcher", "--repo", str(upstream_repo), "apply", "--version", VERSION, "--suite", "precedence",
             "--runner", "docker", "--json", str(report)],
            capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path,
        )  # fmt: skip
        assert stopped.is_set(), f"no container started before the run ended: {proc.stderr[-2000:]}"
        assert proc.returncode == 3, proc.stderr
        errors = _error_lines(proc.stderr)
        assert errors and "Docker" in errors[-1], proc.stderr
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
        if report.exists() or REPORTS_ON_INTERRUPT:
            written = json.loads(report.read_text())["results"]
            # A run-wide failure: the release it did not finish is marked so, and the run exits 3.
            assert [(r["version"], r["verdict"]) for r in written] == [(VERSION, "interrupted")]
        assert not list(work.iterdir()), f"left in TMPDIR: {list(work.iterdir())}"
        assert not _processes_mentioning(str(work)), _processes_mentioning(str(work))
    assert not _mounts_under(root) and not root.exists()
    assert Path("/sys/class/net/docker0").exists() or not had_docker0, "the private dockerd removed the machine's docker0"


# -- Ctrl-C in the middle of --cluster -------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.docker
@pytest.mark.cluster
def test_ctrl_c_in_the_middle_of_cluster_leaves_nothing(upstream_repo: Path, tmp_path: Path, docker_daemon: object, cluster_assets: object) -> None:
    from patcher.runners import engine

    assets = tmp_path / "assets"
    assets.mkdir()
    for binary in (cluster_assets.etcd, cluster_assets.kube_apiserver):  # type: ignore[attr-defined]
        (assets / binary.name).symlink_to(binary)
    work = tmp_path / "tmp"
    work.mkdir()
    env = _patcher_env(tmp_path, TMPDIR=str(work), KUBEBUILDER_ASSETS=str(assets), PYTHONUNBUFFERED="1")
    report = tmp_path / "report.json"
    args = [sys.executable, "-m", "patcher", "--repo", str(upstream_repo), "apply", "--version", VERSION, "--suite", "precedence", "--cluster",
            "--json", str(report)]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, start_new_session=True)
    seen: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        seen.extend(iter(proc.stderr.readline, ""))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 1500
    interrupted_at = ""
    while time.monotonic() < deadline and proc.poll() is None:
        cluster = docker_daemon.containers.list(filters={"label": [f"{engine.LABEL}=cluster"]})  # type: ignore[attr-defined]
        mine = [c for c in cluster if f"/{proc.pid}/" in c.labels.get(engine.LABEL_OWNER, "")]
        if mine:
            time.sleep(3)  # the control plane is starting or the controllers run: the middle of it
            interrupted_at = "the cluster check container"
            break
        time.sleep(0.5)
    assert proc.poll() is None, f"the run ended before its cluster check: {''.join(seen)[-3000:]}"
    assert interrupted_at, "no cluster check container appeared"
    os.kill(proc.pid, signal.SIGINT)
    code = proc.wait(120)
    reader.join(10)
    stderr = "".join(seen)
    assert code == 130, stderr
    assert _error_lines(stderr)[-1:] == ["error: interrupted (Ctrl-C)"], stderr
    assert "Traceback" not in stderr
    left = [c.name for c in docker_daemon.containers.list(all=True) if f"/{proc.pid}/" in c.labels.get(engine.LABEL_OWNER, "")]  # type: ignore[attr-defined]
    assert not left, f"containers left: {left}"
    assert not _processes_mentioning(str(work)) and not _processes_mentioning(str(tmp_path / "cache")), "processes left"
    assert not [p for p in _processes_mentioning("etcd") + _processes_mentioning("kube-apiserver") if str(assets) in p]
    assert not _mounts_under(work)
    assert not list(work.iterdir()), f"left in TMPDIR: {list(work.iterdir())}"
    if REPORTS_ON_INTERRUPT:
        written = json.loads(report.read_text())["results"]
        assert [(r["version"], r["verdict"]) for r in written] == [(VERSION, "interrupted")]
