"""A checked-out tree's Go, each file read and parsed once.

Shape detection, the patch plan and the harness ask about the same few files of a tree (the
controller's ``workflowpod.go`` and ``operator.go``, template resolution's ``context.go``, the
controller's test helpers, ``util/logging``, ``go.mod``): they share one ``GoTree`` per tree,
which parses a file the first time it is asked for and answers from that parse after. The patch
writes through it (``write``), which replaces what was parsed of that file.
"""

from __future__ import annotations

import functools
from pathlib import Path

from patcher.errors import InputError
from patcher.patching import gomod
from patcher.patching.gosyntax import GoFile


class GoTree:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._files: dict[str, GoFile] = {}
        self.parses: list[str] = []  # every file parsed, in order: each once until written

    def exists(self, relative: str) -> bool:
        return (self.root / relative).is_file()

    def file(self, relative: str) -> GoFile:
        """The parsed Go file at ``relative``; ``InputError`` when the tree has none."""
        found = self._files.get(relative)
        if found is None:
            path = self.root / relative
            try:
                source = path.read_bytes()
            except FileNotFoundError:
                raise InputError(f"{relative} not found in {self.root}; is it an Argo Workflows checkout?") from None
            found = self._files[relative] = GoFile(source, path)
            self.parses.append(relative)
        return found

    def package_files(self, directory: str, *, tests: bool = False) -> list[GoFile]:
        """The ``.go`` files of ``directory`` (its test files too with ``tests``), in name order."""
        paths = sorted(p for p in (self.root / directory).glob("*.go") if tests or not p.name.endswith("_test.go"))
        return [self.file(path.relative_to(self.root).as_posix()) for path in paths]

    def write(self, relative: str, content: bytes) -> Path:
        """Write ``content`` at ``relative``; the next question about it reads the new content."""
        path = self.root / relative
        path.write_bytes(content)
        self._files.pop(relative, None)
        return path

    @functools.cached_property
    def gomod(self) -> gomod.GoMod:
        return gomod.read(self.root)
