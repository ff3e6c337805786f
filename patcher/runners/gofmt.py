"""gofmt, to refuse Go code argo-patcher renders that gofmt would lay out otherwise.

The patch plan and the harness take the check as a function (``patching.patch.FormatCheck``):
they come before this stage, which owns where Go runs. gofmt is the local Go's; where this
machine has no Go, the one in the Go image the tree's tests would run in (every Go image has
gofmt), in a short container with no network. With neither, the check is skipped, and said so.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docker.types import Mount

from patcher import ui
from patcher.errors import InfraError, PatchError
from patcher.patching import gomod
from patcher.runners import engine, gotest, hostgo, images

FormatCheck = Callable[[bytes, str], None]
_SOURCE = "/src"
_checked: set[tuple[str, str]] = set()  # (image id, content digest) that gofmt left as they were
_checked_lock = threading.Lock()


def binary() -> Path | None:
    host = hostgo.find()
    if host is None:
        return None
    found = host.goroot / "bin" / "gofmt"
    return found if found.is_file() else None


def check(content: bytes, name: str) -> None:
    """Refuse Go code that gofmt would change: with the local gofmt, else in a Go image that is
    here (the newest), else skipped with a warning."""
    gofmt = binary()
    if gofmt is not None:
        _check_output(subprocess.run([os.fspath(gofmt)], input=content, capture_output=True, timeout=60), content, name)
        return
    ok, _why = engine.available()
    if not ok:
        _skipped_once()
        return
    _in_container(_any_image(), [(content, name)])


def for_tree(tree: Path, *, batch: bool = False) -> FormatCheck:
    """The check for code rendered into ``tree``: the local gofmt, else the gofmt of the Go image
    the tree's tests run in (as its go.mod chooses it), else none (said so). ``batch``: in a
    container, gather the files and check them all at once in ``flush`` (one container, not one a
    file); the local gofmt checks each file as it comes either way."""
    if binary() is not None:
        return check
    ok, _why = engine.available()
    if not ok:
        return check  # which says once that it skips
    image: list[images.GoImage] = []

    def image_of() -> images.GoImage:
        if not image:
            image.append(images.choose(gomod.read(Path(tree)), context=f"gofmt of {Path(tree).name}"))
        return image[0]

    if batch:
        return Batch(image_of)
    return lambda content, name: _in_container(image_of(), [(content, name)])


class Batch:
    """gofmt checks gathered, then run in one container by ``flush``, which raises the first
    file's ``PatchError`` in the order they came."""

    def __init__(self, image_of: Callable[[], images.GoImage]) -> None:
        self.image_of = image_of
        self.pending: list[tuple[bytes, str]] = []

    def __call__(self, content: bytes, name: str) -> None:
        self.pending.append((content, name))

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        if pending:
            _in_container(self.image_of(), pending)


def flush(gofmt: FormatCheck) -> None:
    """Run the checks a ``Batch`` gathered (nothing for a check that runs as it goes)."""
    if isinstance(gofmt, Batch):
        gofmt.flush()


def _check_output(proc: subprocess.CompletedProcess[bytes], content: bytes, name: str) -> None:
    # Argo-patcher rendered this code: a fault in it is the patch's own, not the release's.
    if proc.returncode != 0:
        raise PatchError(f"the patched {name} is not valid Go: {gotest.message_lines(proc.stderr.decode(errors='replace'))}")
    if proc.stdout != content:
        raise PatchError(f"the patched {name} is not gofmt-clean")


def _any_image() -> images.GoImage:
    found = sorted((i for i in images.list_images() if i.go is not None), key=lambda i: (i.go, i.built), reverse=True)
    if found:
        return found[0]
    return images.choose(gomod.parse("module argo-patcher.invalid/gofmt\n\ngo 1.21\n"), context="gofmt")


def _in_container(image: images.GoImage, files: list[tuple[bytes, str]]) -> None:
    """gofmt of ``image`` on ``files`` (content, name), in one container with no network and the
    files read-only; the first file gofmt finds invalid or would change is refused."""
    digests = [hashlib.sha256(content).hexdigest() for content, _name in files]
    with _checked_lock:
        todo = [i for i, digest in enumerate(digests) if (image.id, digest) not in _checked]
    if not todo:
        return
    docker_client = engine.client()
    with tempfile.TemporaryDirectory(prefix="argo-patcher-gofmt-") as scratch:
        for i in todo:
            source = Path(scratch, f"{i}.go")
            source.write_bytes(files[i][0])
            source.chmod(0o644)
        Path(scratch).chmod(0o755)
        create: dict[str, Any] = {
            "command": ["gofmt", "-l", *(f"{_SOURCE}/{i}.go" for i in todo)], "user": f"{images.USER_UID}:{images.USER_UID}",
            "network_mode": "none", "mounts": [Mount(_SOURCE, scratch, type="bind", read_only=True)],
            "environment": {"PATH": images.IMAGE_ENV["PATH"]},
        }  # fmt: skip
        with engine.hardened_container(docker_client, image.ref, role="gofmt", run_id=f"gofmt-{os.getpid()}", **create) as container:
            with engine.errors_as_infra(f"running gofmt in {image.ref}"):
                code = int(container.wait(timeout=120).get("StatusCode", -1))
                listed = container.logs(stdout=True, stderr=False).decode(errors="replace")
                stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
    unclean = {line.strip() for line in listed.splitlines() if line.strip()}
    for i in todo:
        path = f"{_SOURCE}/{i}.go"
        invalid = [line.removeprefix(f"{path}:") for line in stderr.splitlines() if line.startswith(f"{path}:")]
        name = files[i][1]
        if invalid:
            raise PatchError(f"the patched {name} is not valid Go: {gotest.message_lines(chr(10).join(invalid))}")
        if path in unclean:
            raise PatchError(f"the patched {name} is not gofmt-clean")
    if code != 0:
        raise InfraError(f"gofmt in {image.ref} failed (exit code {code}): {gotest.message_lines(stderr) or 'no message'}")
    with _checked_lock:
        _checked.update((image.id, digests[i]) for i in todo)


@functools.cache
def _skipped_once() -> None:
    ui.warn("no Go on PATH and no Docker daemon: the patch's gofmt check is skipped (install Go or start Docker to have it)")
