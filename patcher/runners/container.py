"""Running ``go test`` in a container of the Docker engine.

A run is one short-lived ``test`` container, or three when the module cache lacks something:

1. ``test``: ``go test -json`` with no network at all (``network_mode=none``, ``GOPROXY=off``),
   so the code under test cannot reach anything; the modules come from the cache volume.
2. Only if that failed for want of modules (and not with ``--offline``): ``fetch``,
   ``go list -deps -test PACKAGES`` on the default network with the host's GOPROXY, which only
   resolves and downloads the modules the tests import (no code of the tree runs), then
   ``test`` again. With warm caches a run needs no network and starts one container.

All run as uid 1000 with every capability dropped and ``no-new-privileges``, the tree mounted
read-only at /src (Argo's tests write only to temporary directories), no Docker socket, and
docker-init as PID 1. The module cache and build cache are named volumes shared by all releases
and runs (Go's caches are safe for concurrent use). The build cache volume also keeps the last
test binaries of each slot (a release line's baseline or patched run): linking Argo's controller
tests is most of a warm run, and Go skips it when the kept binary is what it would link.
Containers carry argo-patcher's labels (``engine.labels``) and are removed when the run
ends, on errors and on interruption; those of killed runs are reaped when the next run starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker.errors
import filelock
from docker.types import LogConfig, Mount

from patcher import locks, settings, ui
from patcher.errors import InfraError, disk_full_line, is_no_space, written_path
from patcher.gocaches import gocache
from patcher.options import DEFAULT_TIMEOUT_S
from patcher.runners import engine, gotest, hostgo, images
from patcher.runners.base import TOOL_CACHE, BuildFailed, Feed, Runner, ToolRun, check_not_aborting, disk_full, supervise
from patcher.runners.testresults import RunResult, RunStatus


def cache_volumes() -> dict[str, str]:
    """The named volumes of the Go caches, and where they are mounted. ARGO_PATCHER_VOLUME_PREFIX
    keeps another set apart (the test suite uses it)."""
    prefix = settings.volume_prefix()
    return {f"{prefix}-gomodcache": images.GOMODCACHE, f"{prefix}-gocache": images.GOCACHE}


def build_cache_volume() -> str:
    return next(volume for volume, path in cache_volumes().items() if path == images.GOCACHE)


LOG_DRAIN_S = 15
_TOOL = "/opt/argo-patcher/tool"  # where run_tool mounts its binary
_TOOL_GOROOT = "/opt/argo-patcher/goroot"  # and the Go it was built with
GO_WORKDIR = "/work"  # where run_go mounts its writable module
VOLUME_ID_LABEL = "argo-patcher.volume-id"
TRIM_TIMEOUT_S = 300
_TOOLS = f"{images.GOCACHE}/{gocache.TOOLS_DIR}"


def _tool() -> str:
    return f"{_TOOLS}/{gocache.tool_name()}"

KEPT_BINARIES = "argo-patcher-test-binaries"  # a directory of the build cache volume; Go's trimming leaves it alone
_volumes_lock = threading.Lock()
_volumes_ready: set[tuple[str, str]] = set()  # (volume, image id) pairs known to be writable


@dataclasses.dataclass
class _Outcome:
    exit_code: int | None = None
    stderr: str = ""
    timed_out: bool = False
    lost: str = ""  # why the container ended without us: killed or removed from outside, OOM


class DockerRunner(Runner):
    kind = "docker"

    def __init__(self, image: images.GoImage, *, offline: bool = False, module_settings: dict[str, str] | None = None) -> None:
        self.image = image
        self.offline = offline
        self.serves_cache = gocache.serves(image.go)  # through argo-patcher's cache program (GOCACHEPROG)
        self.module_settings = module_settings if module_settings is not None else default_module_settings()

    def describe(self) -> str:
        return f"docker image {self.image.describe()}" + (", offline" if self.offline else "")

    @property
    def toolchain(self) -> str:
        return f"docker {self.image.id}"

    def cache_identity(self) -> str:
        volume = build_cache_volume()
        try:
            attrs = engine.client().volumes.get(volume).attrs
        except engine.DockerError:
            return ""
        # The volume's own id, given when argo-patcher made it: Docker's CreatedAt for a local
        # volume is its directory's modification time, which moves as the cache fills.
        made = (attrs.get("Labels") or {}).get(VOLUME_ID_LABEL) or attrs.get("CreatedAt", "")
        served = f" {gocache.LRU_DIR}" if self.serves_cache else ""  # another store within the volume
        return f"docker {self.image.id} {volume} {made}{served}"

    def run(
        self,
        tree: Path,
        packages: Sequence[str],
        run_regex: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        run_id: str,
        binary_slot: str | None = None,
    ) -> RunResult:
        check_not_aborting()
        with _BinarySlot.take(binary_slot) as slot:
            result = self._run(Path(tree).resolve(), packages, run_regex, timeout_s, run_id, slot.directory if slot else None)
            if slot and not (result.status is RunStatus.OK and result.tests):
                slot.discard()  # it may hold a binary cut short, or one that never ran
            return result

    def _run(
        self, tree: Path, packages: Sequence[str], run_regex: str | None, timeout_s: float, run_id: str, binaries_dir: str | None
    ) -> RunResult:
        started = time.monotonic()
        deadline = started + timeout_s
        docker_client = self._prepared(run_id, deadline)
        test = functools.partial(self._test, docker_client, tree, packages, run_regex, timeout_s, run_id, deadline, started, binaries_dir)
        result = test()
        if not _lacks_modules(result):
            return result
        if self.offline:
            result.status = RunStatus.INFRA_ERROR
            result.message = f"--offline, and the module cache lacks modules the tests need; run once without --offline\n{result.message}"
            return result
        # Warm caches need no network at all; only a run that lacks modules pays for the fetch.
        fetched = self._container(
            docker_client, "fetch", ["go", "list", "-deps", "-test", *packages], tree, run_id, deadline, network=True
        )
        if fetched.timed_out or fetched.lost:
            return self._cut_short(fetched, gotest.GoTestParser(), timeout_s, time.monotonic() - started, "downloading modules")
        if fetched.exit_code:
            fetch_error = gotest.message_lines(fetched.stderr)
            return RunResult(RunStatus.INFRA_ERROR, duration_s=time.monotonic() - started, message=f"cannot download the Go modules: {fetch_error}")
        return test()

    def _test(
        self, docker_client: Any, tree: Path, packages: Sequence[str], run_regex: str | None, timeout_s: float, run_id: str,
        deadline: float, started: float, binaries_dir: str | None,
    ) -> RunResult:  # fmt: skip
        """``go test -json`` with no network, the modules coming from the cache volume."""
        parser = gotest.GoTestParser()
        command = ["go", *gotest.go_test_args(packages, run_regex, timeout_s=timeout_s, binaries_dir=binaries_dir)]
        tested = self._container(docker_client, "test", command, tree, run_id, deadline, network=False, on_stdout=parser.feed)
        duration = time.monotonic() - started
        if tested.timed_out or tested.lost:
            return self._cut_short(tested, parser, timeout_s, duration, "running the tests")
        result = parser.result(exit_code=tested.exit_code, stderr=tested.stderr, duration_s=duration)
        return disk_full(result, tested.stderr, lambda said: docker_disk_full_line(said, "running go test"))

    @staticmethod
    def _cut_short(outcome: _Outcome, parser: gotest.GoTestParser, timeout_s: float, duration: float, doing: str) -> RunResult:
        if outcome.timed_out:
            why, status = f"timed out after {timeout_s:g}s while {doing}; the container was stopped", RunStatus.TIMEOUT
        else:
            why, status = f"{outcome.lost} while {doing}", RunStatus.INFRA_ERROR
        return parser.result(exit_code=outcome.exit_code, stderr=outcome.stderr, duration_s=duration, stopped=why, stopped_status=status)

    def build_binary(
        self, tree: Path, package: str, output_dir: Path, *, ldflags: str, gcflags: str = "", timeout_s: float, run_id: str,
        target: Mapping[str, str] | None = None,
    ) -> Path:  # fmt: skip
        """A ``build`` container like the ``test`` ones (same image, cache volumes and read-only
        tree, no network), with ``output_dir`` mounted writable; a ``fetch`` first only when the
        module cache lacks modules."""
        check_not_aborting()
        tree, output_dir = Path(tree).resolve(), Path(output_dir).resolve()
        output_dir.mkdir(parents=True, exist_ok=True)
        output_dir.chmod(0o777)  # the container's user (uid 1000) writes the binary there
        name = package.rstrip("/").rsplit("/", 1)[-1]
        deadline = time.monotonic() + timeout_s
        docker_client = self._prepared(run_id, deadline)
        command = ["go", *gotest.go_build_args(package, f"{_BUILD_OUTPUT}/{name}", ldflags=ldflags, gcflags=gcflags)]
        build = functools.partial(
            self._container, docker_client, "build", command, tree, run_id, deadline, network=False,
            mounts=[Mount(_BUILD_OUTPUT, str(output_dir), type="bind")], env=target,
        )  # fmt: skip
        built = build()
        if built.exit_code and "GOPROXY=off" in built.stderr and not self.offline:
            fetched = self._container(docker_client, "fetch", ["go", "list", "-deps", package], tree, run_id, deadline, network=True, env=target)
            _check_built(fetched, "downloading modules", timeout_s)
            built = build()
        _check_built(built, f"building {package}", timeout_s)
        return output_dir / name

    def fetch_modules(self, tree: Path, packages: Sequence[str], *, timeout_s: float, run_id: str) -> None:
        """A ``fetch`` container, the one a test run starts when the module cache lacks modules."""
        check_not_aborting()
        if self.offline:
            raise InfraError("--offline, and the module cache lacks modules the linters need; run once without --offline")
        docker_client = engine.client()
        self._prepare_volumes(docker_client)
        fetched = self._container(docker_client, "fetch", ["go", "list", "-deps", "-test", *packages], Path(tree).resolve(), run_id,
                                  time.monotonic() + timeout_s, network=True, serve=False)  # fmt: skip
        try:
            _check_built(fetched, "downloading modules", timeout_s)
        except BuildFailed as exc:
            raise InfraError(str(exc)) from None

    def run_tool(
        self, tree: Path, tool: Path, args: Sequence[str], *, goroot: Path | None = None, env: Mapping[str, str] | None = None,
        timeout_s: float, run_id: str, cache_var: str | None = None,
    ) -> ToolRun:  # fmt: skip
        """A ``tool`` container like the ``test`` ones (same image, cache volumes and read-only
        tree, no network), with the tool, and ``goroot`` in place of the image's Go when given,
        mounted read-only."""
        check_not_aborting()
        docker_client = engine.client()
        engine.reap_orphans(docker_client)
        self._prepare_volumes(docker_client)
        mounts = [Mount(_TOOL, str(Path(tool).resolve()), type="bind", read_only=True)]
        environment = dict(env or {})
        if cache_var:
            environment[cache_var] = f"{images.GOCACHE}/{TOOL_CACHE}"
        if goroot is not None:
            mounts.append(Mount(_TOOL_GOROOT, str(Path(goroot).resolve()), type="bind", read_only=True))
            environment.update(GOROOT=_TOOL_GOROOT, PATH=f"{_TOOL_GOROOT}/bin:{images.IMAGE_ENV['PATH']}")
        stdout = bytearray()
        ran = self._container(
            docker_client, "tool", [_TOOL, *args], Path(tree).resolve(), run_id, time.monotonic() + timeout_s, network=False,
            on_stdout=stdout.extend, mounts=mounts, serve=goroot is None, env=environment,
        )  # fmt: skip
        if ran.lost:
            raise InfraError(f"running {Path(tool).name}: {ran.lost}")
        return ToolRun(None if ran.timed_out else ran.exit_code, stdout.decode("utf-8", "replace"), ran.stderr, ran.timed_out)

    def run_go(
        self, workdir: Path, args: Sequence[str], *, timeout_s: float, run_id: str, env: Mapping[str, str] | None = None
    ) -> ToolRun:  # fmt: skip
        """``go -C /work ARGS`` in a ``build`` container like the others (same image and cache
        volumes), ``workdir`` mounted writable at /work, with the network unless offline: a
        throwaway module's commands, for building a program from the Go module proxy where there
        is no Go on this machine (etcd and kube-apiserver)."""
        check_not_aborting()
        workdir = Path(workdir).resolve()
        workdir.chmod(0o777)  # the container's user (uid 1000) writes go.mod, go.sum and the binary there
        deadline = time.monotonic() + timeout_s
        docker_client = self._prepared(run_id, deadline)
        stdout = bytearray()
        ran = self._container(
            docker_client, "build", ["go", "-C", GO_WORKDIR, *args], workdir, run_id, deadline, network=not self.offline,
            on_stdout=stdout.extend, mounts=[Mount(GO_WORKDIR, str(workdir), type="bind")], env=env,
        )  # fmt: skip
        if ran.lost:
            raise InfraError(f"go {' '.join(args[:1])}: {ran.lost}")
        return ToolRun(None if ran.timed_out else ran.exit_code, stdout.decode("utf-8", "replace"), ran.stderr, ran.timed_out)

    # -- the build cache's own program, and trimming ------------------------------------------------

    def trim_cache(self, limit: int) -> gocache.TrimReport:
        """Bring the Go caches under ``limit`` bytes in a short container (no network)."""
        check_not_aborting()
        docker_client = engine.client()
        self._prepare_volumes(docker_client)
        deadline = time.monotonic() + TRIM_TIMEOUT_S
        self._prepare_cache_program(docker_client, "cache", deadline)
        command = gocache.trim_command(_tool(), limit, build_cache=images.GOCACHE, module_cache=images.GOMODCACHE, keep=_TOOLS)
        output = bytearray()
        trimmed = self._container(docker_client, "trim", command, gocache.source(), "cache", deadline, network=False, on_stdout=output.extend, serve=False)
        _check_built(trimmed, "trimming the Go caches", TRIM_TIMEOUT_S)
        return gocache.TrimReport.parse(output.decode("utf-8", "replace"))

    def _prepared(self, run_id: str, deadline: float) -> Any:
        """The Docker client, once orphans are reaped and the cache volumes and program are ready."""
        docker_client = engine.client()
        engine.reap_orphans(docker_client)
        self._prepare_volumes(docker_client)
        if self.serves_cache:
            self._prepare_cache_program(docker_client, run_id, deadline)
        return docker_client

    def _prepare_cache_program(self, docker_client: Any, run_id: str, deadline: float) -> None:
        """Build the cache program into the build cache volume, once per volume, image and
        version of its source (a marker on this machine says it is there)."""
        marker = settings.cache_root() / "cache-programs" / engine.slug(f"{self.cache_identity()}-{_tool()}")
        if marker.exists():
            return
        with _volumes_lock:
            if marker.exists():
                return
            built = self._container(
                docker_client, "tool", gocache.build_command(_tool()), gocache.source(), run_id, deadline, network=False, serve=False
            )
            try:
                _check_built(built, "building argo-patcher's cache program", max(1.0, deadline - time.monotonic()))
            except BuildFailed as exc:  # the tests can still run on Go's own cache, only untracked
                ui.warn(f"{exc}; the Go build cache is used without tracking its use, so trimming it is coarser")
                self.serves_cache = False
                return
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()

    # -- containers -----------------------------------------------------------------------------

    def _environment(self, network: bool, *, serve: bool = True) -> dict[str, str]:
        env = {key: value for key, value in images.IMAGE_ENV.items() if key not in ("PATH", "GOROOT", "SSL_CERT_FILE")}
        env.update(self.module_settings)
        if not network:
            env["GOPROXY"] = "off"
        if serve and self.serves_cache:
            env["GOCACHEPROG"] = gocache.serve_command(_tool(), images.GOCACHE)
        return env

    def _container(
        self,
        docker_client: Any,
        role: str,
        command: list[str],
        tree: Path,
        run_id: str,
        deadline: float,
        *,
        network: bool,
        on_stdout: Callable[[bytes], None] | None = None,
        mounts: Sequence[Mount] = (),
        serve: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> _Outcome:
        outcome = _Outcome()
        started = time.monotonic()
        create: dict[str, Any] = {
            "command": command, "user": f"{images.USER_UID}:{images.USER_UID}", "working_dir": images.WORKDIR,
            "environment": {**self._environment(network, serve=serve), **(env or {})},
            "mounts": [
                Mount(images.WORKDIR, str(tree), type="bind", read_only=True),
                *(Mount(path, volume, type="volume") for volume, path in cache_volumes().items()),
                *mounts,
            ],
            "network_mode": "bridge" if network else "none", "log_config": LogConfig(type=LogConfig.types.JSON),
        }  # fmt: skip
        tree_label = {engine.LABEL_TREE: str(tree)}
        with engine.hardened_container(docker_client, self.image.ref, role=role, run_id=run_id, extra_labels=tree_label, **create) as container:
            ui.debug(f"[{run_id}] {role}: {' '.join(command)} in {container.name}")
            feed = Feed(on_stdout) if on_stdout is not None else None
            reader = threading.Thread(target=_pump, args=(container, feed), name=f"logs-{container.name}", daemon=True)
            reader.start()
            outcome.timed_out = supervise(lambda t: _joined(reader, t), deadline)
            if outcome.timed_out:
                with contextlib.suppress(*engine.DockerError):
                    container.kill()
            reader.join(LOG_DRAIN_S)
            self._collect(container, outcome)
            ui.debug(f"[{run_id}] {role}: exit code {outcome.exit_code} after {time.monotonic() - started:.1f}s")
            if feed is not None:
                feed.raise_error()  # what reads the output failed (a parser bug): not a lost stream
            return outcome

    @staticmethod
    def _collect(container: Any, outcome: _Outcome) -> None:
        try:
            status = container.wait(timeout=LOG_DRAIN_S)
            outcome.exit_code = int(status.get("StatusCode", -1))
            outcome.stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            container.reload()
        except docker.errors.NotFound:
            outcome.lost = outcome.lost or "the test container was removed from outside"
            return
        except engine.DockerError as exc:
            outcome.lost = outcome.lost or f"lost the test container ({engine.reason(exc)})"
            return
        state = container.attrs.get("State", {})
        if state.get("OOMKilled"):
            outcome.lost = "the test container ran out of memory"
        elif not outcome.timed_out and outcome.exit_code is not None and outcome.exit_code >= 128:
            outcome.lost = f"the test container was killed from outside (exit code {outcome.exit_code})"

    def _prepare_volumes(self, docker_client: Any) -> None:
        """Make the cache volumes, and make sure the run's user can write to them.

        In argo-patcher's images the mount points belong to uid 1000, and Docker gives an empty
        volume the ownership of its mount point. Other images (the official golang ones) lack
        those directories, so a new volume would belong to root: a one-off container of the
        same image, as root with only CAP_CHOWN and no network, hands the volumes to uid 1000."""
        volumes = cache_volumes()
        with _volumes_lock, engine.errors_as_infra("preparing the cache volumes"):
            for volume in volumes:
                try:
                    docker_client.volumes.get(volume)
                except docker.errors.NotFound:
                    docker_client.volumes.create(volume, labels={engine.LABEL: "cache", VOLUME_ID_LABEL: secrets.token_hex(8)})
            if self.image.built or all((v, self.image.id) in _volumes_ready for v in volumes):
                return
            chown: dict[str, Any] = {
                "entrypoint": ["chown", f"{images.USER_UID}:{images.USER_UID}", *volumes.values()], "command": [], "user": "0:0",
                "mounts": [Mount(path, volume, type="volume") for volume, path in volumes.items()], "network_mode": "none", "cap_add": ["CHOWN"],
            }  # fmt: skip
            try:
                with engine.hardened_container(docker_client, self.image.ref, role="init", run_id="volumes", **chown) as init:
                    code = int(init.wait(timeout=120).get("StatusCode", -1))
                    why = "" if code == 0 else f"exit code {code}: {init.logs().decode(errors='replace').strip()}"
            except engine.DockerError as exc:
                why = engine.reason(exc)
            if why:
                raise InfraError(
                    f"cannot hand the cache volumes to uid {images.USER_UID} with image {self.image.ref} ({why}); "
                    f"use an image from `patcher image build`"
                )
            _volumes_ready.update((v, self.image.id) for v in volumes)


@dataclasses.dataclass
class _BinarySlot:
    """Where in the build cache volume a run keeps its test binaries (see ``gotest.go_test_args``).

    The tree is always mounted at the same path, so a later run of the same code builds the same
    binary, and Go skips the link. A slot is used by one run at a time (a lock on this machine);
    a run that finds it busy keeps no binaries rather than waiting. Go trusts a kept binary by the
    build ID near its start, so one cut short while being written would be trusted too: a run
    that did not end with test results discards the slot's directory for a new one (the next
    generation; ``patcher cache clean --go`` removes the old ones with the volume)."""

    directory: str
    generation_file: Path
    generation: int

    @classmethod
    @contextlib.contextmanager
    def take(cls, name: str | None) -> Iterator[_BinarySlot | None]:
        if not name:
            yield None
            return
        stem = settings.cache_root() / "binary-slots" / f"{build_cache_volume()}-{engine.slug(name)}"
        try:
            stem.parent.mkdir(parents=True, exist_ok=True)
            lock = locks.lock(slot_lock_name(stem.name), timeout=0)
            lock.acquire()
        except (filelock.Timeout, OSError):
            yield None
            return
        try:
            generation_file = stem.with_name(f"{stem.name}.generation")
            try:
                generation = int(generation_file.read_text())
            except (OSError, ValueError):
                generation = 0
            slot = cls(f"{images.GOCACHE}/{KEPT_BINARIES}/{stem.name}.{generation}", generation_file, generation)
            try:
                yield slot
            except BaseException:
                slot.discard()
                raise
        finally:
            lock.release()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.generation_file.write_text(f"{self.generation + 1}\n")


def _pump(container: Any, on_stdout: Callable[[bytes], None] | None) -> None:
    """Follow the container's stdout until it ends, handing each chunk to ``on_stdout``."""
    try:
        # The stream's end is what tells the run that the container has ended; a container whose
        # stdout nobody needs (fetch) streams its stderr instead, which is short.
        wanted = on_stdout is not None
        for chunk in container.logs(stream=True, follow=True, stdout=wanted, stderr=not wanted):
            if on_stdout is not None:
                on_stdout(chunk)
    except Exception as exc:  # noqa: BLE001 - a lost stream shows in the container's state; the reader's own errors are in its Feed
        ui.debug(f"log stream of {container.name} ended: {type(exc).__name__}: {exc}")


_BUILD_OUTPUT = "/out"


def _check_built(outcome: _Outcome, doing: str, timeout_s: float) -> None:
    if outcome.timed_out:
        raise BuildFailed(f"timed out after {timeout_s:g}s while {doing}; the container was stopped", RunStatus.TIMEOUT)
    if outcome.lost:
        raise BuildFailed(f"{outcome.lost} while {doing}", RunStatus.INFRA_ERROR)
    if outcome.exit_code and is_no_space(outcome.stderr):
        raise BuildFailed(docker_disk_full_line(outcome.stderr, doing), RunStatus.INFRA_ERROR)
    if outcome.exit_code:
        message = gotest.message_lines(outcome.stderr) or f"exit code {outcome.exit_code}"
        status = RunStatus.INFRA_ERROR if "GOPROXY=off" in message or doing == "downloading modules" else RunStatus.BUILD_ERROR
        raise BuildFailed(f"{doing} failed: {message}", status)


def docker_disk_full_line(said: str, doing: str) -> str:
    """The line of a full disk in a container: what it wrote (in which cache volume), and the file
    system of Docker's data root, where the volumes and the containers' layers are."""
    written = written_path(said)
    volume = next((name for name, path in cache_volumes().items() if written and written.startswith(path)), None)
    what = f"{doing}: writing {written}" if written else doing
    if volume:
        what += f" (the Docker volume {volume})"
    root: str | None = None
    with contextlib.suppress(*engine.DockerError, InfraError):
        root = str(engine.client().info().get("DockerRootDir") or "") or None
    if root is not None and not Path(root).exists():
        root = None  # a daemon on another machine: its file system is not ours to measure
    line = disk_full_line(root, what, detail="")
    hint = "; or lower --cache-limit" if volume else ""
    return line.replace(" is full while", " (Docker's data root) is full while", 1) + hint if root else line + hint


def slot_lock_name(stem: str) -> str:
    """The lock a run holds while it uses a slot of kept test binaries."""
    return f"binary-slot-{stem}"


def _joined(thread: threading.Thread, timeout: float) -> bool:
    """Whether ``thread`` ended within ``timeout`` seconds."""
    thread.join(timeout)
    return not thread.is_alive()


def _lacks_modules(result: RunResult) -> bool:
    """Whether a run without network failed for want of modules in the cache."""
    return result.status in (RunStatus.BUILD_ERROR, RunStatus.INFRA_ERROR) and "GOPROXY=off" in result.message




def default_module_settings() -> dict[str, str]:
    """GOPROXY and friends for containers: the host's `go env` when there is a Go here,
    keeping only what works in a container (no file:// proxies), else Go's defaults."""
    host = hostgo.find()
    settings = host.module_settings() if host else {}
    proxies = [p for p in re.split(r"[,|]", settings.get("GOPROXY", "")) if p.startswith(("http://", "https://")) or p in ("direct", "off")]
    settings["GOPROXY"] = _rejoin(settings.get("GOPROXY", ""), proxies) or hostgo.DEFAULT_GOPROXY
    return settings


def _rejoin(original: str, kept: list[str]) -> str:
    """``kept`` joined with the separators ``original`` used (',' falls through on 404 only,
    '|' on any error)."""
    if not kept:
        return ""
    parts = re.split(r"([,|])", original)
    out: list[str] = []
    for index in range(0, len(parts), 2):
        if parts[index] in kept:
            if out:
                out.append(parts[index - 1] if index > 0 else ",")
            out.append(parts[index])
    return "".join(out)
