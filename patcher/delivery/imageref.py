"""Image references as Docker reads them: ``[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]``.

The first component is a registry when it has a dot or a port, or is ``localhost``
(``quay.io/argoproj/argocli``, ``127.0.0.1:5000/x``); otherwise the name is Docker Hub's
(``argo-patcher/workflow-controller``).
"""

from __future__ import annotations

import dataclasses
import re

from patcher.errors import InputError

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REGISTRY = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")


@dataclasses.dataclass(frozen=True)
class ImageRef:
    registry: str  # empty: Docker Hub
    repository: str
    tag: str = ""
    digest: str = ""

    @classmethod
    def parse(cls, text: str, *, what: str = "image name") -> ImageRef:
        rest, _, digest = text.strip().partition("@")
        if digest and not _DIGEST.match(digest):
            raise InputError(f"{what} {text!r}: the digest must be sha256:<64 hex digits>")
        name, tag = rest, ""
        last = rest.rsplit("/", 1)[-1]
        if ":" in last:
            name, _, tag = rest.rpartition(":")
            if not _TAG.match(tag):
                raise InputError(f"{what} {text!r}: {tag!r} is not a valid tag")
        first, _, remainder = name.partition("/")
        registry = first if remainder and ("." in first or ":" in first or first == "localhost") else ""
        repository = remainder if registry else name
        if registry and not _REGISTRY.match(registry):
            raise InputError(f"{what} {text!r}: {registry!r} is not a registry host")
        if not repository or not all(_COMPONENT.match(part) for part in repository.split("/")):
            raise InputError(f"{what} {text!r}: expected [REGISTRY/]NAME[:TAG], in lower case, such as registry.example.com/argo/workflow-controller:v3.5.5")
        return cls(registry, repository, tag, digest)

    @property
    def name(self) -> str:
        """Registry and repository, without tag or digest: what kustomize's ``newName`` takes."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def with_tag(self, tag: str) -> ImageRef:
        return dataclasses.replace(self, tag=tag)

    def with_digest(self, digest: str) -> ImageRef:
        return dataclasses.replace(self, digest=digest)

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")
