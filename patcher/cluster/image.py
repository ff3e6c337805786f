"""The image the container mode runs the check in: argo-patcher's own image, never stale.

It is what ``patcher image build --self`` makes (the Go image plus this machine's Python,
argo-patcher and its dependencies; see ``selfimage``), labelled with a fingerprint of the
installed files it was made from. When argo-patcher's code changes (an editable install, an
upgrade), the fingerprint changes and the next check rebuilds the image rather than running old
code. Building takes seconds and needs no registry.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import docker.errors

from patcher import locks, ui
from patcher.delivery import selfimage
from patcher.errors import InfraError
from patcher.runners import engine, hostgo, images

TAG = "argo-patcher/cluster-check:latest"
LABEL_FINGERPRINT = "argo-patcher.fingerprint"
LOCK_TIMEOUT_S = 600


def fingerprint() -> str:
    """A hash of the files the image would carry (path, size, modification time) and the Python."""
    digest = hashlib.sha256(f"{sys.version}\n{Path(sys.executable).resolve()}\n".encode())
    for source, target in sorted(selfimage.package_files(), key=lambda pair: pair[1]):
        try:
            stat = source.stat()
        except OSError:
            continue
        digest.update(f"{target}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def ensure(goroot: Path | None = None) -> str:
    """The image's reference, built first when missing or made from other files than these."""
    wanted = fingerprint()
    docker_client = engine.client(images.BUILD_TIMEOUT_S)
    with locks.lock("cluster-check-image", timeout=LOCK_TIMEOUT_S):
        current = _fingerprint_of(docker_client, TAG)
        if current == wanted:
            return TAG
        ui.info(f"building {TAG} (argo-patcher's code {'changed' if current else 'is not in an image yet'}; it takes seconds)")
        _build(docker_client, goroot, wanted)
    return TAG


def base_image(goroot: Path | None = None) -> images.GoImage:
    """What the image is made on: one of argo-patcher's Go images of the local Go, or, where this
    machine has no Go (Docker alone), a Go image that is here already (the check runs Python and
    the static binaries only, not Go): argo-patcher's own first, else an official one."""
    if goroot is not None or hostgo.find() is not None:
        return images.build(goroot, quiet=True)
    found = sorted(images.list_images(), key=lambda i: (not i.built, -(i.go.minor if i.go else 0), i.ref))
    if not found:
        raise InfraError(
            f"no Go on PATH and no Go image here to make {TAG} on; pull one (docker pull golang), or install Go"
        )
    ui.debug(f"making {TAG} on {found[0].describe()} (no Go on this machine)")
    return found[0]


def _fingerprint_of(docker_client: object, tag: str) -> str:
    try:
        image = docker_client.images.get(tag)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        return ""
    except engine.DockerError as exc:
        raise InfraError(f"cannot inspect the image {tag}: {engine.reason(exc)}") from None
    return str((image.labels or {}).get(LABEL_FINGERPRINT, ""))


def _build(docker_client: object, goroot: Path | None, wanted: str) -> None:
    base = base_image(goroot)
    dockerfile = selfimage.dockerfile(base.id) + f'LABEL {LABEL_FINGERPRINT}="{wanted}"\n'
    selfimage.build_image(docker_client, TAG, dockerfile)
    with engine.errors_as_infra("removing the stale check images"):
        docker_client.images.prune(filters={"dangling": True, "label": f"{LABEL_FINGERPRINT}"})  # type: ignore[attr-defined]

