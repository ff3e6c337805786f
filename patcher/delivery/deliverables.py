"""``patcher build``: what operators deploy of one release, made in one go.

The release is patched and the patch recorded as a commit, so that the binaries' version stamp
says the release and their git commit the backport. Its ``workflow-controller`` is built for each
platform (``platforms``: upstream's by default), cross-compiled as its Makefile builds it (static,
no cgo); each binary becomes an image and the images one index, an OCI image layout
(``ociimage``), pushed to a registry when asked. The image of this machine's platform goes into
the local Docker engine. An output directory also gets each binary, that image as a
docker-archive, and the deploy manifests that run the index by digest: a kustomize overlay over
the release's own install manifests (``kustomize``) and Helm values (``helmvalues``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

from patcher import runners, ui
from patcher.delivery import controller, controllerimage, handover, helmvalues, kustomize, ociimage, platforms
from patcher.delivery.imageref import ImageRef
from patcher.delivery.platforms import Platform
from patcher.errors import InputError
from patcher.options import ProveOptions
from patcher.run import pipeline
from patcher.session import Session
from patcher.source.versions import Release

LAYOUT_DIR = "oci"
ARCHIVE = "workflow-controller-image.tar"
KUSTOMIZE_DIR = "kustomize"
HELM_VALUES = "helm-values.yaml"


@dataclasses.dataclass(frozen=True)
class Request:
    """What ``patcher build`` is asked for besides the release."""

    tag: str | None = None  # the image's name; default: the pushed name, else default_tag
    output: Path | None = None
    platforms: tuple[Platform, ...] = ()  # empty: those upstream publishes
    push: str | None = None  # REGISTRY/NAME[:TAG]

    def image_names(self, release: str) -> tuple[ImageRef, ImageRef | None]:
        """The image's name (always with a tag) and where to push it (with the same tag unless
        it names one); an ``InputError`` for a malformed one, before any work."""
        push = ImageRef.parse(self.push, what="--push") if self.push else None
        if push is not None and push.digest:
            raise InputError(f"--push {self.push}: name a tag, not a digest (the digest is the index's, known once it is built)")
        name = ImageRef.parse(self.tag, what="--tag") if self.tag else push or ImageRef.parse(controllerimage.default_tag(release))
        if name.digest:
            raise InputError(f"--tag {self.tag}: name a tag, not a digest")
        if not name.tag:
            name = name.with_tag(ImageRef.parse(controllerimage.default_tag(release)).tag)
        if push is not None and not push.tag:
            push = push.with_tag(name.tag)
        return name, push


@dataclasses.dataclass(frozen=True)
class Built:
    tag: str  # the image's name in the local Docker engine
    image_id: str
    loaded: Platform  # the platform of that image
    provenance: controllerimage.Provenance
    platforms: tuple[Platform, ...]
    index_digest: str
    pushed: str  # NAME@DIGEST as the registry serves it, or ""
    files: tuple[Path, ...]  # what the output directory holds


def build(session: Session, release: Release, options: ProveOptions, request: Request) -> Built:
    """Patch ``release``, build its controller for every platform, make the images and their
    index, load this machine's into Docker, push when asked, and write the output directory."""
    name, push = request.image_names(release.name)
    helper = ociimage.tool(options)  # first: a helper that cannot be built fails before the long builds
    with session.workspace() as workspace, tempfile.TemporaryDirectory(prefix="argo-patcher-controller-") as scratch_dir:
        scratch = Path(scratch_dir)
        prepared = pipeline.prepare(workspace, release)
        tree = prepared.checkout.path
        if prepared.plan.already_patched:
            ui.info(f"{release} already carries the precedence fix; building it as it is")
        prepared.change.apply()
        patch_text = handover.diff(tree)
        commit = handover.commit(tree, handover.commit_message(release, with_harness=False)) if patch_text else prepared.checkout.commit
        provenance = controllerimage.Provenance(release.name, prepared.checkout.commit, commit, patch_text, session.repo)
        chosen = platforms.choose(request.platforms, tree, release.name)
        runner = runners.prepare(tree, runner=options.runner, image=options.image, offline=options.offline, context=release.name)
        config = controllerimage.image_config(provenance)
        binaries: dict[Platform, Path] = {}
        images: list[ociimage.PlatformImage] = []
        for platform in chosen:
            ui.info(f"building the patched workflow-controller of {release} for {platform} ({runner.describe()})")
            started = time.monotonic()
            binaries[platform] = binary = controller.build(
                runner, tree, scratch / platform.slug, release_tag=release.name, timeout_s=options.timeout_s,
                run_id=f"{release.name}-build-{platform.slug}-{os.getpid()}", target=platform.go_environment(),
            )  # fmt: skip
            ui.info(f"built the {platform} controller in {time.monotonic() - started:.0f}s")
            images.append(ociimage.PlatformImage(platform, controllerimage.write_rootfs(scratch / f"rootfs-{platform.slug}.tar", binary), config))
        loaded = _platform_to_load(chosen)
        kept = request.output or scratch
        kept.mkdir(parents=True, exist_ok=True)
        layout = ociimage.write_layout(
            helper, kept / LAYOUT_DIR, name=name, created=controller.commit_date(tree), images=images, docker_archive=(loaded, kept / ARCHIVE)
        )
        image_id = controllerimage.load(kept / ARCHIVE, str(name))
        pushed = ""
        if push is not None:
            ui.info(f"pushing {push} ({', '.join(map(str, chosen))})")
            pushed = f"{push.name}@{ociimage.push(helper, layout.path, push)}"
        files: tuple[Path, ...] = ()
        if request.output is not None:
            files = _write_output(request.output, tree, binaries, deployed=push or name, digest=layout.index_digest, release=release)
            if push is None:
                ui.warn(
                    f"the deploy manifests name {name.name}@{layout.index_digest[:19]}..., which no registry serves yet: "
                    f"push it first (patcher build --push, or any tool that pushes an OCI layout: {request.output / LAYOUT_DIR})"
                )
        return Built(str(name), image_id, loaded, provenance, chosen, layout.index_digest, pushed, files)


def _platform_to_load(chosen: tuple[Platform, ...]) -> Platform:
    """This machine's platform, when built; else the first, which runs here only under emulation."""
    here = platforms.host()
    if here in chosen:
        return here
    ui.warn(f"no {here} image was asked for; the local Docker engine gets the {chosen[0]} one, which runs here only under emulation")
    return chosen[0]


def _write_output(
    output: Path, tree: Path, binaries: dict[Platform, Path], *, deployed: ImageRef, digest: str, release: Release
) -> tuple[Path, ...]:  # fmt: skip
    """The binaries, the overlay and the Helm values (the layout and the archive are there already)."""
    written = [output / LAYOUT_DIR, output / ARCHIVE]
    for platform, binary in binaries.items():
        kept = output / f"workflow-controller-{platform.slug}"
        shutil.copy2(binary, kept)
        written.append(kept)
    version_tag = release.version is not None
    overlay = kustomize.write(output / KUSTOMIZE_DIR, tree, image=deployed, digest=digest, release=release.name, version_tag=version_tag)
    if overlay is not None:
        written.append(overlay.parent)
    written.append(helmvalues.write(output / HELM_VALUES, image=deployed, digest=digest, release=release.name, version_tag=version_tag))
    return tuple(written)
