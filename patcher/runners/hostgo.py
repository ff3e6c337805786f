"""The Go installation on this machine: where it is, its version, and its module settings."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

from patcher.errors import InfraError, InputError
from patcher.patching.gomod import GoVersion

DEFAULT_GOPROXY = "https://proxy.golang.org,direct"
# Module settings a run inherits from the host's `go env`, so that a private proxy or sum
# database configured there is also used in containers.
MODULE_SETTINGS = ("GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOPROXY", "GOPRIVATE", "GOINSECURE")
_ENV_KEYS = ("GOROOT", "GOVERSION", "GOMODCACHE", "GOHOSTOS", "GOHOSTARCH", *MODULE_SETTINGS)


@dataclasses.dataclass(frozen=True)
class HostGo:
    go: Path  # the go binary
    goroot: Path
    version: GoVersion
    os: str
    arch: str
    env: dict[str, str]

    def module_settings(self) -> dict[str, str]:
        return {key: self.env[key] for key in MODULE_SETTINGS if self.env.get(key)}


def find(goroot: Path | None = None) -> HostGo | None:
    """The Go in ``goroot``, else the ``go`` on PATH; None when there is none."""
    if goroot is not None:
        binary = goroot / "bin" / "go"
        return inspect(binary) if binary.is_file() else None
    found = shutil.which("go")
    return inspect(Path(found)) if found else None


def require(goroot: Path | None = None) -> HostGo:
    host = find(goroot)
    if host is None:
        if goroot is not None:
            raise InputError(f"{goroot} is not a Go installation (no bin/go in it)")
        raise InfraError("no Go on PATH; install Go (go.dev/dl) or pass --goroot DIR")
    return host


@functools.lru_cache(maxsize=8)
def inspect(binary: Path) -> HostGo:
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": ""}
    env.pop("GOROOT", None)  # the binary's own GOROOT, not the caller's
    try:
        proc = subprocess.run([os.fspath(binary), "env", "-json", *_ENV_KEYS], capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfraError(f"cannot run {binary}: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise InfraError(f"`{binary} env` failed: {last}")
    values = json.loads(proc.stdout)
    version = GoVersion.find(values.get("GOVERSION", ""))
    if version is None:
        raise InfraError(f"cannot tell the version of the Go at {binary} (GOVERSION={values.get('GOVERSION')!r})")
    return HostGo(binary, Path(values["GOROOT"]), version, values["GOHOSTOS"], values["GOHOSTARCH"], values)
