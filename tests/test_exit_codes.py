"""README's exit-code table, every row through ``apply``, ``matrix`` and ``diff`` alike.

Each row names a way to get its code, run for real through the CLI against synthetic
repositories of our own: the same mistake must get the same code and one line, whichever
command meets it and wherever it is caught.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import gitrepo
from tests.goshapes import make_tree

SHAPE_OF_TAG = {"v3.5.0": "v3.5", "v3.7.0": "v3.7-apierr-nowhere", "v4.1.0": "unknown"}
OK, BROKEN_PATCH, UNRECOGNISED = "v3.5.0", "v3.7.0", "v4.1.0"
COMMANDS = ("apply", "matrix", "diff")


def command(name: str, version: str, *extra: str) -> list[str]:
    """The command proving (or, for diff, printing the patch of) one release without tests:
    ``--no-test`` keeps the table about the exit codes, not about where Go runs."""
    if name == "diff":
        return ["diff", "--version", version, *extra]
    if name == "apply":
        return ["apply", "--version", version, "--no-test", *extra]
    return ["matrix", "--versions", version, "--no-test", *extra]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exit-codes")
    files_for = {tag: gitrepo.copy_tree(make_tree(root / "shapes" / tag, shape)) for tag, shape in SHAPE_OF_TAG.items()}
    return gitrepo.make_repo(root / "argo", list(SHAPE_OF_TAG), files_for=files_for)


@pytest.fixture
def unreachable_url() -> str:
    """A URL nothing listens at: git fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/argo-workflows.git"


@pytest.fixture
def hanging_server() -> Iterator[tuple[str, threading.Event]]:
    """A URL whose server accepts and never answers (git waits until it is stopped), and the event
    set once git has connected: argo-patcher has started and is cloning."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop, connected = threading.Event(), threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
            connected.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/argo-workflows.git", connected
    stop.set()
    thread.join(2)
    for connection in held:
        connection.close()  # the git left waiting by the interrupted run gets its answer and ends
    server.close()


def assert_one_error_line(stderr: str, *needles: str) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.mark.parametrize("name", COMMANDS)
def test_0_success(name, repo, run_cli):
    done = run_cli("--repo", str(repo), *command(name, OK))
    assert done.returncode == 0, done.stderr
    assert "error:" not in done.stderr


@pytest.mark.parametrize("name", COMMANDS)
def test_1_a_release_failed_on_its_merits_a_broken_patch(name, repo, run_cli):
    done = run_cli("--repo", str(repo), *command(name, BROKEN_PATCH))
    assert done.returncode == 1, done.stderr
    assert_one_error_line(done.stderr, "would not compile")
    assert done.stdout == "" or name != "diff"


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize(
    ("how", "version", "env", "extra", "needle"),
    [
        ("unknown version", "v9.9.9", {}, (), "unknown release v9.9.9"),
        ("unrecognised code shape", UNRECOGNISED, {}, (), "addMetadata"),
        ("bad environment value", OK, {"ARGO_PATCHER_PULL_TIMEOUT": "abc"}, (), "ARGO_PATCHER_PULL_TIMEOUT='abc'"),
    ],
)
def test_2_input_error(name, how, version, env, extra, needle, repo, run_cli):
    done = run_cli("--repo", str(repo), *command(name, version, *extra), env=env)
    assert done.returncode == 2, done.stderr
    assert_one_error_line(done.stderr, needle)


@pytest.mark.parametrize("name", ["apply", "matrix"])
def test_2_conflicting_options_are_refused_before_any_release(name, repo, run_cli):
    args = ["apply", "--version", OK] if name == "apply" else ["matrix", "--versions", f"{OK},{UNRECOGNISED}"]
    done = run_cli("--repo", str(repo), *args, "--runner", "local", "--image", "golang:1.24")
    assert done.returncode == 2, done.stderr
    assert_one_error_line(done.stderr, "--image needs the docker runner")
    assert "proving" not in done.stderr


def test_2_a_bad_option_of_diff(repo, run_cli):
    done = run_cli("--repo", str(repo), "diff", "--version", OK, "--format", "tarball")
    assert done.returncode == 2 and "Invalid value for '--format'" in done.stderr


@pytest.mark.parametrize("name", COMMANDS)
def test_3_infrastructure_error_an_unreachable_repository(name, unreachable_url, run_cli):
    done = run_cli("--repo", unreachable_url, *command(name, OK))
    assert done.returncode == 3, done.stderr
    assert_one_error_line(done.stderr, "git failed while cloning")


@pytest.mark.parametrize("name", ["apply", "matrix"])
def test_3_no_docker_daemon_stops_the_whole_run_at_once_in_one_line(name, repo, run_cli, tmp_path):
    versions = ["--version", OK] if name == "apply" else ["--versions", f"{OK},{UNRECOGNISED}"]
    done = run_cli("--repo", str(repo), name, *versions, "--runner", "docker", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert done.returncode == 3, done.stderr
    assert_one_error_line(done.stderr, "cannot reach the Docker daemon", "none.sock")
    assert done.stdout == ""  # no table of releases that never ran


@pytest.mark.parametrize("name", COMMANDS)
def test_130_interrupted(name, hanging_server, isolated_cache, tmp_path):
    url, connected = hanging_server
    args = [sys.executable, "-m", "patcher", "--repo", url, *command(name, OK)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ARGO_PATCHER_CACHE": str(isolated_cache)})  # fmt: skip
    try:
        # Signalled once the clone waits for the server, however long a loaded machine takes to start it.
        assert connected.wait(120) and proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert_one_error_line(stderr, "interrupted")
    assert not list((isolated_cache / "mirrors").glob("*.staging-*"))  # no half-made mirror left behind
