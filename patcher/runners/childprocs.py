"""Child processes in a session of their own: started, recorded, killed as a group, reaped.

A run starts each child in a new session (its own process group: a terminal's Ctrl-C reaches
only argo-patcher) and kills the whole group when it is done, on errors and on interruption
(``Group``). A run that is killed itself cannot, so each group is recorded in
``<cache root>/runs/`` while it runs, with the process that owns it; the next run kills the
groups whose owner is gone (``reap_orphans``). Used by the local Go runner (``local-*`` records),
the builds of the cluster binaries and the cluster check (``cluster-*``), whose long-lived
children are ``Process``es.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from patcher import owners, settings, ui
from patcher.errors import InfraError
from patcher.runners.base import register, supervise, unregister


def runs_dir() -> Path:
    return settings.cache_root() / "runs"


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to process group ``pgid``, if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def waited(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether ``proc`` ended within ``timeout`` seconds (for ``runners.base.supervise``)."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def record(pgid: int, run_id: str, *, kind: str = "local", **extra: str) -> Path:
    """Note that this process owns process group ``pgid`` (a child started in a new session);
    unlink the returned path once the group is gone."""
    directory = runs_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{kind}-{os.getpid()}-{pgid}.json"
    entry = {"owner": owners.owner(), "pgid": pgid, "started": owners.start_time(pgid), "run_id": run_id, **extra}
    path.write_text(json.dumps(entry))
    return path


def reap_orphans(kind: str = "local", what: str = "go test") -> list[int]:
    """Kill the ``kind`` process groups whose owner process is gone; return their ids.
    ``what`` names them in the debug log."""
    directory = runs_dir()
    if not directory.is_dir():
        return []
    killed = []
    for path in directory.glob(f"{kind}-*.json"):
        try:
            entry = json.loads(path.read_text())
            pgid, owner = int(entry["pgid"]), str(entry["owner"])
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if owners.owner_alive(owner) is not False:
            continue
        started = str(entry.get("started", ""))
        # A recycled process id is another program's: only the very process that was recorded is killed.
        if started and owners.start_time(pgid) == started:
            name = entry.get("name") or what
            ui.debug(f"killing {name} (process group {pgid}), left by run {entry.get('run_id', '?')} that did not finish")
            kill_group(pgid)
            killed.append(pgid)
        path.unlink(missing_ok=True)
    return killed


# -- one child: started in a group of its own, recorded, stopped with all it started ---------

STOP_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1


class Group:
    """A child started in a session of its own (its own process group), recorded in ``runs/``
    while it runs (``kind``-*.json) and stopped with everything it started: SIGTERM to the group,
    SIGKILL after ``grace_s`` (at once without one). ``stop`` is idempotent.

    As a context manager the group also stops when ``runners.base.abort_all`` stops every run of
    this process (Ctrl-C), and always when the block ends; ``supervise`` waits for it as a run."""

    def __init__(
        self, args: Sequence[str], *, name: str, run_id: str, kind: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.DEVNULL, grace_s: float = 0.0, die_with_parent: bool = False,
    ) -> None:  # fmt: skip
        self.args, self.name, self.run_id, self.kind = list(args), name, run_id, kind
        self.grace_s = grace_s
        try:
            self.proc = subprocess.Popen(
                self.args, cwd=cwd, env=dict(env) if env is not None else None, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                start_new_session=True, preexec_fn=_die_with_parent() if die_with_parent else None,
            )  # fmt: skip
        except OSError as exc:
            raise InfraError(f"cannot start {name} ({self.args[0]}): {exc.strerror or exc}") from None
        self._record: Path | None = record(self.proc.pid, run_id, kind=kind, name=name)
        self._token: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> Group:
        try:
            self._token = register(self.stop)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self._token is not None:
            unregister(self._token)

    def supervise(self, timeout_s: float) -> bool:
        """Wait for the child to end; True when ``timeout_s`` passed first. ``RunInterrupted``
        when the run is stopped meanwhile."""
        return supervise(lambda t: waited(self.proc, t), time.monotonic() + timeout_s)

    def stop(self) -> None:
        if self.proc.poll() is None and self.grace_s:
            kill_group(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(self.grace_s)
        kill_group(self.proc.pid)  # whatever it started, too
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(max(self.grace_s, STOP_GRACE_S))
        if self._record is not None:
            self._record.unlink(missing_ok=True)
            self._record = None


class Process:
    """A long-lived child of the cluster check (etcd, kube-apiserver, a controller): a ``Group``
    with its output in ``log_path``, killed too when the check dies (``PR_SET_PDEATHSIG``, where
    Linux has it), and its peak memory."""

    def __init__(
        self, name: str, args: Sequence[str], *, log_path: Path, run_id: str, env: Mapping[str, str] | None = None, kind: str = "cluster"
    ) -> None:
        self.kind = kind
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self.run_id = run_id
        self.env = dict(env) if env is not None else None
        self.group: Group | None = None
        self.peak_rss = 0  # bytes, as last seen (at the latest, when it was stopped)

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.group = Group(
                self.args, name=self.name, run_id=self.run_id, kind=self.kind, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                grace_s=STOP_GRACE_S, die_with_parent=True,
            )  # fmt: skip
        return self

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.group.proc if self.group is not None else None

    @property
    def pid(self) -> int:
        if self.group is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.group.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def tail(self, lines: int = 15) -> str:
        """The last lines of the process's output, for a message."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 64 * 1024))
                kept = collections.deque(log.read().decode("utf-8", "replace").splitlines(), maxlen=lines)
        except OSError:
            return ""
        return "\n".join(kept)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM to the whole group, SIGKILL after ``grace_s``; idempotent."""
        if self.group is None:
            return
        self.current_peak_rss()
        self.group.grace_s = grace_s
        self.group.stop()

    def current_peak_rss(self) -> int:
        """The most memory the process has had resident (VmHWM), in bytes; 0 when unknown."""
        if self.alive():
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
                self.peak_rss = max(self.peak_rss, next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:")))
            except (OSError, StopIteration, ValueError, IndexError):
                pass
        return self.peak_rss

    def why_not(self, what: str) -> str:
        """One message: ``what`` did not happen, with the process's state and last log lines."""
        code = self.exit_code()
        state = "still running" if code is None else f"exited with code {code}"
        tail = self.tail()
        return f"{what}: {self.name} {state}; its log ({self.log_path}) ends with:\n{tail}" if tail else f"{what}: {self.name} {state}"


def wait_until(check: Callable[[], bool], deadline: float, process: Process, what: str, *, poll_s: float = 0.05) -> None:
    """Poll ``check`` until it is true; ``InfraError`` naming ``what`` when ``process`` exits or
    the deadline passes first."""
    while True:
        if check():
            return
        if not process.alive():
            raise InfraError(process.why_not(f"{what} never happened"))
        if time.monotonic() > deadline:
            raise InfraError(process.why_not(f"{what} did not happen in time"))
        time.sleep(poll_s)


def _die_with_parent() -> Callable[[], None] | None:
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return None
    try:
        prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return set_parent_death_signal


def output(command: list[str], *, cwd: Path, env: dict[str, str], doing: str, kind: str, timeout_s: float, hint: str = "") -> str:
    """Run ``command`` in a group of its own (killed on timeout or interruption) and return its
    stdout; ``InfraError`` naming ``doing``, the last line it printed on stderr, and ``hint``."""
    ui.debug(f"{' '.join(command)} in {cwd}")
    with tempfile.TemporaryFile() as stderr:
        with Group(command, name=Path(command[0]).name, run_id=doing, kind=kind, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr) as group:
            try:
                stdout, _ = group.proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise InfraError(f"{doing} took longer than {timeout_s / 60:g} minutes{hint and '; '}{hint}") from None
        if group.proc.returncode != 0:
            stderr.seek(0)
            lines = [line.strip() for line in stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
            raise InfraError(f"{doing} failed: {lines[-1] if lines else f'exit code {group.proc.returncode}'}{hint and '; '}{hint}")
    return stdout.decode("utf-8", "replace")
