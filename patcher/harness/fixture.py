"""The precedence harness: go-fixtures/ rendered for a checkout's test helpers, in its tree, with
the contract's cases (``harness.cases``) embedded as the data it interprets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from patcher.errors import InternalError, PatchError
from patcher.harness import cases
from patcher.harness.contract import HARNESS_FILE
from patcher.patching import render, resources, shapes
from patcher.patching.gotree import GoTree
from patcher.patching.patch import FormatCheck

TEMPLATE = "zz_argo_patcher_precedence_test.go.j2"
DIRECTORY = "workflow/controller"


def path(tree: Path) -> Path:
    return tree / DIRECTORY / HARNESS_FILE


def render_for(tree: GoTree, gofmt: FormatCheck) -> str:
    """The harness source for ``tree``; ``InputError`` when its test helpers have an unknown shape,
    ``InternalError`` (argo-patcher's fault, not the release's) when it is not gofmt-clean Go."""
    contract = cases.as_json()
    if "`" in contract:
        raise AssertionError("a case holds a backquote, which the harness's Go raw string cannot")
    variables = {**dataclasses.asdict(shapes.harness_shape(tree)), "contract_json": contract}
    text = render.render(resources.GO_FIXTURES, TEMPLATE, variables)
    try:
        gofmt(text.encode(), f"{DIRECTORY}/{HARNESS_FILE}")
    except PatchError as exc:  # argo-patcher's own template, not the release's patch: argo-patcher's fault
        raise InternalError(
            f"argo-patcher's own harness template go-fixtures/{TEMPLATE} renders bad Go for this tree ({exc}); "
            f"this is a bug of argo-patcher, not of the release: report it"
        ) from None
    return text


def write(tree: Path, text: str) -> Path:
    """Write the harness ``text`` (``render_for`` the tree) into ``tree``; return its path."""
    target = path(tree)
    target.write_text(text, encoding="utf-8")
    return target


def remove(tree: Path) -> None:
    path(tree).unlink(missing_ok=True)
