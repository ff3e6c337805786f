"""One error route (issue 19, items 4 and 5), hermetic: a full disk is named, an internal error
leaves its traceback in a log file the line names, a build that does not compile exits 1, a
parser bug is not swallowed, housekeeping never changes a verdict, and argo-patcher's own
template is argo-patcher's fault."""

from __future__ import annotations

import dataclasses
import errno
import subprocess
import sys
import textwrap
from pathlib import Path

import git
import pytest

from patcher import errors
from patcher.cluster import check
from patcher.errors import DiskFull, ExitCode, InfraError, InternalError, PatcherError, PatchError
from patcher.harness import fixture
from patcher.patching.gotree import GoTree
from patcher.run import matrix, pipeline
from patcher.runners import base
from patcher.runners.base import BuildFailed, Feed
from patcher.runners.testresults import RunResult, RunStatus
from patcher.source import gitcmd, versions
from patcher.source.versions import Release


def test_enospc_is_recognised_from_errno_and_from_tools_messages() -> None:
    assert errors.is_no_space(OSError(errno.ENOSPC, "No space left on device"))
    assert errors.is_no_space(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not errors.is_no_space(OSError(errno.EACCES, "Permission denied"))
    go = "go: writing stat cache: write /home/gopher/.cache/go-build/ab/abc-d: no space left on device"
    assert errors.is_no_space(go) and errors.written_path(go) == "/home/gopher/.cache/go-build/ab/abc-d"
    docker = "failed to register layer: Error processing tar file(exit status 1): write /usr/local/go/bin/go: no space left on device"
    assert errors.written_path(docker) == "/usr/local/go/bin/go"
    assert not errors.is_no_space("exit status 2: undefined: foo")


def test_the_line_names_the_file_system_what_was_written_and_the_free_space(tmp_path: Path) -> None:
    target = tmp_path / "run" / "v3.5.5" / "Makefile"
    line = errors.no_space_line(OSError(errno.ENOSPC, "No space left on device", str(target)), "checking out v3.5.5")
    assert line is not None and "\n" not in line
    mount = errors.mount_point(tmp_path)
    assert line.startswith(f"no space left on device: {mount}")
    assert "while checking out v3.5.5" in line and str(target) in line
    assert " free of " in line  # the space left there, and the file system's size
    assert errors.no_space_line(ValueError("not a disk")) is None
    assert errors.no_space_line(DiskFull("given")) == "given"


def test_the_line_suggests_another_tmpdir_for_a_full_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert "point TMPDIR at a larger file system" in errors.disk_full_line(tmp_path / "x", "writing")
    monkeypatch.setenv("TMPDIR", "/elsewhere")
    assert "TMPDIR" not in errors.disk_full_line(tmp_path / "x", "writing")


def test_git_that_could_not_write_a_tree_is_a_full_disk(tmp_path: Path) -> None:
    stderr = "stderr: 'error: unable to write file Makefile\nfatal: Could not reset index file to revision 'HEAD'.'"
    with pytest.raises(DiskFull) as raised:
        with gitcmd.failures_as("checking out 3f4a06c7570a", writing=tmp_path / "v3.5.5"):
            raise git.GitCommandError(["git", "reset"], 128, stderr)
    line = str(raised.value)
    assert raised.value.exit_code is ExitCode.INFRA
    assert "no space left on device" in line and "while checking out 3f4a06c7570a" in line and "unable to write file Makefile" in line
    with pytest.raises(InfraError) as other:  # any other failure of git stays git's line
        with gitcmd.failures_as("checking out x", writing=tmp_path):
            raise git.GitCommandError(["git", "reset"], 128, "fatal: bad object HEAD")
    assert not isinstance(other.value, DiskFull) and "bad object HEAD" in str(other.value)


def test_a_run_that_filled_the_disk_is_an_infra_error_not_a_build_error(tmp_path: Path) -> None:
    said = f"write {tmp_path}/go-build/x: no space left on device"
    result = base.disk_full(RunResult(RunStatus.BUILD_ERROR, message=said), "", lambda s: errors.disk_full_line(errors.written_path(s), "running go test"))
    assert result.status is RunStatus.INFRA_ERROR and result.message.startswith("no space left on device: ")
    kept = base.disk_full(RunResult(RunStatus.BUILD_ERROR, message="undefined: foo"), "", lambda s: "never")
    assert kept.status is RunStatus.BUILD_ERROR and kept.message == "undefined: foo"


def test_an_internal_error_writes_its_traceback_to_a_log_file_the_line_names(isolated_cache: Path) -> None:
    def bug() -> None:
        raise KeyError("cases")

    try:
        bug()
    except KeyError as exc:
        line = errors.internal_error_line(exc, "v3.5.5")
    assert line.startswith("internal error in v3.5.5: KeyError: 'cases'; the traceback is in ")
    log = Path(line.split("the traceback is in ", 1)[1].split(" (", 1)[0])
    assert log.is_file() and log.is_relative_to(isolated_cache / "logs")
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in bug" in text and "KeyError: 'cases'" in text


def test_one_release_s_internal_error_is_its_own_with_the_log_named(isolated_cache: Path) -> None:
    releases = [_release("v3.5.5"), _release("v3.5.6")]

    def prove(release: Release, on_stage: matrix.StageCallback) -> object:
        if release.name == "v3.5.5":
            raise KeyError("parsed")
        from patcher.run.results import ReleaseResult

        return ReleaseResult(release.name)

    class Quiet:
        def stage(self, release: Release, stage: str) -> None: ...
        def finish(self, release: Release, result: object) -> None: ...

    outcome = matrix.run(releases, prove, jobs=1, progress=Quiet())  # type: ignore[arg-type]
    broken = outcome.results[0]
    assert broken.message.startswith("internal error in v3.5.5: KeyError") and "the traceback is in " in broken.message
    assert outcome.results[1].message == ""
    assert any((isolated_cache / "logs").rglob("internal-error-v3.5.5.log"))


def test_cli_internal_error_names_its_log(run_cli: object, isolated_cache: Path, tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text(textwrap.dedent("""
        import sys
        from patcher import cli
        def boom(*a, **k):
            raise RuntimeError("the parser broke")
        cli.cli.main = boom
        cli.main(["versions"])
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env={**_env(), "ARGO_PATCHER_CACHE": str(isolated_cache)})
    assert proc.returncode == ExitCode.INFRA
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "internal error: RuntimeError: the parser broke; the traceback is in " in lines[0]
    assert "Traceback" not in proc.stderr
    assert any((isolated_cache / "logs").rglob("internal-error-argo-patcher.log"))


def test_cli_names_a_full_disk_in_one_line_with_exit_3(isolated_cache: Path, tmp_path: Path) -> None:
    script = tmp_path / "full.py"
    script.write_text(textwrap.dedent(f"""
        import errno
        from patcher import cli
        def full(*a, **k):
            raise OSError(errno.ENOSPC, "No space left on device", {str(tmp_path / 'out.json')!r})
        cli.cli.main = full
        cli.main(["versions"])
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env={**_env(), "ARGO_PATCHER_CACHE": str(isolated_cache)})
    assert proc.returncode == ExitCode.INFRA
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no space left on device: " in lines[0] and str(tmp_path / "out.json") in lines[0]


def _env() -> dict[str, str]:
    import os

    root = str(Path(__file__).resolve().parent.parent)  # this checkout's patcher, not an installed one
    return {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def _release(tag: str) -> Release:
    found = versions.parse_tag(tag)
    assert found is not None
    return found


def test_a_build_that_does_not_compile_exits_1_and_a_broken_machinery_3() -> None:
    assert BuildFailed("undefined: foo", RunStatus.BUILD_ERROR).exit_code is ExitCode.TESTS_FAILED
    assert BuildFailed("timed out", RunStatus.TIMEOUT).exit_code is ExitCode.INFRA
    assert BuildFailed("lost", RunStatus.INFRA_ERROR).exit_code is ExitCode.INFRA


def test_a_parser_bug_is_kept_and_raised_not_swallowed() -> None:
    seen: list[bytes] = []

    def parse(chunk: bytes) -> None:
        seen.append(chunk)
        if chunk == b"bad":
            raise ValueError("parser bug")

    feed = Feed(parse)
    for chunk in (b"ok", b"bad", b"after"):
        feed(chunk)  # never raises in the reader thread
    assert seen == [b"ok", b"bad"]  # drained, not parsed, after the failure
    with pytest.raises(ValueError, match="parser bug"):
        feed.raise_error()
    Feed(None)(b"x")


def test_a_trim_s_surprise_never_throws_away_the_release_s_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    class Runner:
        def trim_cache(self, limit: int) -> object:
            raise KeyError("TrimReport")

    warned: list[str] = []
    monkeypatch.setattr(pipeline.ui, "warn", warned.append)
    pipeline._trim_caches(Runner(), 10**9, _release("v3.5.5"))  # type: ignore[arg-type]
    assert len(warned) == 1 and "could not trim the Go caches after v3.5.5: internal error in trim-v3.5.5: KeyError" in warned[0]


def test_a_bad_harness_template_is_argo_patcher_s_fault_not_the_release_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(content: bytes, name: str) -> None:
        raise PatchError(f"the patched {name} is not gofmt-clean")

    monkeypatch.setattr(fixture.shapes, "harness_shape", lambda tree: _Shape())
    monkeypatch.setattr(fixture.render, "render", lambda *a, **k: "package controller\n")
    with pytest.raises(InternalError) as raised:
        fixture.render_for(GoTree(tmp_path), refuse)
    assert f"go-fixtures/{fixture.TEMPLATE}" in str(raised.value) and "bug of argo-patcher" in str(raised.value)
    assert not isinstance(raised.value, PatchError) and raised.value.exit_code is ExitCode.INFRA


@dataclasses.dataclass
class _Shape:
    logger: str = "log"


def test_the_cluster_check_turns_any_error_into_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    crds = tmp_path / "crds"
    crds.mkdir()
    (crds / "workflows.yaml").write_text("kind: CustomResourceDefinition\n  metadata: [broken\n")
    with pytest.raises(InfraError, match=r"^the CRD file workflows.yaml is not valid YAML: "):
        check.install_crds(object(), crds)  # type: ignore[arg-type]
    spec = tmp_path / "spec.json"
    spec.write_text("{}")
    monkeypatch.setattr(check.CheckSpec, "load", classmethod(lambda cls, path: (_ for _ in ()).throw(TypeError("spec\nbroken"))))
    assert check.main([str(spec)]) == ExitCode.INFRA
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.strip()] == ["error: the cluster check failed: TypeError: spec broken"]


def test_patcher_errors_keep_their_codes() -> None:
    assert issubclass(DiskFull, InfraError) and issubclass(InternalError, PatcherError)


def test_a_full_docker_volume_names_the_volume_and_docker_s_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from patcher.runners import container, engine, images

    class Client:
        def info(self) -> dict[str, str]:
            return {"DockerRootDir": str(tmp_path)}

    monkeypatch.setattr(engine, "client", lambda *a, **k: Client())
    said = f"go: writing {images.GOCACHE}/ab/abcdef-d: write {images.GOCACHE}/ab/abcdef-d: no space left on device"
    line = container.docker_disk_full_line(said, "running go test")
    volume = container.build_cache_volume()
    assert line.startswith(f"no space left on device: {errors.mount_point(tmp_path)}") and "(Docker's data root) is full while running go test" in line
    assert f"writing {images.GOCACHE}/ab/abcdef-d (the Docker volume {volume})" in line and "lower --cache-limit" in line
