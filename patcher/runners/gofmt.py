"""gofmt, to refuse Go code argo-patcher renders that gofmt would lay out otherwise.

The patch plan and the harness take the check as a function (``patching.patch.FormatCheck``):
they come before this stage, which owns where Go runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from patcher.errors import PatchError
from patcher.runners import gotest, hostgo


def binary() -> Path | None:
    host = hostgo.find()
    if host is None:
        return None
    found = host.goroot / "bin" / "gofmt"
    return found if found.is_file() else None


def check(content: bytes, name: str) -> None:
    """Refuse Go code that gofmt would change; a no-op where Go is not installed."""
    gofmt = binary()
    if gofmt is None:
        return
    proc = subprocess.run([os.fspath(gofmt)], input=content, capture_output=True, timeout=60)
    # Argo-patcher rendered this code: a fault in it is the patch's own, not the release's.
    if proc.returncode != 0:
        raise PatchError(f"the patched {name} is not valid Go: {gotest.message_lines(proc.stderr.decode(errors='replace'))}")
    if proc.stdout != content:
        raise PatchError(f"the patched {name} is not gofmt-clean")
