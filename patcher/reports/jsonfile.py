"""The report as JSON (issue 6's schema plus run metadata), and reading reports back."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from patcher import __version__
from patcher.errors import InputError
from patcher.reports import cells
from patcher.run.results import ReleaseResult


def document(results: list[ReleaseResult], *, spec: str | None = None) -> dict[str, Any]:
    """``{"results": [...]}`` with who made it, when, from which spec, and a verdict tally."""
    doc: dict[str, Any] = {
        "tool": "argo-patcher",
        "tool_version": __version__,
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if spec is not None:
        doc["spec"] = spec
    doc["ok"] = bool(results) and all(r.ok for r in results)
    doc["summary"] = {verdict.value: n for verdict, n in cells.counts(results).items()}
    doc["results"] = [r.to_json() for r in results]
    return doc


def dumps(results: list[ReleaseResult], *, spec: str | None = None) -> str:
    return json.dumps(document(results, spec=spec), indent=2, ensure_ascii=False) + "\n"


def parse(data: Any, source: str) -> list[ReleaseResult]:
    """Releases from a report document, one release's object, or a list of either (Argo gathers
    a fan-out's outputs into a list, of objects or, when some are not JSON, of strings; its
    ``outputs.parameters`` aggregate is a list of ``{"report": "<JSON>"}`` maps)."""
    if isinstance(data, list):
        return [result for item in data for result in parse(_json_text(item, source) if isinstance(item, str) else item, source)]
    if isinstance(data, dict) and set(data) == {"report"}:
        report = data["report"]
        return parse(_json_text(report, source) if isinstance(report, str) else report, source)
    try:
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            return [ReleaseResult.from_json(item) for item in data["results"]]
        if isinstance(data, dict) and "version" in data:
            return [ReleaseResult.from_json(data)]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{source} is not an argo-patcher report: {type(exc).__name__}: {exc}") from None
    raise InputError(f"{source} is not an argo-patcher report: expected {{\"results\": [...]}} or one release's object")


def load(path: Path) -> list[ReleaseResult]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the report {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not JSON: {exc}") from None
    return parse(data, str(path))


def _json_text(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} holds a report that is not JSON: {exc}: {text[:80]!r}") from None
