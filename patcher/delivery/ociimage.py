"""Multi-platform images: an image per platform, their image index, an OCI image layout of it,
and pushing it to a registry, all by go-containerregistry through our helper ``ocitool/`` (Go).

The helper is built from its source by the runner's Go (the docker runner's image or the local
Go), once per version of its source, into argo-patcher's cache (``<cache root>/tools``); its
modules come from the Go module proxy the first time, like a release's. What Python gives it is
each platform's root file system as a tar and the image's run configuration; go-containerregistry
makes the layers, configs, manifests, the index and the layout, and checks them by reading the
layout back. Pushes authenticate as ``docker login`` does (the Docker config and its credential
helpers); a registry on loopback is spoken to over plain HTTP, any other over HTTPS.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patcher import locks, runners, selfcode, settings, ui
from patcher.delivery.imageref import ImageRef
from patcher.delivery.platforms import Platform
from patcher.errors import InfraError
from patcher.options import ProveOptions
from patcher.runners.base import BuildFailed

SOURCE_PATH = "patcher/delivery/ocitool"  # in argo-patcher's code (``selfcode``)
PACKAGE = "argo-patcher.invalid/ocitool"  # its go.mod's module: the package go build is given
BUILD_TIMEOUT_S = 10 * 60
RUN_TIMEOUT_S = 10 * 60
CREATED_BY = "argo-patcher build"


@functools.cache
def tool_name() -> str:
    """One name per version of the helper's source, so a change builds it anew."""
    return f"ocitool-{selfcode.digest(*(f'{SOURCE_PATH}/{name}' for name in ('go.mod', 'go.sum', 'main.go')))}"


def source() -> Path:
    """The helper's source as this process read it at its start (``selfcode``): what is built."""
    return selfcode.path(SOURCE_PATH)


def tools_dir() -> Path:
    return settings.cache_root() / "tools"


def tool(options: ProveOptions) -> Path:
    """The helper, built first when the cache lacks this version of it."""
    path = tools_dir() / tool_name()
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with locks.lock(f"tool-{path.name}", timeout=BUILD_TIMEOUT_S):
        if path.exists():
            return path
        runner = runners.prepare(source(), runner=options.runner, image=options.image, offline=options.offline, context="argo-patcher's image helper")
        ui.info(f"building argo-patcher's image helper (go-containerregistry; once, {runner.describe()})")
        with tempfile.TemporaryDirectory(prefix="argo-patcher-ocitool-", dir=path.parent) as scratch:
            try:
                built = runner.build_binary(
                    source(), PACKAGE, Path(scratch), ldflags="-s -w", timeout_s=BUILD_TIMEOUT_S, run_id=f"ocitool-{os.getpid()}"
                )
            except BuildFailed as exc:
                if "GOPROXY=off" in str(exc):
                    raise InfraError(
                        "cannot build argo-patcher's image helper: the Go module cache lacks go-containerregistry "
                        "and --offline forbids downloading it; run once without --offline"
                    ) from None
                raise InfraError(f"cannot build argo-patcher's image helper: {str(exc).splitlines()[0]}") from None
            os.replace(built, path)
    return path


@dataclasses.dataclass(frozen=True)
class PlatformImage:
    """One platform's image: its root file system (a tar) and how it runs (an image config's ``config``)."""

    platform: Platform
    rootfs: Path
    config: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Layout:
    """An OCI image layout holding one image index, and what the index holds."""

    path: Path
    index_digest: str
    manifests: dict[str, str]  # platform -> its image manifest's digest
    configs: dict[str, str]  # platform -> its config's digest, which Docker shows as the image id


def write_layout(
    helper: Path, path: Path, *, name: ImageRef, created: str, images: Sequence[PlatformImage],
    docker_archive: tuple[Platform, Path] | None = None,
) -> Layout:  # fmt: skip
    """Write the index of ``images`` as an OCI layout at ``path`` (new or empty), named ``name``;
    with ``docker_archive``, also that platform's image as a docker-archive for ``docker load``."""
    spec: dict[str, Any] = {
        "layout": str(path),
        "name": str(name),
        "created": created,
        "created_by": CREATED_BY,
        "images": [{"platform": str(i.platform), "layer": str(i.rootfs), "config": i.config} for i in images],
    }
    if docker_archive is not None:
        platform, archive = docker_archive
        spec["docker_archive"] = {"platform": str(platform), "path": str(archive), "tag": str(name)}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="argo-patcher-ocitool-") as spec_file:
        json.dump(spec, spec_file)
        spec_file.flush()
        written = _run(helper, ["layout", spec_file.name], f"writing the image index of {name}")
    images_out = written.get("images") or []
    return Layout(
        path,
        str(written["index"]),
        {str(i["platform"]): str(i["manifest"]) for i in images_out},
        {str(i["platform"]): str(i["config"]) for i in images_out},
    )


def push(helper: Path, layout: Path, ref: ImageRef) -> str:
    """Push the layout's index (every platform's image with it) to ``ref``; the digest the
    registry then serves under that name, read back from it."""
    pushed = _run(helper, ["push", str(layout), str(ref)], f"pushing {ref}")
    return str(pushed["digest"])


def _run(helper: Path, args: list[str], doing: str) -> dict[str, Any]:
    ui.debug(f"{helper} {' '.join(args)}")
    try:
        done = subprocess.run([str(helper), *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InfraError(f"{doing} took longer than {RUN_TIMEOUT_S // 60} minutes") from None
    except OSError as exc:
        raise InfraError(f"cannot run argo-patcher's image helper {helper}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1].removeprefix("ocitool: ") if lines else f"exit code {done.returncode}"
        raise InfraError(f"{doing} failed: {why}")
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise InfraError(f"{doing}: the image helper said something unexpected: {done.stdout.strip()[:200]!r}") from None
    if not isinstance(result, dict):
        raise InfraError(f"{doing}: the image helper said something unexpected: {done.stdout.strip()[:200]!r}")
    return result

