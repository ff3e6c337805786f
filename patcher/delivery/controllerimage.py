"""What operators deploy: a release's patched ``workflow-controller`` and an image of it.

The binary is built as the release's Makefile builds it (``cluster.controller``: its LDFLAGS
version stamp, CGO off, static), from the patched tree recorded as a commit, so that the
controller's version says the release and its git commit says the backport. The image is laid
out as upstream's own controller image (distroless): ``/bin/workflow-controller`` as the
entrypoint, CA certificates, name-service configuration, a writable /tmp, running as upstream's
uid 8737; made ``FROM scratch`` with ``docker import``, so no registry is needed, and labelled with
the release, the commits and a digest of the patch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from patcher import runners, ui
from patcher.delivery import controller, handover
from patcher.errors import InfraError
from patcher.options import ProveOptions
from patcher.run import pipeline
from patcher.runners import engine, images
from patcher.session import Session
from patcher.source.versions import Release

USER_UID = 8737  # upstream's controller image runs as this user
BINARY = "bin/workflow-controller"
REPOSITORY = "argo-patcher/workflow-controller"
LABEL_PREFIX = "io.github.argo-patcher"


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


def build_image(binary: Path, tag: str, provenance: Provenance) -> str:
    """Make the image of ``binary`` under ``tag``; return its id."""
    docker_client = engine.client(images.BUILD_TIMEOUT_S)
    repository, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    with tempfile.TemporaryDirectory(prefix="argo-patcher-controller-image-") as scratch:
        rootfs = Path(scratch, "rootfs.tar")
        with rootfs.open("wb") as f:
            _write_rootfs(f, binary)
        with engine.errors_as_infra(f"making the image {tag}"):
            docker_client.api.import_image_from_file(os.fspath(rootfs), repository=repository, tag=version, changes=image_changes(provenance))
    with engine.errors_as_infra(f"reading the image {tag}"):
        return str(docker_client.images.get(tag).id)


def image_changes(provenance: Provenance) -> list[str]:
    labels = " ".join(f'{key}="{value}"' for key, value in provenance.labels().items())
    return [f"USER {USER_UID}:{USER_UID}", f'ENTRYPOINT ["/{BINARY}"]', "WORKDIR /", f"LABEL {labels}"]


def save(tag: str, path: Path) -> None:
    """``docker save`` of the image, for a cluster with no registry to pull it from (``docker load``)."""
    with engine.errors_as_infra(f"saving the image {tag}"):
        image = engine.client(images.BUILD_TIMEOUT_S).images.get(tag)
        with path.open("wb") as f:
            for chunk in image.save(named=True):
                f.write(chunk)


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




@dataclasses.dataclass(frozen=True)
class Built:
    binary: Path  # where it was built (a temporary directory), or copied to with --output
    tag: str
    image_id: str
    provenance: Provenance


def build(session: Session, release: Release, options: ProveOptions, *, tag: str | None = None, output: Path | None = None) -> Built:
    """Patch ``release``, record the patch as a commit, build its controller with the runner's Go
    and caches, and make the image; with ``output``, also write the binary and the saved image there."""
    tag = tag or default_tag(release.name)
    with session.workspace() as workspace, tempfile.TemporaryDirectory(prefix="argo-patcher-controller-") as scratch:
        prepared = pipeline.prepare(workspace, release)
        tree = prepared.checkout.path
        if prepared.plan.already_patched:
            ui.info(f"{release} already carries the precedence fix; building it as it is")
        prepared.change.apply()
        patch_text = handover.diff(tree)
        commit = handover.commit(tree, handover.commit_message(release, with_harness=False)) if patch_text else prepared.checkout.commit
        runner = runners.prepare(tree, runner=options.runner, image=options.image, offline=options.offline, context=release.name)
        ui.info(f"building the patched workflow-controller of {release} ({runner.describe()})")
        run_id = f"{release.name}-build-{os.getpid()}"
        binary = controller.build(runner, tree, Path(scratch), release_tag=release.name, timeout_s=options.timeout_s, run_id=run_id)
        provenance = Provenance(release.name, prepared.checkout.commit, commit, patch_text, session.repo)
        image_id = build_image(binary, tag, provenance)
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
            kept = output / "workflow-controller"
            shutil.copy2(binary, kept)
            save(tag, output / "workflow-controller-image.tar")
            binary = kept
        return Built(binary, tag, image_id, provenance)
