"""The results of runs whose every input is known, kept so that the same run need not go again.

``go test`` keeps a passing package's result and replays it while nothing the test depends on
changes; but it never keeps a failing one, and a baseline fails by design (it is what a release
does unpatched), so a matrix run again with nothing changed would still link and run every
baseline. Here a run's result is kept under a key made of everything its outcome depends on: the
commit, the files the patch writes, the harness, the packages and test selection, the timeout and
reruns, the Go toolchain (an image's id, or a local Go's version and place), and what judged the
result: the fingerprint of argo-patcher's own code, templates and libraries as the run read them
at its start (``selfcode``), so that a change to how results are parsed or judged never replays a
result the old code judged. Only runs that got as far as their tests are kept. A kept result that
cannot be read (a torn or edited file) is said once, removed, and the run goes again. A result from here says so
(``RunResult.cached``) in every report; ``--fresh`` runs everything again, as ``go test -count=1``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from patcher import selfcode, settings, ui

FORMAT = 2  # bump when what a key covers or how a result is stored changes


def key(
    *,
    commit: str,
    files: Mapping[str, bytes],
    harness: str,
    packages: Sequence[str],
    run_regex: str | None,
    timeout_s: float,
    rerun_fails: int,
    toolchain: str,
    flags: Sequence[str],
) -> str:
    """The key of a run of the tree ``commit`` with ``files`` written over it (the patch's, and the
    harness at its place); ``flags`` are the go command's own (``gotest.COMPILE_FLAGS``)."""
    digest = hashlib.sha256()
    for part in (f"format {FORMAT}", f"argo-patcher {selfcode.fingerprint()}", f"commit {commit}", f"toolchain {toolchain}",
                 f"flags {' '.join(flags)}", f"packages {' '.join(packages)}", f"run {run_regex or ''}",
                 f"timeout {timeout_s:g}", f"reruns {rerun_fails}"):  # fmt: skip
        digest.update(part.encode() + b"\0")
    for name in sorted(files):
        digest.update(f"file {name} {hashlib.sha256(files[name]).hexdigest()}".encode() + b"\0")
    digest.update(hashlib.sha256(harness.encode()).hexdigest().encode())
    return digest.hexdigest()


def _path(run_key: str) -> Path:
    return settings.cache_root() / "results" / run_key[:2] / f"{run_key}.json"


def load(run_key: str) -> dict[str, Any] | None:
    """The kept result of the run ``run_key`` names, as it was stored; None when there is none,
    or when it cannot be read (said, and the file removed: the run goes again)."""
    path = _path(run_key)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        discard(path, f"{type(exc).__name__}: {exc}")
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        discard(path, f"not JSON ({exc})")
        return None
    if not isinstance(data, dict):
        discard(path, f"a JSON {type(data).__name__}, not an object")
        return None
    return data


def discard(path: Path, why: str) -> None:
    """Say that a kept result is unusable and remove it, so that its run goes again."""
    ui.warn(f"ignored the kept result {path}: {why}; the run goes again")
    try:
        path.unlink()
    except OSError as exc:
        ui.debug(f"could not remove {path}: {exc}")


def path_of(run_key: str) -> Path:
    return _path(run_key)


def store(run_key: str, result: Mapping[str, Any]) -> None:
    """Keep ``result`` (a run's JSON) for the run ``run_key`` names."""
    path = _path(run_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f"{path.name}.{os.getpid()}")
    staged.write_text(json.dumps(result), encoding="utf-8")
    staged.replace(path)
