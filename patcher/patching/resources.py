"""Where argo-patcher's data directories are: in an installed wheel or in the source tree."""

from __future__ import annotations

from pathlib import Path

from patcher.errors import PatcherError

TEMPLATES = "templates"
GO_FIXTURES = "go-fixtures"


def data_dir(name: str) -> Path:
    """``templates`` or ``go-fixtures``: ``patcher/_data/<name>`` in a wheel, ``<name>`` at the source root."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_data" / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise PatcherError(f"argo-patcher's {name} directory is missing; reinstall argo-patcher")
