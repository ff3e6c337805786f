"""The docker and local runners on the sample Go module: results, timeouts, clean-up."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patcher import locks, owners, runners
from patcher.errors import InfraError, InputError
from patcher.runners import engine, hostgo
from patcher.runners import local as local_runner
from patcher.runners.container import slot_lock_name
from patcher.runners.testresults import RunResult, RunStatus, Status
from tests.runner_support import REPO_ROOT, labelled, runner_for, wait_for

RUNNERS = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("local", marks=pytest.mark.go)]


@pytest.fixture
def runner(request: pytest.FixtureRequest, host_go: str, sample_tree: Path) -> runners.Runner:
    return runner_for(request, sample_tree)  # type: ignore[return-value]


def statuses(result: RunResult) -> dict[str, Status]:
    return {name: test.status for name, test in result.tests.items()}


def run_id(request: pytest.FixtureRequest) -> str:
    return f"test-{request.node.name}-{os.getpid()}".replace("[", "-").replace("]", "")


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_passing_failing_skipped_and_subtests(runner: runners.Runner, sample_tree: Path, request: pytest.FixtureRequest) -> None:
    result = runner.run(sample_tree, ["./ok/"], run_id=run_id(request), timeout_s=300)
    assert result.status is RunStatus.OK, result.message
    assert statuses(result) == {
        "TestPass": Status.PASS,
        "TestFail": Status.FAIL,
        "TestSkip": Status.SKIP,
        "TestCases": Status.FAIL,
        "TestCases/good-one": Status.PASS,
        "TestCases/bad-one": Status.FAIL,
    }
    assert "Add(2, 2) = 4, want 5" in result.tests["TestFail"].output
    assert result.duration_s > 0


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_run_regex_selects_tests(runner: runners.Runner, sample_tree: Path, request: pytest.FixtureRequest) -> None:
    result = runner.run(sample_tree, ["./ok/"], "TestPass|TestCases/good", run_id=run_id(request), timeout_s=300)
    assert statuses(result) == {"TestPass": Status.PASS, "TestCases": Status.PASS, "TestCases/good-one": Status.PASS}


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_compile_error_is_a_build_error(runner: runners.Runner, sample_tree: Path, request: pytest.FixtureRequest) -> None:
    result = runner.run(sample_tree, ["./broken/"], run_id=run_id(request), timeout_s=300)
    assert result.status is RunStatus.BUILD_ERROR
    assert 'broken.go:3:28: cannot use "not an int"' in result.message
    assert result.tests == {}


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_panicking_test(runner: runners.Runner, sample_tree: Path, request: pytest.FixtureRequest) -> None:
    result = runner.run(sample_tree, ["./panics/"], run_id=run_id(request), timeout_s=300)
    assert result.tests["TestBefore"].status is Status.PASS
    assert result.tests["TestPanic"].status in (Status.FAIL, Status.ERROR)
    assert "nil map" in result.tests["TestPanic"].output


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_timeout_stops_the_run(runner: runners.Runner, sample_tree: Path, request: pytest.FixtureRequest) -> None:
    # Warm the build first, so that the timeout falls while the tests run.
    runner.run(sample_tree, ["./hang/"], "TestQuick", run_id=run_id(request) + "-warm", timeout_s=300)
    started = time.monotonic()
    result = runner.run(sample_tree, ["./hang/"], run_id=run_id(request), timeout_s=5)
    assert time.monotonic() - started < 20
    assert result.status is RunStatus.TIMEOUT
    assert "timed out after 5s" in result.message
    assert result.tests["TestQuick"].status is Status.PASS
    assert result.tests["TestHang"].status is Status.ERROR
    if runner.kind == "docker":
        assert labelled(request.getfixturevalue("docker_daemon"), run_id(request)) == []
    else:
        assert list(local_runner.runs_dir().glob("*.json")) == []


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_abort_all_stops_runs_in_other_threads(runner: runners.Runner, sample_tree: Path, request: pytest.FixtureRequest) -> None:
    rid = run_id(request)
    outcome: list[BaseException | RunResult] = []

    def work() -> None:
        try:
            outcome.append(runner.run(sample_tree, ["./hang/"], run_id=rid, timeout_s=300))
        except BaseException as exc:  # noqa: BLE001 - what the thread ended with is the point
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    try:
        if runner.kind == "docker":
            docker_client = request.getfixturevalue("docker_daemon")
            wait_for(lambda: labelled(docker_client, rid, "test", "running"), 120, "a running test container")
        else:
            wait_for(lambda: [p for p in local_runner.runs_dir().glob("local-*.json") if rid in p.read_text()], 120, "the run's record")
        time.sleep(1)
        runners.abort_all()
        worker.join(60)
        assert not worker.is_alive()
        assert isinstance(outcome[0], runners.RunInterrupted)
        with pytest.raises(runners.RunInterrupted):  # and no new run starts
            runner.run(sample_tree, ["./ok/"], run_id=rid + "-after", timeout_s=60)
    finally:
        runners.reset_abort()
    if runner.kind == "docker":
        assert labelled(docker_client, rid) == [] and labelled(docker_client, rid + "-after") == []
    else:
        assert list(local_runner.runs_dir().glob("local-*.json")) == []


# -- docker only ------------------------------------------------------------------------------


@pytest.mark.docker
def test_container_settings(go_image: str, sample_tree: Path, docker_daemon: object, request: pytest.FixtureRequest) -> None:
    """Inspect a test container while it runs: user, privileges, network, mounts, labels."""
    runner = runners.prepare(sample_tree, runner="docker", image=go_image)
    rid = run_id(request)
    seen: dict[str, object] = {}

    def inspect() -> None:
        found = wait_for(lambda: labelled(docker_daemon, rid, "test", "running"), 120, "the test container")
        seen.update(docker_daemon.api.inspect_container(found[0]["Id"]))  # type: ignore[index, attr-defined]

    watcher = threading.Thread(target=inspect)
    watcher.start()
    runner.run(sample_tree, ["./hang/"], run_id=rid, timeout_s=6)
    watcher.join()
    host_config, config = seen["HostConfig"], seen["Config"]
    assert config["User"] == "1000:1000"  # type: ignore[index]
    assert host_config["CapDrop"] == ["ALL"] and not host_config["Privileged"]  # type: ignore[index]
    assert host_config["SecurityOpt"] == ["no-new-privileges"]  # type: ignore[index]
    assert host_config["NetworkMode"] == "none"  # type: ignore[index]
    assert "GOPROXY=off" in config["Env"]  # type: ignore[index]
    mounts = {m["Destination"]: m for m in seen["Mounts"]}  # type: ignore[union-attr]
    assert mounts["/src"]["RW"] is False and mounts["/src"]["Source"] == str(sample_tree)
    assert not any("docker.sock" in str(m.get("Source")) for m in mounts.values())
    labels = config["Labels"]  # type: ignore[index]
    assert labels[engine.LABEL_RUN_ID] == rid and labels[engine.LABEL_OWNER] == owners.owner()
    assert labelled(docker_daemon, rid) == []


@pytest.mark.docker
@pytest.mark.parametrize("mode", ["main", "thread"])
def test_ctrl_c_leaves_no_container(mode: str, go_image: str, sample_tree: Path, docker_daemon: object, driver, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    rid = run_id(request)
    proc = driver(mode, "docker", rid, sample_tree)
    wait_for(lambda: labelled(docker_daemon, rid, "test", "running"), 120, "a running test container")
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert labelled(docker_daemon, rid) == []


@pytest.mark.docker
def test_containers_of_killed_runs_are_reaped(go_image: str, sample_tree: Path, docker_daemon: object, request: pytest.FixtureRequest) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_owner = f"{socket.gethostname()}/{dead.pid}/1"
    left = [
        docker_daemon.containers.create(go_image, ["go", "version"], labels=engine.labels("test", "dead-run") | {engine.LABEL_OWNER: dead_owner}),  # type: ignore[attr-defined]
        docker_daemon.containers.run(go_image, ["go", "version"], detach=True, labels=engine.labels("fetch", "dead-run") | {engine.LABEL_OWNER: dead_owner}),  # type: ignore[attr-defined]
    ]
    alive = docker_daemon.containers.create(go_image, ["go", "version"], labels=engine.labels("test", "live-run"))  # type: ignore[attr-defined]
    try:
        result = runners.prepare(sample_tree, runner="docker", image=go_image).run(sample_tree, ["./ok/"], "TestPass", run_id=run_id(request))
        assert result.status is RunStatus.OK
        assert labelled(docker_daemon, "dead-run") == []
        assert [c["Id"] for c in labelled(docker_daemon, "live-run")] == [alive.id]  # its owner (this process) lives
    finally:
        for container in [*left, alive]:
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001
                pass


@pytest.mark.docker
def test_container_killed_from_outside(go_image: str, sample_tree: Path, docker_daemon: object, request: pytest.FixtureRequest) -> None:
    rid = run_id(request)
    runner = runners.prepare(sample_tree, runner="docker", image=go_image)
    results: list[RunResult] = []
    worker = threading.Thread(target=lambda: results.append(runner.run(sample_tree, ["./hang/"], run_id=rid, timeout_s=300)))
    worker.start()
    found = wait_for(lambda: labelled(docker_daemon, rid, "test", "running"), 120, "a running test container")
    time.sleep(1)
    docker_daemon.api.kill(found[0]["Id"])  # type: ignore[index, attr-defined]
    worker.join(60)
    assert results and results[0].status is RunStatus.INFRA_ERROR
    assert "killed from outside" in results[0].message
    assert labelled(docker_daemon, rid) == []


@pytest.fixture
def fresh_volumes(docker_daemon: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Go cache volumes of the test's own, empty at its start (no other test's modules in them); removed after."""
    prefix = f"argo-patcher-test-fresh-{os.getpid()}"
    monkeypatch.setenv("ARGO_PATCHER_VOLUME_PREFIX", prefix)
    try:
        yield prefix
    finally:
        for volume in runners.container.cache_volumes():  # type: ignore[attr-defined]
            with contextlib.suppress(Exception):
                docker_daemon.volumes.get(volume).remove(force=True)  # type: ignore[attr-defined]


@pytest.mark.docker
def test_module_download_failure_is_an_infra_error(go_image: str, tmp_path: Path, request: pytest.FixtureRequest, fresh_volumes: str) -> None:
    tree = _module_with_a_dependency(tmp_path)
    runner = runners.DockerRunner(runners.prepare(tree, runner="docker", image=go_image).image, module_settings={"GOPROXY": "https://proxy.invalid"})  # type: ignore[attr-defined]
    result = runner.run(tree, ["./..."], run_id=run_id(request), timeout_s=120)
    assert result.status is RunStatus.INFRA_ERROR
    assert result.message.startswith("cannot download the Go modules") and "proxy.invalid" in result.message


@pytest.mark.docker
def test_offline_without_the_modules_in_the_cache(go_image: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    tree = _module_with_a_dependency(tmp_path, version="v0.0.0-20000101000000-000000000000")
    result = runners.prepare(tree, runner="docker", image=go_image, offline=True).run(tree, ["./..."], run_id=run_id(request), timeout_s=120)
    assert result.status is RunStatus.INFRA_ERROR
    assert "--offline" in result.message


@pytest.mark.docker
def test_modules_are_fetched_only_when_the_cache_lacks_them(
    go_image: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, fresh_volumes: str
) -> None:
    roles: list[str] = []
    original = runners.DockerRunner._container

    def recording(self, docker_client, role, *args, **kwargs):  # type: ignore[no-untyped-def]
        roles.append(role)
        return original(self, docker_client, role, *args, **kwargs)

    monkeypatch.setattr(runners.DockerRunner, "_container", recording)
    tree = _module_with_a_dependency(tmp_path)
    runner = runners.prepare(tree, runner="docker", image=go_image)
    first = runner.run(tree, ["./..."], run_id=run_id(request), timeout_s=300)
    assert first.status is RunStatus.OK and first.tests["TestUsesDep"].status.value == "pass", first.message
    assert roles == ["tool", "test", "fetch", "test"]  # the cache program is built once per volume and image
    roles.clear()
    second = runner.run(tree, ["./..."], run_id=run_id(request), timeout_s=300)
    assert second.status is RunStatus.OK, second.message
    assert roles == ["test"]


def _module_with_a_dependency(tmp_path: Path, version: str = "v0.14.0") -> Path:
    tree = tmp_path / "needsdep"
    tree.mkdir()
    (tree / "go.mod").write_text(f"module example.com/needsdep\n\ngo 1.21\n\nrequire golang.org/x/text {version}\n")
    (tree / "go.sum").write_text(
        f"golang.org/x/text {version} h1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n"
        f"golang.org/x/text {version}/go.mod h1:18ZOQIKpY8NJVqYksKHtTdi31H5itFRjB5/qKTNYzSU=\n"
    )
    (tree / "dep_test.go").write_text('package needsdep\n\nimport (\n\t"testing"\n\n\t"golang.org/x/text/language"\n)\n\nfunc TestUsesDep(t *testing.T) { _ = language.English }\n')
    return tree


@pytest.mark.docker
def test_forced_image_that_does_not_exist(sample_tree: Path, docker_daemon: object) -> None:
    with pytest.raises(InfraError, match="image argo-patcher-test/none:0 is not here"):
        runners.prepare(sample_tree, runner="docker", image="argo-patcher-test/none:0", offline=True)


# -- without a daemon, and runner choice -----------------------------------------------------------


def _in_a_fresh_process(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env={**os.environ, **env}, timeout=300)


NO_DAEMON = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def test_no_daemon_is_one_clear_error(sample_tree: Path) -> None:
    code = (
        "import sys\nfrom pathlib import Path\nfrom patcher import runners\nfrom patcher.errors import InfraError\n"
        f"try:\n    runners.prepare(Path({str(sample_tree)!r}), runner='docker')\nexcept InfraError as exc:\n    print(exc)\n"
    )
    proc = _in_a_fresh_process(code, NO_DAEMON)
    assert proc.stdout.startswith("cannot reach the Docker daemon") and "use --runner local" in proc.stdout, proc.stderr


@pytest.mark.go
def test_auto_falls_back_to_the_local_go_with_a_notice(sample_tree: Path, host_go: str) -> None:
    code = f"from pathlib import Path\nfrom patcher import runners\nprint(runners.prepare(Path({str(sample_tree)!r})).kind)\n"
    proc = _in_a_fresh_process(code, NO_DAEMON)
    assert proc.stdout.strip() == "local", proc.stderr
    assert "running the tests with the local Go instead" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_without_daemon(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("image", "list", env=NO_DAEMON)
    assert proc.returncode == 3
    assert proc.stderr.strip().startswith("error: cannot reach the Docker daemon")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_choices(sample_tree: Path) -> None:
    with pytest.raises(InputError, match="--runner"):
        runners.prepare(sample_tree, runner="podman")
    with pytest.raises(InputError, match="--image needs the docker runner"):
        runners.prepare(sample_tree, runner="local", image="golang:1.21")
    with pytest.raises(InputError, match="no go.mod"):
        runners.prepare(sample_tree / "ok", runner="local")


@pytest.mark.go
def test_local_go_too_old(sample_tree: Path, host_go: str) -> None:
    (sample_tree / "go.mod").write_text("module example.com/sample\n\ngo 1.999\n")
    with pytest.raises(InfraError, match="older than the Go 1.999"):
        runners.prepare(sample_tree, runner="local")


# -- local only -------------------------------------------------------------------------------


@pytest.mark.go
def test_local_environment(sample_tree: Path, host_go: str, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOFLAGS", "-mod=vendor")
    monkeypatch.setenv("GOOS", "windows")
    env = runners.prepare(sample_tree, runner="local").environment()  # type: ignore[attr-defined]
    assert env["GOMODCACHE"] == str(isolated_cache / "go" / "mod") and env["GOCACHE"] == str(isolated_cache / "go" / "build")
    assert env["GOFLAGS"] == "-buildvcs=false" and "GOOS" not in env
    assert env["GOTOOLCHAIN"] == "local" and env["CGO_ENABLED"] == "0" and env["GOENV"] == "off"
    offline = runners.prepare(sample_tree, runner="local", offline=True).environment()  # type: ignore[attr-defined]
    assert "https://" not in offline["GOPROXY"]


@pytest.mark.go
@pytest.mark.parametrize("mode", ["main", "thread"])
def test_local_ctrl_c_kills_the_process_group(mode: str, sample_tree: Path, host_go: str, local_cache: Path, driver, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    proc = driver(mode, "local", run_id(request), sample_tree)
    runs = local_cache / "runs"
    record = wait_for(lambda: [p for p in runs.glob("local-*.json") if run_id(request) in p.read_text()], 120, "the run's record")[0]  # type: ignore[index]
    pgid = json.loads(record.read_text())["pgid"]
    wait_for(lambda: any("hang.test" in name for name in _group_commands(pgid)), 180, "the test binary")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert _group_commands(pgid) == []
    assert not record.exists()


@pytest.mark.go
def test_local_leftovers_of_killed_runs_are_killed(sample_tree: Path, host_go: str, isolated_cache: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    runs = isolated_cache / "runs"
    runs.mkdir(parents=True)
    (runs / f"local-{dead.pid}-{orphan.pid}.json").write_text(
        json.dumps({"owner": f"{socket.gethostname()}/{dead.pid}/1", "pgid": orphan.pid, "started": owners.start_time(orphan.pid), "run_id": "dead-run"})
    )
    try:
        assert local_runner.reap_orphans() == [orphan.pid]
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert list(runs.glob("*.json")) == []
    finally:
        orphan.kill()


def _group_commands(pgid: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(stat.split("(", 1)[1].rsplit(")", 1)[0])
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_host_go_settings_reach_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    from patcher.runners import container

    fake = hostgo.HostGo(Path("/go/bin/go"), Path("/go"), hostgo.GoVersion(1, 22, 0), "linux", "amd64", {
        "GOPROXY": "file:///home/me/proxy,https://goproxy.example.com|direct", "GOPRIVATE": "example.com/private", "GOSUMDB": "",
    })  # fmt: skip
    monkeypatch.setattr(hostgo, "find", lambda goroot=None: fake)
    settings = container.default_module_settings()
    assert settings == {"GOPROXY": "https://goproxy.example.com|direct", "GOPRIVATE": "example.com/private"}
    monkeypatch.setattr(hostgo, "find", lambda goroot=None: None)
    assert container.default_module_settings() == {"GOPROXY": hostgo.DEFAULT_GOPROXY}


def _answer_module(tree: Path, answer: int) -> Path:
    (tree / "answer").mkdir(parents=True)
    (tree / "go.mod").write_text("module example.com/answer\n\ngo 1.21\n")
    (tree / "answer" / "answer.go").write_text(f"package answer\n\nconst Answer = {answer}\n")
    (tree / "answer" / "answer_test.go").write_text(
        'package answer\n\nimport "testing"\n\nfunc TestAnswer(t *testing.T) {\n\tif Answer != 42 {\n\t\tt.Fatal(Answer)\n\t}\n}\n'
    )
    return tree


def _kept_binary_names(docker_client: object, image: str, slot: str) -> list[str]:
    """The files of a binary slot in the build cache volume, read from a container never started."""
    import io
    import tarfile

    from docker.types import Mount

    volumes = runners.container.cache_volumes()  # type: ignore[attr-defined]
    mounts = [Mount(path, volume, type="volume") for volume, path in volumes.items()]
    container = docker_client.containers.create(image, ["go", "version"], mounts=mounts)  # type: ignore[attr-defined]
    try:
        stream, _ = container.get_archive(f"{runners.images.GOCACHE}/{runners.container.KEPT_BINARIES}/{slot}")  # type: ignore[attr-defined]
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            return sorted(Path(member.name).name for member in archive.getmembers() if member.isfile())
    finally:
        container.remove(force=True)


@pytest.fixture
def container_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The commands of the Docker runner's containers, in order (with a cache root of the test's own)."""
    monkeypatch.setenv("ARGO_PATCHER_CACHE", str(tmp_path / "cache"))
    commands: list[list[str]] = []
    original = runners.DockerRunner._container

    def recording(self, docker_client, role, command, *args, **kwargs):  # type: ignore[no-untyped-def]
        commands.append(command)
        return original(self, docker_client, role, command, *args, **kwargs)

    monkeypatch.setattr(runners.DockerRunner, "_container", recording)
    return commands


@pytest.mark.docker
def test_kept_test_binaries_are_reused_only_for_the_same_code(
    go_image: str, tmp_path: Path, docker_daemon: object, test_volumes: str, request: pytest.FixtureRequest, container_commands: list[list[str]]
) -> None:
    right, wrong = _answer_module(tmp_path / "right", 42), _answer_module(tmp_path / "wrong", 41)
    runner = runners.prepare(right, runner="docker", image=go_image)
    slot = f"test-{os.getpid()}"

    def run(tree: Path) -> RunResult:
        return runner.run(tree, ["./answer/"], run_id=run_id(request), timeout_s=300, binary_slot=slot)

    assert statuses(run(right)) == {"TestAnswer": Status.PASS}
    assert any(arg.startswith("-o=") for arg in container_commands[-1])
    assert _kept_binary_names(docker_daemon, go_image, f"{test_volumes}-gocache-{slot}.0") == ["answer.test"]
    # Another tree with other code in the same slot: Go sees the kept binary is not its build.
    assert statuses(run(wrong)) == {"TestAnswer": Status.FAIL}
    assert statuses(run(right)) == {"TestAnswer": Status.PASS}


@pytest.mark.docker
def test_a_busy_binary_slot_is_not_shared(
    go_image: str, tmp_path: Path, docker_daemon: object, test_volumes: str, request: pytest.FixtureRequest, container_commands: list[list[str]]
) -> None:
    tree = _answer_module(tmp_path / "right", 42)
    runner = runners.prepare(tree, runner="docker", image=go_image)
    volume = f"{test_volumes}-gocache"
    with locks.lock(slot_lock_name(f"{volume}-busy")):  # another run holds the slot
        result = runner.run(tree, ["./answer/"], run_id=run_id(request), timeout_s=300, binary_slot="busy")
    assert statuses(result) == {"TestAnswer": Status.PASS}
    assert not any(arg.startswith("-o=") for arg in container_commands[-1])


@pytest.mark.docker
def test_a_run_that_ends_without_results_leaves_its_binaries_behind(
    go_image: str, tmp_path: Path, docker_daemon: object, test_volumes: str, request: pytest.FixtureRequest, container_commands: list[list[str]]
) -> None:
    """A binary cut short while being written would still carry the right build ID: a run that
    ended without test results (here: it did not compile) gives its slot a new directory."""
    tree = _answer_module(tmp_path / "right", 42)
    runner = runners.prepare(tree, runner="docker", image=go_image)
    slot = f"test-{os.getpid()}-cut"

    def kept_in(command: list[str]) -> str:
        return next(arg for arg in command if arg.startswith("-o="))

    runner.run(tree, ["./answer/"], run_id=run_id(request), timeout_s=300, binary_slot=slot)
    first = kept_in(container_commands[-1])
    (tree / "answer" / "answer.go").write_text("package answer\n\nconst Answer = 42 +\n")  # does not compile
    broken = runner.run(tree, ["./answer/"], run_id=run_id(request), timeout_s=300, binary_slot=slot)
    assert broken.status is RunStatus.BUILD_ERROR
    assert kept_in(container_commands[-1]) == first
    (tree / "answer" / "answer.go").write_text("package answer\n\nconst Answer = 42\n")
    again = runner.run(tree, ["./answer/"], run_id=run_id(request), timeout_s=300, binary_slot=slot)
    assert statuses(again) == {"TestAnswer": Status.PASS}
    assert kept_in(container_commands[-1]) != first


def test_binary_slots_are_taken_one_run_at_a_time_and_renewed_after_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from patcher.runners.container import _BinarySlot

    monkeypatch.setenv("ARGO_PATCHER_CACHE", str(tmp_path))
    with _BinarySlot.take(None) as nothing:
        assert nothing is None
    with _BinarySlot.take("v3.5-patched") as slot:
        assert slot is not None
        first = slot.directory
        with _BinarySlot.take("v3.5-patched") as busy, _BinarySlot.take("v3.5-baseline") as other:
            assert busy is None and other is not None and other.directory != first
    with _BinarySlot.take("v3.5-patched") as slot:
        assert slot is not None and slot.directory == first
    with pytest.raises(KeyboardInterrupt), _BinarySlot.take("v3.5-patched"):
        raise KeyboardInterrupt
    with _BinarySlot.take("v3.5-patched") as slot:
        assert slot is not None and slot.directory != first


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_rerun_fails_reports_a_test_passing_on_a_rerun_as_flaky(runner: runners.Runner, sample_tree: Path) -> None:
    from patcher.options import ProveOptions
    from patcher.run import pipeline
    from patcher.source.checkout import Checkout
    from patcher.source.versions import parse_tag

    checkout = Checkout(parse_tag("v3.5.0"), "0" * 40, sample_tree)

    def run(rerun_fails: int) -> dict[str, Status]:
        options = ProveOptions(suite="full", rerun_fails=rerun_fails, timeout_s=300)
        return statuses(pipeline._run(runner, checkout, ["./flaky/"], options, f"rerun{rerun_fails}"))

    assert run(0) == {"TestOrderDependent": Status.FAIL, "TestAlwaysFails": Status.FAIL, "TestPasses": Status.PASS}
    assert run(2) == {"TestOrderDependent": Status.FLAKY, "TestAlwaysFails": Status.FAIL, "TestPasses": Status.PASS}
