"""Reading what golangci-lint and ``go vet`` report, as ``Finding``s.

golangci-lint prints ``{"Issues": [{"FromLinter", "Text", "Pos": {"Filename", "Line"}}]}`` (v1's
``--out-format json`` and v2's ``--output.json.path stdout`` alike). ``go vet -json`` prints, per
package, ``{"<package>": {"<analyzer>": [{"posn": "file:line:col", "message": …}]}}``, objects
one after the other, with ``#`` lines between them on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from patcher.runners.testresults import Finding


class Unreadable(ValueError):
    """The tool printed something that is not its report."""


def golangci(stdout: str, tree: Path) -> list[Finding]:
    text = stdout.strip()
    start = text.find("{")
    if start < 0:
        raise Unreadable(f"no JSON report in its output: {text[:200]!r}")
    try:  # what follows the report (v2's "N issues." when its stats are on) is not part of it
        data, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError as exc:
        raise Unreadable(f"its JSON report does not parse ({exc})") from None
    issues = data.get("Issues") if isinstance(data, dict) else None
    found = []
    for issue in issues or []:
        position = issue.get("Pos") or {}
        found.append(Finding(str(issue.get("FromLinter", "?")), _relative(str(position.get("Filename", "")), tree), int(position.get("Line", 0)),
                             str(issue.get("Text", "")).strip()))  # fmt: skip
    return found


def go_vet(stdout: str, tree: Path) -> list[Finding]:
    """``go vet -json``'s findings (its objects may be printed on stdout or stderr)."""
    decoder = json.JSONDecoder()
    found: list[Finding] = []
    position, text = 0, stdout
    while True:
        start = text.find("{", position)
        if start < 0:
            return found
        try:
            data, position = decoder.raw_decode(text, start)
        except ValueError as exc:
            raise Unreadable(f"go vet's JSON does not parse ({exc})") from None
        for analyzers in data.values() if isinstance(data, dict) else ():
            for analyzer, diagnostics in analyzers.items() if isinstance(analyzers, dict) else ():
                found += [_vet_finding(analyzer, d, tree) for d in diagnostics if isinstance(d, dict)]


def _vet_finding(analyzer: str, diagnostic: dict[str, Any], tree: Path) -> Finding:
    file, line = _split_position(str(diagnostic.get("posn", "")))
    return Finding(f"vet/{analyzer}", _relative(file, tree), line, str(diagnostic.get("message", "")).strip())


def _split_position(posn: str) -> tuple[str, int]:
    parts = posn.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return posn, 0


def _relative(file: str, tree: Path) -> str:
    """The file relative to the tree, wherever the tool ran it (a container's /src, the tree itself)."""
    for root in (str(tree.resolve()) + "/", str(tree) + "/", "/src/"):
        if file.startswith(root):
            return file[len(root) :]
    return file
