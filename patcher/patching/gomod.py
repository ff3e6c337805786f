"""A tree's go.mod, and the Go versions it asks for.

The ``go`` line is the minimum: with ``GOTOOLCHAIN=local`` an older Go refuses the module, a newer
one builds it. The ``toolchain`` line (Go 1.21 on) names the Go the release was developed with;
it is preferred when choosing an image, but any Go from the ``go`` line on will do.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

from patcher.errors import InputError

_VERSION = re.compile(r"^(?:go)?(\d+)\.(\d+)(?:\.(\d+)|(rc|beta)(\d+))?$")
_DIRECTIVE = re.compile(r"^\s*(module|go|toolchain)\s+(\S+)\s*(?://.*)?$")


@functools.total_ordering
@dataclasses.dataclass(frozen=True)
class GoVersion:
    """A Go release or language version: ``1.21`` < ``1.21rc1`` < ``1.21.0`` < ``1.21.5``."""

    major: int
    minor: int
    patch: int | None = None  # None: a language version (1.21) or a pre-release
    pre: str = ""  # "rc2", "beta1"

    @classmethod
    def parse(cls, text: str) -> GoVersion:
        match = _VERSION.match(text.strip())
        if not match:
            raise ValueError(f"not a Go version: {text!r}")
        major, minor, patch, kind, number = match.groups()
        return cls(int(major), int(minor), int(patch) if patch is not None else None, f"{kind}{number}" if kind else "")

    @classmethod
    def find(cls, text: str) -> GoVersion | None:
        """The first Go version in ``text`` (``go1.21.5``, ``GOLANG_VERSION=1.21.5``), if any."""
        match = re.search(r"(?<![\d.])(?:go)?(\d+\.\d+(?:\.\d+|(?:rc|beta)\d+)?)(?![\d.])", text)
        return cls.parse(match.group(1)) if match else None

    @property
    def line(self) -> str:
        """The release line, ``1.21``."""
        return f"{self.major}.{self.minor}"

    def _key(self) -> tuple[int, int, int, int, int]:
        if self.patch is not None:
            return (self.major, self.minor, 2, self.patch, 0)
        if self.pre:
            kind, number = re.match(r"([a-z]+)(\d+)", self.pre).groups()  # type: ignore[union-attr]
            return (self.major, self.minor, 1, 0 if kind == "beta" else 1, int(number))
        return (self.major, self.minor, 0, 0, 0)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, GoVersion):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        if self.patch is not None:
            return f"{self.major}.{self.minor}.{self.patch}"
        return f"{self.major}.{self.minor}{self.pre}"


@dataclasses.dataclass(frozen=True)
class GoMod:
    path: Path
    module: str
    go: GoVersion
    toolchain: GoVersion | None = None

    @property
    def minimum(self) -> GoVersion:
        """The oldest Go that builds the module (its ``go`` line)."""
        return self.go

    @property
    def preferred(self) -> GoVersion:
        """The Go the release asks for: its ``toolchain`` line when newer than its ``go`` line."""
        return max(self.go, self.toolchain) if self.toolchain else self.go

    def describe(self) -> str:
        text = f"go {self.go}"
        return f"{text}, toolchain go{self.toolchain}" if self.toolchain and self.toolchain != self.go else text


def read(tree: Path) -> GoMod:
    """The go.mod at the root of ``tree``."""
    path = tree / "go.mod"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{tree} has no go.mod; is it a Go module (an Argo Workflows checkout)?") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    return parse(text, path)


def parse(text: str, path: Path = Path("go.mod")) -> GoMod:
    found: dict[str, str] = {}
    depth = 0
    for line in text.splitlines():
        stripped = line.split("//", 1)[0].strip()
        if stripped.endswith("("):
            depth += 1
            continue
        if stripped == ")":
            depth = max(0, depth - 1)
            continue
        match = _DIRECTIVE.match(line)
        if depth == 0 and match and match.group(1) not in found:
            found[match.group(1)] = match.group(2).strip('"')
    if "module" not in found:
        raise InputError(f"{path} has no module line")
    try:
        # A go.mod without a go line means Go 1.16 semantics (the go command's own default).
        go = GoVersion.parse(found.get("go", "1.16"))
        toolchain = GoVersion.parse(found["toolchain"]) if "toolchain" in found and found["toolchain"] != "default" else None
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    return GoMod(path, found["module"], go, toolchain)
