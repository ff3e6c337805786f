"""A kustomize overlay over the release's own install manifests, the controller image swapped
for the patched one by digest.

The release's ``manifests/`` (but the quick-start examples) is copied beside the overlay, so that
it renders offline and from exactly the tree the controller was built from; a remote base would
need git and the network when applied, and the commit it names. Upstream's manifests name
``quay.io/argoproj/workflow-controller:latest`` and ``quay.io/argoproj/argocli:latest`` (its
release assets replace ``:latest`` with the version); the overlay sets the controller's name and
digest, and pins argo-server's image to the release when the release is a version tag.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from patcher import ui
from patcher.delivery.imageref import ImageRef
from patcher.errors import InputError

BASE = "cluster-install"  # namespace-install also exists: one namespace only, no cluster roles
UPSTREAM_DIR = "upstream"
LEFT_OUT = ("quick-start*", "README.md")
CONTROLLER_DEPLOYMENT = Path("base", "workflow-controller", "workflow-controller-deployment.yaml")
SERVER_DEPLOYMENT = Path("base", "argo-server", "argo-server-deployment.yaml")
DEFAULT_CONTROLLER_IMAGE = "quay.io/argoproj/workflow-controller"
DEFAULT_SERVER_IMAGE = "quay.io/argoproj/argocli"

HEADER = """\
# The install manifests of {release} ({upstream}/, its manifests/), with the workflow-controller
# image swapped for the one argo-patcher built, by digest. Check it against a cluster, then apply:
#   kubectl create namespace argo
#   kubectl apply --server-side --dry-run=server -k {where}
#   kubectl apply --server-side -k {where}
# (server-side: the CRDs of v4 releases are too large for a client-side apply). For a single
# namespace, make the resource {upstream}/namespace-install.
"""


def write(directory: Path, tree: Path, *, image: ImageRef, digest: str, release: str, version_tag: bool) -> Path | None:
    """Write the overlay into ``directory`` (``kustomization.yaml`` and ``upstream/``) for the
    release checked out at ``tree``; return the kustomization's path, or None (saying so) when
    the tree has no install manifests (a fork without them)."""
    manifests = tree / "manifests"
    if not (manifests / BASE).is_dir():
        ui.warn(f"{release} has no manifests/{BASE}: no kustomize overlay of its install manifests is written")
        return None
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(manifests, directory / UPSTREAM_DIR, ignore=shutil.ignore_patterns(*LEFT_OUT))
    kustomization = directory / "kustomization.yaml"
    header = HEADER.format(release=release, upstream=UPSTREAM_DIR, where=directory)
    document = overlay(manifests, image=image, digest=digest, release=release, version_tag=version_tag)
    kustomization.write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return kustomization


def overlay(manifests: Path, *, image: ImageRef, digest: str, release: str, version_tag: bool) -> dict[str, Any]:
    """The kustomization itself."""
    images: list[dict[str, str]] = [
        {"name": container_image(manifests / CONTROLLER_DEPLOYMENT, DEFAULT_CONTROLLER_IMAGE), "newName": image.name, "digest": digest}
    ]
    if version_tag:
        images.append({"name": container_image(manifests / SERVER_DEPLOYMENT, DEFAULT_SERVER_IMAGE), "newTag": release})
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"{UPSTREAM_DIR}/{BASE}"],
        "images": images,
    }


def container_image(deployment: Path, default: str) -> str:
    """The image name (no tag) of a Deployment's first container, as the release names it."""
    try:
        document = yaml.safe_load(deployment.read_text(encoding="utf-8"))
        return ImageRef.parse(str(document["spec"]["template"]["spec"]["containers"][0]["image"])).name
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, InputError):
        return default
