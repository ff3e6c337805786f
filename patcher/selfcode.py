"""argo-patcher's own code as this process runs it: read once, fingerprinted once, pinned.

A run judges releases with argo-patcher's code (the parsers of ``go test``'s output, the verdicts,
the templates of the fix and the harness) and builds things from it (the cluster check's image
and subprocess, the Go cache program, the image helper). Whatever the run makes from that code
must come from the code the run started with, even when argo-patcher is edited or upgraded while
it runs. So the first use in a process reads every file of argo-patcher once (``snapshot``): the
package, and the templates and Go fixtures (in the repository for an editable install, under
``patcher/_data`` in a wheel). From that one reading come:

* ``fingerprint()``: the hash of what judged a result (those files' contents, argo-patcher's
  version and the Python): part of every result cache key, so that other code never replays
  what this code judged; with the versions of the libraries argo-patcher runs with
  (``with_libraries``, read when an image is made, as the image's layer is), the tag and label
  of the check image;
* ``root()``: that reading written out once per fingerprint under ``<cache root>/code/``, laid out
  as an installed wheel (``patcher/…``, ``patcher/_data/…``): the templates are rendered, the Go
  programs built, the check's subprocess and image made from there, never from the files that
  may have changed since.

Python modules are read when imported, which is at the start of a command, as this reading is.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import patcher
from patcher import __version__, settings

DISTRIBUTION = "argo-patcher"
CODE_DIR = "code"  # under the cache root: one pinned copy per fingerprint
# Where an editable install's data lives in the repository, and where a wheel puts it (pyproject's force-include).
DATA_DIRS = {"templates": "patcher/_data/templates", "go-fixtures": "patcher/_data/go-fixtures"}
_SKIP_PARTS = ("__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    files: dict[str, bytes]  # by their path in an installed tree: "patcher/cli.py", "patcher/_data/templates/x.j2"
    fingerprint: str


def _package() -> Path:
    return Path(patcher.__file__).resolve().parent


def read_files(package: Path | None = None) -> dict[str, bytes]:
    """Every file of argo-patcher at ``package`` (this process's package by default), by its path
    in an installed tree."""
    package = package or _package()
    found: dict[str, bytes] = {}

    def add(root: Path, target: str) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not any(part in _SKIP_PARTS for part in path.relative_to(root).parts) and path.suffix != ".pyc":
                found[f"{target}/{path.relative_to(root).as_posix()}"] = path.read_bytes()

    add(package, "patcher")
    if not (package / "_data").is_dir():  # an editable install: the data is in the repository
        for directory, target in DATA_DIRS.items():
            if (package.parent / directory).is_dir():
                add(package.parent / directory, target)
    return found


def distributions(name: str = DISTRIBUTION) -> list[importlib.metadata.Distribution]:
    """``name`` and every distribution it needs, installed here (``PackageNotFoundError`` for one missing)."""
    from packaging.requirements import Requirement

    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [name]
    while todo:
        wanted = todo.pop()
        key = re.sub(r"[-_.]+", "-", wanted).lower()
        if key in found:
            continue
        dist = importlib.metadata.distribution(wanted)
        found[key] = dist
        for requirement in map(Requirement, dist.requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(found.values())


def libraries() -> tuple[str, ...]:
    """``name==version`` of every library argo-patcher runs with (none when it is not installed)."""
    try:
        dists = distributions()
    except importlib.metadata.PackageNotFoundError:
        return ()  # run from a source tree that is not installed: its files are all there is to say
    return tuple(sorted(f"{dist.metadata['Name']}=={dist.version}" for dist in dists if dist.metadata["Name"] != DISTRIBUTION))


def fingerprint_of(files: dict[str, bytes], libraries: tuple[str, ...] = ()) -> str:
    """The one fingerprint of argo-patcher's code: its files' paths and contents, its version and
    the Python that runs it, and the libraries it runs with when they are given."""
    digest = hashlib.sha256(f"argo-patcher {__version__}\0python {sys.version}\0{Path(sys.executable).resolve()}\0".encode())
    for library in libraries:
        digest.update(f"library {library}\0".encode())
    for name in sorted(files):
        digest.update(f"file {name} {hashlib.sha256(files[name]).hexdigest()}\0".encode())
    return digest.hexdigest()[:16]


@functools.cache
def snapshot() -> Snapshot:
    """argo-patcher's code as this process first read it; the same answer for the whole process."""
    files = read_files()
    return Snapshot(files, fingerprint_of(files))


def fingerprint() -> str:
    """The fingerprint of the code this process runs (read once: see ``snapshot``)."""
    return snapshot().fingerprint


def with_libraries() -> str:
    """The fingerprint of this process's code and of the libraries installed with it now: what an
    image of argo-patcher carries."""
    return fingerprint_of(snapshot().files, libraries())


def digest(*paths: str) -> str:
    """A short hash of some of the pinned files' contents (a Go program's source, say)."""
    files = snapshot().files
    value = hashlib.sha256()
    for path in paths:
        value.update(path.encode() + b"\0" + files.get(path, b"") + b"\0")
    return value.hexdigest()[:12]


def code_dir() -> Path:
    """Where the pinned copies are: one directory per fingerprint."""
    return settings.cache_root() / CODE_DIR


def root() -> Path:
    """This process's code written out as an installed tree (``<root>/patcher/…``), once per
    fingerprint: what the run renders, builds and runs argo-patcher's own code from."""
    return _written(code_dir())


def _written(directory: Path) -> Path:
    """The copy, written again from this process's reading when it is missing (``cache clean --code``)."""
    pinned = snapshot()
    target = directory / pinned.fingerprint
    if not (target / "patcher" / "__init__.py").is_file():
        if target.exists():  # left incomplete by hand: a copy is only ever moved into place whole
            shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{pinned.fingerprint}-", dir=target.parent))
        try:
            for name, content in pinned.files.items():
                written = staged / name
                written.parent.mkdir(parents=True, exist_ok=True)
                written.write_bytes(content)
                written.chmod(0o644)
            for walked, _subdirs, _files in os.walk(staged):
                os.chmod(walked, 0o755)
            try:
                staged.rename(target)
            except OSError:  # another process with the same code wrote it first
                if not (target / "patcher" / "__init__.py").is_file():
                    raise
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return target


def path(name: str) -> Path:
    """A pinned file or directory by its path in an installed tree ("patcher/gocaches/cacheprog")."""
    return root() / name
