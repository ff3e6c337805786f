"""The platforms a controller image is built for: those asked for, or those upstream publishes.

Upstream's release workflow (``.github/workflows/release.yaml``) builds each image in jobs
whose ``strategy.matrix.target`` lists the images and ``strategy.matrix.platform`` the
platforms; the platforms of the jobs that build ``workflow-controller`` are what the release
published (linux/amd64 and linux/arm64 for every release from v3.4.0: one job per platform up to
v3.4, one job with both after). The Makefile's ``TARGET_PLATFORM`` is a developer's default and
the Dockerfile names none, so neither is read. Windows builds are of ``argoexec`` only.
"""

from __future__ import annotations

import dataclasses
import platform as host_platform
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from patcher import ui
from patcher.errors import InputError

RELEASE_WORKFLOW = Path(".github", "workflows", "release.yaml")
TARGET = "workflow-controller"
# What every release from v3.4.0 publishes, when its release workflow says nothing readable.
FALLBACK = ("linux/amd64", "linux/arm64")
# GOARCH values Go builds linux binaries for, named as OCI platforms name architectures.
ARCHITECTURES = ("386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le", "riscv64", "s390x")
_VARIANT_ENV = {"arm": ("GOARM", {"v5": "5", "v6": "6", "v7": "7"}), "amd64": ("GOAMD64", {"v1": "v1", "v2": "v2", "v3": "v3", "v4": "v4"})}
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclasses.dataclass(frozen=True, order=True)
class Platform:
    """An OCI platform: ``linux/arm64``, ``linux/arm/v7``."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InputError(f"--platform {text!r}: expected OS/ARCH or OS/ARCH/VARIANT, such as linux/arm64")
        os_name, arch, variant = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
        if os_name != "linux":
            raise InputError(f"--platform {text}: the controller's image is a linux image; expected linux/ARCH")
        if arch not in ARCHITECTURES:
            raise InputError(f"--platform {text}: {arch} is not an architecture Go builds linux binaries for ({', '.join(ARCHITECTURES)})")
        if variant and variant not in _VARIANT_ENV.get(arch, ("", {}))[1] and (arch, variant) != ("arm64", "v8"):
            raise InputError(f"--platform {text}: unknown variant {variant} of {arch}")
        return cls(os_name, arch, variant)

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)

    @property
    def slug(self) -> str:
        """For file names: ``linux-arm-v7``."""
        return str(self).replace("/", "-")

    def go_environment(self) -> dict[str, str]:
        """What the go command cross-compiles for this platform with."""
        env = {"GOOS": self.os, "GOARCH": self.architecture}
        if self.variant in _VARIANT_ENV.get(self.architecture, ("", {}))[1]:
            name, values = _VARIANT_ENV[self.architecture]
            env[name] = values[self.variant]
        return env


def parse_list(text: str) -> tuple[Platform, ...]:
    """``--platform linux/amd64,linux/arm64``: each once, in the order given."""
    found: list[Platform] = []
    for item in text.split(","):
        if not item.strip():
            continue
        parsed = Platform.parse(item)
        if parsed not in found:
            found.append(parsed)
    if not found:
        raise InputError("--platform: name at least one platform, such as linux/amd64")
    return tuple(found)


def host() -> Platform:
    """This machine's platform: the one whose image goes into the local Docker engine."""
    machine = host_platform.machine().lower()
    return Platform("linux", _MACHINES.get(machine, machine))


def from_release_workflow(text: str) -> tuple[Platform, ...]:
    """The platforms that jobs building ``workflow-controller`` list in a release workflow's text;
    empty when none can be read."""
    try:
        workflow = yaml.safe_load(text)
    except yaml.YAMLError:
        return ()
    jobs = _dig(workflow, "jobs")
    found: set[Platform] = set()
    for job in jobs.values() if isinstance(jobs, dict) else ():
        matrix = _dig(job, "strategy", "matrix")
        if TARGET not in _strings(_dig(matrix, "target")):
            continue
        for name in _strings(_dig(matrix, "platform")):
            try:
                parsed = Platform.parse(name)
            except InputError:
                continue  # windows, or a platform this tool cannot build: not an image it makes
            found.add(parsed)
    return tuple(sorted(found))


@dataclasses.dataclass(frozen=True)
class Published:
    """What a release published, and where that was read."""

    platforms: tuple[Platform, ...]
    source: str


def published(tree: Path) -> Published:
    """The platforms upstream published the release in ``tree`` for; its release workflow's,
    else ``FALLBACK``, saying so."""
    try:
        found = from_release_workflow((tree / RELEASE_WORKFLOW).read_text(encoding="utf-8"))
    except OSError:
        found = ()
    if found:
        return Published(found, RELEASE_WORKFLOW.as_posix())
    fallback = tuple(Platform.parse(name) for name in FALLBACK)
    return Published(fallback, f"no readable {RELEASE_WORKFLOW.as_posix()}; what every release from v3.4.0 publishes")


def choose(asked: Sequence[Platform] | None, tree: Path, release: str) -> tuple[Platform, ...]:
    """The platforms to build: those ``asked`` for (a warning for any upstream did not publish,
    which Go builds all the same), else those the release published."""
    upstream = published(tree)
    if not asked:
        ui.info(f"{release}: building for {', '.join(map(str, upstream.platforms))} (upstream's platforms, from {upstream.source})")
        return upstream.platforms
    extra = [str(p) for p in asked if p not in upstream.platforms]
    if extra:
        ui.warn(f"{release}: upstream publishes no {', '.join(extra)} image ({upstream.source}); building it all the same")
    return tuple(asked)


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _strings(value: Any) -> list[str]:
    items: Iterable[Any] = value if isinstance(value, list) else [value] if value is not None else []
    return [str(item) for item in items]
