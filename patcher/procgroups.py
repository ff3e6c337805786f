"""Process groups that must not outlive the run that started them.

A run starts each child in a new session (its own process group: a terminal's Ctrl-C reaches
only argo-patcher) and kills the whole group when it is done, on errors and on interruption. A
run that is killed itself cannot, so each group is recorded in ``<cache root>/runs/`` while it
runs, with the process that owns it; the next run kills the groups whose owner is gone
(``reap_orphans``). Used by the local Go runner (``local-*`` records) and the cluster check's
control planes (``cluster-*``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

from patcher import processes, settings, ui


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
    entry = {"owner": processes.owner(), "pgid": pgid, "started": processes.start_time(pgid), "run_id": run_id, **extra}
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
        if processes.owner_alive(owner) is not False:
            continue
        started = str(entry.get("started", ""))
        # A recycled process id is another program's: only the very process that was recorded is killed.
        if started and processes.start_time(pgid) == started:
            name = entry.get("name") or what
            ui.debug(f"killing {name} (process group {pgid}), left by run {entry.get('run_id', '?')} that did not finish")
            kill_group(pgid)
            killed.append(pgid)
        path.unlink(missing_ok=True)
    return killed
