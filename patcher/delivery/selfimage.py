"""argo-patcher's own image: what each pod of an emitted Argo Workflow runs.

It is one of argo-patcher's Go images (``images.build``, from the local Go) plus one layer with
what this machine runs argo-patcher with: its Python interpreter and standard library,
argo-patcher and its installed dependencies, git with its HTTPS helper and /bin/sh, and every shared library
these load (as ``ldd`` finds them, at the same paths). Nothing is downloaded, so it builds where
no registry answers; the price is that the image carries this machine's Python, so the machine
must be Linux on the Docker engine's CPU architecture (as for the Go images).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import docker.errors

from patcher import __version__, selfcode, ui
from patcher.errors import InfraError
from patcher.runners import engine, images

DEFAULT_TAG = f"argo-patcher:{__version__}"  # what emitted Workflows run unless told otherwise
PYTHON_HOME = "/opt/python"
LAUNCHER = "/usr/local/bin/patcher"
DISTRIBUTION = "argo-patcher"
GIT_TEMPLATES = "/usr/share/git-core/templates"
# Parts of the standard library argo-patcher never imports: tests, GUIs, installers.
_STDLIB_SKIP = ("site-packages", "dist-packages", "test", "idlelib", "tkinter", "_tkinter", "turtledemo", "ensurepip", "lib2to3", "config-")
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


def build(goroot: Path | None = None, tag: str | None = None, *, rebuild: bool = False) -> str:
    """Build (or reuse) argo-patcher's own image; returns its name."""
    tag = tag or DEFAULT_TAG
    docker_client = engine.client(images.BUILD_TIMEOUT_S)
    if not rebuild and _exists(docker_client, tag):
        ui.info(f"{tag} exists; reusing it (--rebuild builds it again)")
        return tag
    base = images.build(goroot)
    ui.info(f"building {tag}: {base.ref} with this machine's Python {sys.version_info.major}.{sys.version_info.minor}, argo-patcher {__version__} and git")
    build_image(docker_client, tag, dockerfile(base.id))
    ui.info(f"built {tag}; push it where your cluster pulls from, and submit the workflow with -p image=<that name>")
    return tag


def build_image(docker_client: Any, tag: str, dockerfile_text: str) -> None:
    """Build ``tag`` from ``dockerfile_text`` with the layer of this machine's Python, argo-patcher
    and git (``layer.tar``, which the Dockerfile adds) as its context."""
    with tempfile.TemporaryFile(prefix="argo-patcher-self-") as context:
        with tarfile.open(fileobj=context, mode="w") as tar:
            images.add_bytes(tar, "Dockerfile", dockerfile_text.encode())
            with tempfile.TemporaryFile() as layer:
                with tarfile.open(fileobj=layer, mode="w") as layer_tar:
                    write_layer(layer_tar)
                info = tarfile.TarInfo("layer.tar")
                info.size = layer.tell()
                layer.seek(0)
                tar.addfile(info, layer)
        context.seek(0)
        with engine.errors_as_infra(f"building {tag}"):
            try:
                docker_client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, pull=False)
            except docker.errors.BuildError as exc:
                raise InfraError(f"building {tag} failed: {exc.msg}") from None


def _exists(docker_client: object, tag: str) -> bool:
    try:
        docker_client.images.get(tag)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        return False
    return True


def dockerfile(base: str) -> str:
    path = f"/usr/local/bin:{images.IMAGE_ENV['PATH']}"
    python = f"{PYTHON_HOME}/bin/{_python_name()}"
    return "\n".join(
        [
            f"FROM {base}",
            "ADD layer.tar /",
            f'ENV PATH="{path}" PYTHONUTF8=1 PYTHONDONTWRITEBYTECODE=1',
            f'LABEL {engine.LABEL}="self" org.opencontainers.image.title="argo-patcher {__version__}" argo-patcher.python="{python}"',
            f'ENTRYPOINT ["{LAUNCHER}"]',
            "",
        ]
    )


def write_layer(tar: tarfile.TarFile) -> None:
    """Python, argo-patcher with its dependencies, git, a shell, and the shared libraries they load."""
    layer = _Layer(tar)
    python = _python_name()
    executable = Path(os.path.realpath(sys.executable))
    layer.add_file(executable, f"{PYTHON_HOME}/bin/{python}")
    layer.add_symlink(python, f"{PYTHON_HOME}/bin/python3")
    stdlib = Path(sysconfig.get_path("stdlib"))
    target_lib = f"{PYTHON_HOME}/lib/{python}"
    layer.add_tree(stdlib, target_lib, skip=_STDLIB_SKIP)
    dynload = Path(sysconfig.get_path("platstdlib")) / "lib-dynload"
    if dynload.is_dir() and not dynload.is_relative_to(stdlib):
        layer.add_tree(dynload, f"{target_lib}/lib-dynload", skip=_STDLIB_SKIP)
    site = f"{target_lib}/site-packages"
    for source, target in package_files():
        layer.add_file(source, f"{site}/{target}")
    layer.add_bytes(LAUNCHER, f"#!{PYTHON_HOME}/bin/{python}\nfrom patcher.cli import main\n\nmain()\n".encode(), 0o755)
    git = shutil.which("git")
    if git is None:
        raise InfraError("no git on PATH to put into the image; install git")
    layer.add_file(Path(git), "/usr/bin/git")
    exec_path = Path(subprocess.run([git, "--exec-path"], capture_output=True, text=True, check=True).stdout.strip())
    for helper in ("git-remote-http", "git-remote-https"):
        if (exec_path / helper).exists():
            layer.add_file(exec_path / helper, f"{exec_path}/{helper}")
    # Cloning a local path runs the upload-pack builtin by its dashed name.
    layer.add_symlink("/usr/bin/git", f"{exec_path}/git-upload-pack")
    if Path(GIT_TEMPLATES).is_dir():
        layer.add_tree(Path(GIT_TEMPLATES), GIT_TEMPLATES)
    # git runs upload-pack through the shell when it clones a local path (`--repo /mounted/repo`).
    shell = Path(os.path.realpath("/bin/sh"))
    layer.add_file(shell, "/bin/sh")
    for library in shared_libraries([executable, Path(git), exec_path / "git-remote-https", shell, *layer.shared_objects]):
        layer.add_file(library, str(library))


def _python_name() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def package_files() -> Iterator[tuple[Path, str]]:
    """argo-patcher and its installed dependencies: (file here, path under site-packages).

    argo-patcher's own files come from the copy this process pinned at its start (``selfcode``), so
    that an image made during a run carries the code the run runs, whatever was edited since."""
    for dist in _closure(DISTRIBUTION):
        for entry in dist.files or []:
            if entry.parts and entry.parts[0] not in ("..", "patcher") and not entry.name.endswith(".pth"):
                found = Path(str(dist.locate_file(entry)))
                if found.is_file():
                    yield found, entry.as_posix()
    pinned = selfcode.root()
    for name in sorted(selfcode.snapshot().files):
        yield pinned / name, name


def _closure(name: str) -> list[importlib.metadata.Distribution]:
    try:
        return selfcode.distributions(name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise InfraError(f"{exc.name} (needed by argo-patcher) is not installed here; reinstall argo-patcher") from None


def shared_libraries(binaries: Iterable[Path]) -> list[Path]:
    """What ``ldd`` says the binaries load, the dynamic loader included."""
    found: set[Path] = set()
    for binary in binaries:
        if not binary.exists():
            continue
        try:
            proc = subprocess.run(["ldd", os.fspath(binary)], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InfraError(f"cannot run ldd on {binary}: {exc}") from None
        found.update(Path(m.group(1)) for m in map(_LDD_PATH.search, proc.stdout.splitlines()) if m)
    return sorted(found)


class _Layer:
    """A tar of absolute paths, with parent directories added once and owned by root."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.names: set[str] = set()
        self.shared_objects: list[Path] = []

    def _parents(self, name: str) -> None:
        parts = name.strip("/").split("/")[:-1]
        for n in range(1, len(parts) + 1):
            directory = "/".join(parts[:n])
            if directory not in self.names:
                self.names.add(directory)
                images.add_dir(self.tar, directory, 0o755)

    def add_file(self, source: Path, target: str) -> None:
        name = target.strip("/")
        if name in self.names:
            return
        self._parents(name)
        self.names.add(name)
        info = tarfile.TarInfo(name)
        stat = source.stat()  # follows symlinks: the image gets the file itself
        info.size, info.mtime = stat.st_size, int(stat.st_mtime)
        info.mode = 0o755 if stat.st_mode & 0o111 else 0o644
        with source.open("rb") as handle:
            self.tar.addfile(info, handle)
        if ".so" in source.name:
            self.shared_objects.append(source)

    def add_bytes(self, target: str, data: bytes, mode: int = 0o644) -> None:
        name = target.strip("/")
        self._parents(name)
        self.names.add(name)
        images.add_bytes(self.tar, name, data, mode)

    def add_symlink(self, link_to: str, target: str) -> None:
        name = target.strip("/")
        self._parents(name)
        self.names.add(name)
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, link_to
        self.tar.addfile(info)

    def add_tree(self, source: Path, target: str, skip: Iterable[str] = ()) -> None:
        skipped = tuple(skip)
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(skipped))
            relative = Path(dirpath).relative_to(source)
            for filename in sorted(f for f in filenames if not f.startswith(skipped)):
                path = Path(dirpath, filename)
                with contextlib.suppress(FileNotFoundError):  # a dangling symlink
                    self.add_file(path, f"{target}/{(relative / filename).as_posix()}")

