"""Go images: built locally with no registry, listed, and chosen for a tree.

``build`` makes an image ``FROM scratch`` out of a local Go installation: GOROOT, CA certificates
(for the module proxy), a writable /tmp, and a non-root user ``gopher`` (uid 1000) whose module
and build cache directories exist and belong to it, so that the named cache volumes mounted there
inherit that ownership. Nothing else: no shell, no package manager, no C compiler (CGO_ENABLED=0).

``choose`` picks the image for a tree from its go.mod (see ``GoMod``): an official
``golang:<version>`` image that is here or can be pulled (pulls are bounded in time, and a
registry that does not answer is not asked again by this process); else an image built by
argo-patcher whose Go is at least the one go.mod needs; else, when the local Go is recent enough,
one built from it on the spot; else one error that says how to get one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import os
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import docker.errors
import filelock

from patcher import locks, settings, ui
from patcher.errors import InfraError, InputError
from patcher.patching.gomod import GoMod, GoVersion
from patcher.runners import engine, hostgo

REPOSITORY = "argo-patcher/go"
OFFICIAL = "golang"
LABEL_GO_VERSION = "argo-patcher.go-version"
LABEL_GOROOT = "argo-patcher.goroot"
USER_UID = 1000
USER_NAME = "gopher"
HOME = f"/home/{USER_NAME}"
GOROOT = "/usr/local/go"
GOMODCACHE = f"{HOME}/go/pkg/mod"
GOCACHE = f"{HOME}/.cache/go-build"
WORKDIR = "/src"
BUILD_TIMEOUT_S = 900
# Parts of GOROOT that `go test` never reads: Go's own test suite, API lists, docs, build debris.
_GOROOT_SKIP = {"test", "api", "doc", ".git", "pkg/obj", "pkg/bootstrap"}
_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # macOS, BSDs
)
IMAGE_ENV = {
    "PATH": f"{GOROOT}/bin:{HOME}/go/bin:/usr/bin:/bin",
    "GOROOT": GOROOT,
    "GOPATH": f"{HOME}/go",
    "GOMODCACHE": GOMODCACHE,
    "GOCACHE": GOCACHE,
    "HOME": HOME,
    "USER": USER_NAME,
    "TMPDIR": "/tmp",
    "CGO_ENABLED": "0",
    "GOTOOLCHAIN": "local",
    "GOFLAGS": "-buildvcs=false",
    "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
}

_choice_lock = threading.Lock()
_build_lock = threading.Lock()
_pull_lock = threading.Lock()
_unpullable: dict[str, str] = {}  # image reference or "registry" -> why a pull failed
PULL_FAILURE_TTL_S = 3600


@dataclasses.dataclass(frozen=True)
class GoImage:
    ref: str  # what to run: a tag when it has one, else the image id
    id: str
    go: GoVersion | None
    built: bool  # built by argo-patcher
    tags: tuple[str, ...] = ()
    size: int = 0
    source: str = ""

    @property
    def official(self) -> bool:
        return any(t.split(":", 1)[0] in (OFFICIAL, f"library/{OFFICIAL}", f"docker.io/library/{OFFICIAL}") for t in self.tags)

    def describe(self) -> str:
        return f"{self.ref} (Go {self.go or 'unknown'})"


def default_tag(version: GoVersion) -> str:
    return f"{REPOSITORY}:{version}"


# -- building -----------------------------------------------------------------------------------


def build(goroot: Path | None = None, tag: str | None = None, *, rebuild: bool = False, quiet: bool = False) -> GoImage:
    """Build (or reuse) the image of the Go installation at ``goroot`` (default: the local Go).
    ``quiet``: say nothing (the caller has said it)."""
    say = ui.debug if quiet else ui.info
    host = hostgo.require(goroot)
    docker_client = engine.client(BUILD_TIMEOUT_S)
    _check_platform(host, docker_client)
    tag = tag or default_tag(host.version)
    if ":" not in tag.rsplit("/", 1)[-1]:
        tag += ":latest"
    with _build_lock, _file_lock(tag):
        existing = _get(docker_client, tag)
        if existing is not None and not rebuild:
            say(f"{existing.describe()} exists; reusing it (--rebuild builds it again)")
            return existing
        say(f"building {tag} from the Go {host.version} at {host.goroot}")
        with tempfile.TemporaryDirectory(prefix="argo-patcher-image-") as scratch:
            rootfs = Path(scratch, "rootfs.tar")
            with rootfs.open("wb") as f:
                _write_rootfs(f, host)
            repository, _, version = tag.rpartition(":")
            with engine.errors_as_infra(f"building {tag}"):
                # An import, not a Dockerfile build: one layer written once, several times faster.
                docker_client.api.import_image_from_file(os.fspath(rootfs), repository=repository, tag=version, changes=image_changes(host))
        built = _get(docker_client, tag)
        if built is None:
            raise InfraError(f"building {tag} failed: the Docker engine made no image")
        if existing is not None and existing.id != built.id:
            _remove_if_dangling(docker_client, existing.id)
        say(f"built {built.describe()}, {built.size / 1e6:.0f} MB")
        return built


def _remove_if_dangling(docker_client: Any, image_id: str) -> None:
    """Remove the image a rebuild replaced, unless other tags or containers still use it."""
    with contextlib.suppress(*engine.DockerError):
        if not docker_client.images.get(image_id).tags:
            docker_client.images.remove(image_id)


def _check_platform(host: hostgo.HostGo, docker_client: Any) -> None:
    with engine.errors_as_infra("asking the Docker engine for its platform"):
        info = docker_client.info()
    engine_os = str(info.get("OSType", "linux"))
    engine_arch = _GOARCH.get(str(info.get("Architecture", "")), str(info.get("Architecture", "")))
    if (host.os, host.arch) != (engine_os, engine_arch):
        raise InputError(
            f"the Go at {host.goroot} is for {host.os}/{host.arch}, but the Docker engine runs {engine_os}/{engine_arch} "
            f"containers; pass --goroot with a {engine_os}-{engine_arch} Go (go.dev/dl)"
        )


_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}


def _file_lock(tag: str) -> filelock.FileLock:
    return locks.lock(f"image-{tag}", timeout=BUILD_TIMEOUT_S)


def image_changes(host: hostgo.HostGo) -> list[str]:
    """The image's configuration, as Dockerfile instructions for ``docker import``."""
    labels = {
        engine.LABEL: "go",
        LABEL_GO_VERSION: str(host.version),
        LABEL_GOROOT: str(host.goroot),
        "org.opencontainers.image.title": f"argo-patcher Go {host.version}",
    }
    return [
        *(f"ENV {key}={value}" for key, value in IMAGE_ENV.items()),
        f"USER {USER_UID}:{USER_UID}",
        f"WORKDIR {WORKDIR}",
        "LABEL " + " ".join(f'{key}="{value}"' for key, value in labels.items()),
    ]


def _write_rootfs(fileobj: BinaryIO, host: hostgo.HostGo) -> None:
    """The image's whole file system, as a tar stream."""
    with tarfile.open(fileobj=fileobj, mode="w|") as tar:
        add_bytes(tar, "etc/passwd", f"root:x:0:0:root:/root:/sbin/nologin\n{USER_NAME}:x:{USER_UID}:{USER_UID}::{HOME}:/sbin/nologin\n".encode())
        add_bytes(tar, "etc/group", f"root:x:0:\n{USER_NAME}:x:{USER_UID}:\n".encode())
        add_bytes(tar, "etc/nsswitch.conf", b"hosts: files dns\n")
        add_dir(tar, "etc/ssl/certs", 0o755)
        add_bytes(tar, "etc/ssl/certs/ca-certificates.crt", ca_bundle())
        add_dir(tar, "tmp", 0o1777)
        add_dir(tar, WORKDIR.lstrip("/"), 0o755)
        add_dir(tar, "home", 0o755)
        # The cache directories belong to the user, so that empty volumes mounted on them do too.
        for directory in (HOME, f"{HOME}/go", f"{HOME}/go/pkg", GOMODCACHE, f"{HOME}/.cache", GOCACHE):
            add_dir(tar, directory.lstrip("/"), 0o755, uid=USER_UID)
        add_dir(tar, "usr", 0o755)
        add_dir(tar, "usr/local", 0o755)
        _add_goroot(tar, host.goroot)


def _add_goroot(tar: tarfile.TarFile, goroot: Path) -> None:
    goroot = goroot.resolve()
    add_dir(tar, GOROOT.lstrip("/"), 0o755)
    for dirpath, dirnames, filenames in os.walk(goroot):
        relative = Path(dirpath).relative_to(goroot).as_posix()
        relative = "" if relative == "." else relative + "/"
        dirnames[:] = sorted(d for d in dirnames if f"{relative}{d}" not in _GOROOT_SKIP)
        for name in [*dirnames, *sorted(filenames)]:
            path = Path(dirpath, name)
            arcname = f"{GOROOT.lstrip('/')}/{relative}{name}"
            info = tar.gettarinfo(os.fspath(path), arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode &= 0o755  # nothing group/world-writable
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644, uid: int = 0) -> None:
    """A file of an image's file system, owned by ``uid``."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.uid, info.gid = len(data), mode, uid, uid
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar: tarfile.TarFile, name: str, mode: int, uid: int = 0) -> None:
    """A directory of an image's file system, owned by ``uid``."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
    tar.addfile(info)


def ca_bundle() -> bytes:
    override = os.environ.get("SSL_CERT_FILE")
    for candidate in ([override] if override else []) + list(_CA_BUNDLES):
        with contextlib.suppress(OSError):
            return Path(candidate).read_bytes()
    try:
        import certifi  # installed with requests, which docker-py needs
    except ImportError:  # pragma: no cover
        raise InfraError("found no CA certificates to put into the image (looked in /etc/ssl and for certifi)") from None
    return Path(certifi.where()).read_bytes()


# -- listing ------------------------------------------------------------------------------------


def list_images(docker_client: Any | None = None) -> list[GoImage]:
    """argo-patcher's Go images and the local official golang images, newest Go first."""
    docker_client = docker_client or engine.client()
    found: dict[str, GoImage] = {}
    with engine.errors_as_infra("listing images"):
        ours = docker_client.images.list(filters={"label": f"{engine.LABEL}=go"})
        official = docker_client.images.list(name=OFFICIAL)
    for image in [*ours, *official]:
        if image.id not in found:
            found[image.id] = _as_go_image(image)
    return sorted(found.values(), key=lambda i: (i.go or GoVersion(0, 0), i.ref), reverse=True)


def _get(docker_client: Any, ref: str) -> GoImage | None:
    try:
        return _as_go_image(docker_client.images.get(ref), ref)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if exc.status_code in (400, 404):  # e.g. an invalid reference
            return None
        raise InfraError(f"Docker failed while looking up {ref}: {engine.reason(exc)}") from None


def _as_go_image(image: Any, ref: str | None = None) -> GoImage:
    labels = image.labels or {}
    tags = tuple(image.tags)
    built = labels.get(engine.LABEL) == "go"
    go = None
    if labels.get(LABEL_GO_VERSION):
        go = _parse_or_none(labels[LABEL_GO_VERSION])
    if go is None:
        env = dict(e.split("=", 1) for e in (image.attrs.get("Config", {}).get("Env") or []) if "=" in e)
        if env.get("GOLANG_VERSION"):
            go = _parse_or_none(env["GOLANG_VERSION"])
    if go is None:
        for tag in tags:
            if tag.split(":", 1)[0].endswith(OFFICIAL) and ":" in tag:
                go = GoVersion.find(tag.split(":", 1)[1])
                if go:
                    break
    source = f"built from {labels[LABEL_GOROOT]}" if built and labels.get(LABEL_GOROOT) else ("official" if not built else "")
    return GoImage(ref or (tags[0] if tags else image.id), image.id, go, built, tags, int(image.attrs.get("Size") or 0), source)


def _parse_or_none(text: str) -> GoVersion | None:
    try:
        return GoVersion.parse(text)
    except ValueError:
        return GoVersion.find(text)


# -- choosing -----------------------------------------------------------------------------------


def choose(gomod: GoMod, image: str = "auto", *, offline: bool = False, context: str = "") -> GoImage:
    """The image to test the module of ``gomod`` in; see the module's docstring.

    ``context`` names the tree in messages (e.g. "v3.5.5"). Thread-safe: parallel releases that
    need the same Go share one decision, one pull and one build.
    """
    docker_client = engine.client()
    what = context or str(gomod.path.parent)
    if image != "auto":
        return _forced(docker_client, image, gomod, offline=offline, what=what)
    with _choice_lock:
        return _auto(docker_client, gomod, offline=offline, what=what)


@functools.cache
def _notice_once(message: str) -> None:
    ui.info(message)


def _forced(docker_client: Any, ref: str, gomod: GoMod, *, offline: bool, what: str) -> GoImage:
    found = _get(docker_client, ref)
    if found is None and not offline:
        found = _pull(ref)
    if found is None:
        why = _unpullable.get(ref) or _unpullable.get("registry") or "offline: no pull"
        raise InfraError(f"image {ref} is not here and cannot be pulled ({why}); see `patcher image list`, or build one with `patcher image build`")
    if found.go is not None and found.go < gomod.minimum:
        raise InputError(f"image {ref} has Go {found.go}, but {what} needs Go {gomod.minimum} or newer (its go.mod)")
    if found.go is None:
        ui.warn(f"cannot tell the Go version of image {ref}; using it as asked")
    return found


def _auto(docker_client: Any, gomod: GoMod, *, offline: bool, what: str) -> GoImage:
    need, prefer = gomod.minimum, gomod.preferred
    local = list_images(docker_client)
    # 1. An official image of the release's Go line that is here already.
    official = [i for i in local if i.official and i.go is not None and i.go.line == prefer.line and i.go >= need]
    if official:
        return _closest(official, prefer)
    # 2. ... or that a registry gives us.
    if not offline:
        pulled = _pull(f"{OFFICIAL}:{prefer.line}")
        if pulled is not None and pulled.go is not None and pulled.go >= need:
            return pulled
    # 3. An image argo-patcher built, with a recent enough Go: the closest to what go.mod prefers.
    ours = [i for i in local if i.built and i.go is not None and i.go >= need]
    if ours:
        return _closest(ours, prefer)
    # 4. Build one from the local Go when it is recent enough.
    host = hostgo.find()
    if host is not None and host.version >= need:
        _notice_once(f"no Go image for {what} (go.mod: {gomod.describe()}); building {default_tag(host.version)} from the local Go {host.version} (once)")
        return build(host.goroot, quiet=True)
    pull_note = "offline" if offline else _unpullable.get(f"{OFFICIAL}:{prefer.line}") or _unpullable.get("registry", "")
    local_note = f"the local Go is {host.version}" if host else "there is no local Go"
    raise InfraError(
        f"no Docker image with Go >= {need} for {what}: {OFFICIAL}:{prefer.line} is not here"
        + (f" and cannot be pulled ({pull_note})" if pull_note else "")
        + f", and {local_note}; run `patcher image build --goroot DIR` with a Go >= {need}, or pass --image NAME"
    )


def _closest(candidates: list[GoImage], prefer: GoVersion) -> GoImage:
    """The image with the oldest Go that is at least ``prefer``, else the one with the newest Go."""
    recent = [i for i in candidates if i.go is not None and i.go >= prefer]
    if recent:
        return min(recent, key=lambda i: (i.go or GoVersion(0, 0), i.ref))
    return max(candidates, key=lambda i: (i.go or GoVersion(0, 0), i.ref))


def _pull(ref: str) -> GoImage | None:
    """Pull ``ref``, giving up after ARGO_PATCHER_PULL_TIMEOUT seconds without an answer; None when it fails.

    A failure that is not about this image (no registry, no network) is remembered for an hour,
    on disk, so that other releases and later runs do not wait for it again."""
    with _pull_lock:
        _load_pull_failures()
        timeout_s = settings.pull_timeout_s()
        if ref in _unpullable or "registry" in _unpullable or timeout_s <= 0:
            ui.debug(f"not pulling {ref}: {_unpullable.get(ref) or _unpullable.get('registry') or 'pulls are off'}")
            return None
        repository, _, tag = ref.partition(":")
        ui.info(f"pulling {ref} (giving up after {timeout_s:.0f}s without an answer)")
        try:
            image = engine.client(timeout_s).images.pull(repository, tag=tag or "latest")
        except docker.errors.NotFound as exc:
            _unpullable[ref] = engine.reason(exc)
        except engine.DockerError as exc:
            why = engine.reason(exc)
            key = ref if "manifest unknown" in why or ("not found" in why.lower() and "host" not in why) else "registry"
            _unpullable[key] = why
        else:
            return _as_go_image(image, ref)
        why = _unpullable.get(ref) or _unpullable["registry"]
        ui.info(f"cannot pull {ref}: {why}")
        _save_pull_failures()
        return None


def _pull_failures_file() -> Path:
    return settings.cache_root() / "pull-failures.json"


def _load_pull_failures() -> None:
    path = _pull_failures_file()
    try:
        saved = json.loads(path.read_text())
        remembered = {key: str(entry["why"]) for key, entry in saved.items() if time.time() - float(entry["at"]) < PULL_FAILURE_TTL_S}
    except FileNotFoundError:
        return
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        # A torn or edited file: what it remembered is forgotten, and the pulls are tried again.
        ui.warn(f"ignored {path}: {type(exc).__name__}: {exc}; images are pulled as if no pull had failed")
        with contextlib.suppress(OSError):
            path.unlink()
        return
    for key, why in remembered.items():
        _unpullable.setdefault(key, f"{why} (remembered from a run less than an hour ago)")


def _save_pull_failures() -> None:
    with contextlib.suppress(OSError, ValueError):
        path = _pull_failures_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        saved: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads(path.read_text())
        now = time.time()
        for key, why in _unpullable.items():
            if "(remembered from" not in why:
                saved[key] = {"at": now, "why": why}
        path.write_text(json.dumps(saved))

