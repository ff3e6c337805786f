"""Where argo-patcher's data directories are: the templates and Go fixtures this process runs with."""

from __future__ import annotations

from pathlib import Path

from patcher import selfcode
from patcher.errors import PatcherError

TEMPLATES = "templates"
GO_FIXTURES = "go-fixtures"


def data_dir(name: str) -> Path:
    """``templates`` or ``go-fixtures`` as this process read them when it started (``selfcode``:
    ``patcher/_data/<name>`` in a wheel, ``<name>`` at the source root of an editable install),
    so that editing them during a run changes nothing the run renders."""
    pinned = selfcode.path(f"patcher/_data/{name}")
    if not pinned.is_dir():
        raise PatcherError(f"argo-patcher's {name} directory is missing; reinstall argo-patcher")
    return pinned
