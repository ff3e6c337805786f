"""The node's images, built here and imported into its containerd with no registry.

Four images run on the node (``--cluster=node``): the release's patched (or unpatched)
``workflow-controller``, laid out as ``delivery.controllerimage`` lays out the image ``patcher
build`` makes; the release's ``argoexec`` built from the same tree (``/bin/argoexec``, on PATH,
as upstream's image has it: the init container copies it into the pods' shared volume); and two
small ones made of one static program of ours (``nodeimage/``, Go, standard library only): the
pod sandbox's ``pause`` and the contract's main container (``argoproj/argosay:v2``, the image the
cases name, ``/argosay``).

Each is written as a docker-archive (``docker save``'s format: one layer, its config and a
``manifest.json`` naming the tag), which ``ctr -n k8s.io images import`` reads. One layer and no
history need nothing more than ``tarfile`` and ``hashlib``; the multi-platform index of
``patcher build`` (go-containerregistry, ``delivery.ociimage``) is not needed on one node.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from patcher import locks, selfcode, settings, ui
from patcher.delivery import controllerimage
from patcher.errors import InfraError
from patcher.runners import images

SOURCE_PATH = "patcher/cluster/nodeimage"  # in argo-patcher's code (``selfcode``)
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
MAIN_IMAGE = "docker.io/argoproj/argosay:v2"  # the image the contract's cases name (harness.cases.IMAGE)
CONTROLLER_REPOSITORY = "localhost/argo-patcher/workflow-controller"
EXECUTOR_REPOSITORY = "localhost/argo-patcher/argoexec"
BUILD_TIMEOUT_S = 10 * 60
ARGOEXEC_PACKAGE = "./cmd/argoexec"


def source() -> Path:
    """The main container's program as this process read it at its start (``selfcode``)."""
    return selfcode.path(SOURCE_PATH)


@dataclasses.dataclass(frozen=True)
class Archive:
    """A docker-archive of one image, and the name it is imported as."""

    path: Path
    name: str


def write_archive(path: Path, name: str, rootfs: bytes, config: dict[str, Any]) -> Archive:
    """A docker-archive at ``path`` of one image: ``rootfs`` (an uncompressed tar) as its only
    layer, ``config`` (an image config's ``config``: Entrypoint, Env, User, ...) as how it runs."""
    diff_id = "sha256:" + hashlib.sha256(rootfs).hexdigest()
    image_config = {
        "architecture": _goarch(),
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "argo-patcher --cluster=node"}],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = f"{diff_id.split(':', 1)[1]}/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [name], "Layers": [layer_name]}]
    with tarfile.open(path, "w") as tar:
        images.add_bytes(tar, config_name, config_bytes, 0o644)
        images.add_bytes(tar, layer_name, rootfs, 0o644)
        images.add_bytes(tar, "manifest.json", json.dumps(manifest).encode(), 0o644)
    return Archive(path, name)


def _goarch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _rootfs(files: dict[str, tuple[bytes, int]], *, dirs: tuple[tuple[str, int], ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        made: set[str] = set()
        for directory, mode in dirs:
            images.add_dir(tar, directory, mode)
            made.add(directory)
        for name, (data, mode) in sorted(files.items()):
            parent = os.path.dirname(name)
            if parent and parent not in made:
                images.add_dir(tar, parent, 0o755)
                made.add(parent)
            images.add_bytes(tar, name, data, mode)
    return buffer.getvalue()


def controller_archive(directory: Path, binary: Path, role: str) -> Archive:
    """The workflow-controller image of ``binary``, as ``patcher build`` lays it out."""
    rootfs = directory / f"controller-{role}.rootfs.tar"
    controllerimage.write_rootfs(rootfs, binary)
    config = {"Entrypoint": [f"/{controllerimage.BINARY}"], "User": f"{controllerimage.USER_UID}:{controllerimage.USER_UID}",
              "Env": [f"PATH=/bin:{controllerimage.PATH}"], "WorkingDir": "/"}  # fmt: skip
    return write_archive(directory / f"controller-{role}.tar", f"{CONTROLLER_REPOSITORY}:{role}", rootfs.read_bytes(), config)


def executor_archive(directory: Path, binary: Path, role: str) -> Archive:
    """The argoexec image of ``binary``: ``/bin/argoexec`` on PATH, CA certificates, a /tmp."""
    files = {"bin/argoexec": (binary.read_bytes(), 0o755), "etc/ssl/certs/ca-certificates.crt": (images.ca_bundle(), 0o644),
             "etc/passwd": (b"root:x:0:0:root:/root:/sbin/nologin\n", 0o644), "etc/nsswitch.conf": (b"hosts: files dns\n", 0o644)}  # fmt: skip
    config = {"Entrypoint": ["argoexec"], "Env": ["PATH=/bin:/usr/bin"], "WorkingDir": "/"}
    rootfs = _rootfs(files, dirs=(("tmp", 0o1777),))
    return write_archive(directory / f"argoexec-{role}.tar", f"{EXECUTOR_REPOSITORY}:{role}", rootfs, config)


def small_archives(directory: Path, program: Path) -> list[Archive]:
    """The pause image and the main container's, both of ``program`` (``nodeimage``)."""
    data = program.read_bytes()
    pause = write_archive(directory / "pause.tar", PAUSE_IMAGE, _rootfs({"pause": (data, 0o755)}), {"Entrypoint": ["/pause"]})
    main_rootfs = _rootfs({"argosay": (data, 0o755)}, dirs=(("tmp", 0o1777),))
    main = write_archive(directory / "main.tar", MAIN_IMAGE, main_rootfs, {"Entrypoint": ["/argosay"], "Env": ["PATH=/"]})
    return [pause, main]


def program() -> Path:
    """``nodeimage`` built once per version of its source with the local Go, into the cache."""
    digest = hashlib.sha256(b"".join((source() / name).read_bytes() for name in ("go.mod", "main.go"))).hexdigest()[:12]
    target = settings.cache_root() / "tools" / f"nodeimage-{digest}"
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        raise InfraError("no Go on PATH to build the node's pause and main-container program (patcher/cluster/nodeimage)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with locks.lock(f"tool-{target.name}", timeout=BUILD_TIMEOUT_S):
        if target.exists():
            return target
        ui.info("building the node's pause and main-container program (once)")
        with tempfile.TemporaryDirectory(prefix="argo-patcher-nodeimage-", dir=target.parent) as scratch:
            out = Path(scratch, "nodeimage")
            env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local", "GOPROXY": "off",
                   "GOCACHE": str(Path(scratch, "gocache"))}  # standard library only: nothing worth keeping
            done = subprocess.run([go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(out), "."], cwd=source(), env=env,
                                  capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)  # fmt: skip
            if done.returncode != 0:
                raise InfraError(f"building patcher/cluster/nodeimage failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
            os.replace(out, target)
    return target
