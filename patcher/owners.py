"""Whether a process still runs, and how argo-patcher names its own processes as owners.

A killed run cannot clean up after itself; the next run removes what it left (containers,
process groups, run directories) once it knows the owner is gone. A process id alone is not
enough, since ids are reused: an owner is named by host, process id and start time.
"""

from __future__ import annotations

import functools
import os
import socket


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_time(pid: int) -> str:
    """The start time of process ``pid`` (clock ticks since boot), or "" where /proc is absent."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


@functools.lru_cache(maxsize=1)
def _owner_for(pid: int) -> str:
    return f"{socket.gethostname()}/{pid}/{start_time(pid)}"


def owner() -> str:
    """This process, named as an owner: host, process id and start time."""
    return _owner_for(os.getpid())


def owner_alive(value: str) -> bool | None:
    """Whether the process an owner names still runs; None when it is on another host."""
    try:
        host, pid_text, started = value.rsplit("/", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return None
    return alive(pid) and (not started or start_time(pid) in ("", started))
