"""Process groups that must not outlive the run that started them.

A run starts each child in a new session (its own process group: a terminal's Ctrl-C reaches
only argo-patcher) and kills the whole group when it is done, on errors and on interruption. A
run that is killed itself cannot, so each group is recorded in ``<cache root>/runs/`` while it
runs, with the process that owns it; the next run kills the groups whose owner is gone
(``reap_orphans``). Used by the local Go runner (``local-*`` records) and the cluster check's
control planes (``cluster-*``).
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
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from patcher import owners, settings, ui
from patcher.errors import InfraError


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


# -- one child process: its group, its log, its record ---------------------------------------

STOP_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1


class Process:
    """A child in a session of its own, its output in ``log_path``, recorded as ``kind`` while it runs."""

    def __init__(
        self, name: str, args: Sequence[str], *, log_path: Path, run_id: str, env: Mapping[str, str] | None = None, kind: str = "cluster"
    ) -> None:
        self.kind = kind
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self.run_id = run_id
        self.env = dict(env) if env is not None else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0  # bytes, as last seen (at the latest, when it was stopped)
        self._record: Path | None = None

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                self.proc = subprocess.Popen(
                    self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                    start_new_session=True, preexec_fn=_die_with_parent(),
                )  # fmt: skip
            except OSError as exc:
                raise InfraError(f"cannot start {self.name} ({self.args[0]}): {exc.strerror or exc}") from None
        self._record = record(self.proc.pid, self.run_id, kind=self.kind, name=self.name)
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.proc.pid

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
        if self.proc is None:
            return
        self.current_peak_rss()
        if self.proc.poll() is None:
            kill_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        kill_group(self.proc.pid, signal.SIGKILL)  # whatever it started, too
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(grace_s)
        if self._record is not None:
            self._record.unlink(missing_ok=True)
            self._record = None

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
