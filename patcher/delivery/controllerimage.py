"""The patched controller's image: what it holds, how it runs and what it says it is.

It is laid out as upstream's own controller image (distroless): ``/bin/workflow-controller`` as
the entrypoint, CA certificates, name-service configuration, a writable /tmp, running as
upstream's uid 8737; made ``FROM scratch`` (``ociimage`` turns each platform's root file system
into an image and the images into an index), so no registry is needed, and labelled with the
release, the commits and a digest of the patch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

from patcher.errors import InfraError
from patcher.runners import engine, images

USER_UID = 8737  # upstream's controller image runs as this user
BINARY = "bin/workflow-controller"
REPOSITORY = "argo-patcher/workflow-controller"
LABEL_PREFIX = "io.github.argo-patcher"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclasses.dataclass(frozen=True)
class Provenance:
    """What the image is of: the release as asked, the commit it was, the backport commit, the patch."""

    release: str
    base_commit: str
    commit: str
    patch: str  # the diff, for its digest
    source: str  # the repository it came from

    @property
    def patch_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.patch.encode()).hexdigest()

    def labels(self) -> dict[str, str]:
        return {
            engine.LABEL: "workflow-controller",
            "org.opencontainers.image.title": "workflow-controller",
            "org.opencontainers.image.description": "Argo Workflows workflow-controller with the podMetadata precedence fix (#12945), built by argo-patcher",
            "org.opencontainers.image.version": self.release,
            "org.opencontainers.image.revision": self.commit,
            "org.opencontainers.image.source": self.source,
            f"{LABEL_PREFIX}.base-commit": self.base_commit,
            f"{LABEL_PREFIX}.patch": self.patch_digest,
        }


def default_tag(release: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in release).strip(".-") or "release"
    return f"{REPOSITORY}:{safe}-fix12945"


def image_config(provenance: Provenance) -> dict[str, Any]:
    """How the image runs (an OCI image config's ``config``), as upstream's does: upstream's
    Deployment runs ``command: [workflow-controller]``, found on PATH."""
    return {
        "Entrypoint": [f"/{BINARY}"],
        "User": f"{USER_UID}:{USER_UID}",
        "Env": [f"PATH={PATH}"],
        "WorkingDir": "/",
        "Labels": provenance.labels(),
    }


def write_rootfs(path: Path, binary: Path) -> Path:
    """The image's whole file system as a tar at ``path``: the binary, CA certificates, users."""
    with path.open("wb") as f:
        _write_rootfs(f, binary)
    return path


def load(archive: Path, tag: str) -> str:
    """``docker load`` of a docker-archive holding the image ``tag``; return the image's id."""
    docker_client = engine.client(images.BUILD_TIMEOUT_S)
    with engine.errors_as_infra(f"loading the image {tag} into Docker"), archive.open("rb") as f:
        docker_client.images.load(f)
    with engine.errors_as_infra(f"reading the image {tag}"):
        return str(docker_client.images.get(tag).id)


def _write_rootfs(fileobj: BinaryIO, binary: Path) -> None:
    try:
        data = binary.read_bytes()
    except OSError as exc:
        raise InfraError(f"cannot read the built controller {binary}: {exc.strerror or exc}") from None
    with tarfile.open(fileobj=fileobj, mode="w|") as tar:
        images.add_dir(tar, "bin", 0o755)
        images.add_bytes(tar, BINARY, data, 0o755, uid=USER_UID)
        images.add_dir(tar, "etc", 0o755)
        images.add_bytes(tar, "etc/passwd", f"root:x:0:0:root:/root:/sbin/nologin\nargo:x:{USER_UID}:{USER_UID}::/home/argo:/sbin/nologin\n".encode())
        images.add_bytes(tar, "etc/group", f"root:x:0:\nargo:x:{USER_UID}:\n".encode())
        images.add_bytes(tar, "etc/nsswitch.conf", b"hosts: files dns\n")
        images.add_dir(tar, "etc/ssl", 0o755)
        images.add_dir(tar, "etc/ssl/certs", 0o755)
        images.add_bytes(tar, "etc/ssl/certs/ca-certificates.crt", images.ca_bundle())
        images.add_dir(tar, "tmp", 0o1777)
        images.add_dir(tar, "home", 0o755)
        images.add_dir(tar, "home/argo", 0o755, uid=USER_UID)
