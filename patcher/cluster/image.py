"""The image the container mode runs the check in: argo-patcher's own image, never stale.

It is what ``patcher image build --self`` makes (the Go image plus this machine's Python,
argo-patcher and its dependencies; see ``selfimage``), from the code this process pinned at its
start, tagged and labelled with that code's fingerprint (``selfcode``). When argo-patcher's code
changes (an editable install, an upgrade), the next run's fingerprint differs and it builds its
own image rather than running old code; a run already going keeps running the image of its own
code, whatever was edited since. Building takes seconds and needs no registry.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import docker.errors

from patcher import locks, selfcode, ui
from patcher.delivery import selfimage
from patcher.errors import InfraError
from patcher.runners import engine, hostgo, images

REPOSITORY = "argo-patcher/cluster-check"
LABEL_FINGERPRINT = "argo-patcher.fingerprint"
LOCK_TIMEOUT_S = 600


@functools.cache
def fingerprint() -> str:
    """The fingerprint of what the image carries: this process's code (``selfcode``) and libraries."""
    return selfcode.with_libraries()


def tag() -> str:
    return f"{REPOSITORY}:{fingerprint()}"


def ensure(goroot: Path | None = None) -> str:
    """The image of this process's code, built first when missing."""
    wanted, ref = fingerprint(), tag()
    docker_client = engine.client(images.BUILD_TIMEOUT_S)
    with locks.lock("cluster-check-image", timeout=LOCK_TIMEOUT_S):
        if _fingerprint_of(docker_client, ref) == wanted:
            return ref
        ui.info(f"building {ref} (argo-patcher's code is not in an image yet; it takes seconds)")
        _build(docker_client, goroot, wanted)
    return ref


def base_image(goroot: Path | None = None) -> images.GoImage:
    """What the image is made on: one of argo-patcher's Go images of the local Go, or, where this
    machine has no Go (Docker alone), a Go image that is here already (the check runs Python and
    the static binaries only, not Go): argo-patcher's own first, else an official one."""
    if goroot is not None or hostgo.find() is not None:
        return images.build(goroot, quiet=True)
    found = sorted(images.list_images(), key=lambda i: (not i.built, -(i.go.minor if i.go else 0), i.ref))
    if not found:
        raise InfraError(
            f"no Go on PATH and no Go image here to make {tag()} on; pull one (docker pull golang), or install Go"
        )
    ui.debug(f"making {tag()} on {found[0].describe()} (no Go on this machine)")
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
    selfimage.build_image(docker_client, tag(), dockerfile)
    _remove_others(docker_client, wanted)


def _remove_others(docker_client: Any, wanted: str) -> None:
    """The check images of other code: those a run still uses stay (Docker refuses), the rest go."""
    with engine.errors_as_infra("listing the check images"):
        others = [image for image in docker_client.images.list(REPOSITORY) if (image.labels or {}).get(LABEL_FINGERPRINT) != wanted]
    for image in others:
        for ref in image.tags:
            try:
                docker_client.images.remove(ref, noprune=False)
            except engine.DockerError as exc:
                ui.debug(f"kept the check image {ref}: {engine.reason(exc)}")

