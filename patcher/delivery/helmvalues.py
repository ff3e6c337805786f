"""Values for the argo-workflows Helm chart (argo-helm) that run the patched controller.

The chart renders the controller's image as ``REGISTRY/REPOSITORY:TAG`` from
``controller.image.{registry,repository,tag}`` and has no digest key; a tag of the form
``TAG@sha256:<hex>`` is how it takes one (supported since chart 0.22.1, which strips the digest
from its version label). ``images.tag`` is the executor's and argo-server's tag: left unset, they
would be the chart's own appVersion rather than the release the controller is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from patcher.delivery.imageref import ImageRef

DOCKER_HUB = "docker.io"

HEADER = """\
# Helm values for the argo-workflows chart: the workflow-controller of {release} that argo-patcher
# built, by digest. Check it against a cluster, then install or upgrade:
#   helm upgrade --install argo-workflows argo/argo-workflows -n argo --create-namespace -f {where} --dry-run=server
#   helm upgrade --install argo-workflows argo/argo-workflows -n argo --create-namespace -f {where}
"""


def values(*, image: ImageRef, digest: str, release: str, version_tag: bool) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if version_tag:
        document["images"] = {"tag": release}
    document["controller"] = {
        "image": {"registry": image.registry or DOCKER_HUB, "repository": image.repository, "tag": f"{image.tag or release}@{digest}"}
    }
    return document


def rendered_image(document: dict[str, Any]) -> str:
    """The controller's image as the chart's template renders it from these values."""
    image = document["controller"]["image"]
    return f"{image['registry']}/{image['repository']}:{image['tag']}" if image.get("registry") else f"{image['repository']}:{image['tag']}"


def write(path: Path, *, image: ImageRef, digest: str, release: str, version_tag: bool) -> Path:
    document = values(image=image, digest=digest, release=release, version_tag=version_tag)
    path.write_text(HEADER.format(release=release, where=path) + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
