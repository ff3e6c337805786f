"""Rendering the Go templates: Jinja with ``StrictUndefined``, so a missing variable is an error."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any, NoReturn

import jinja2

from patcher.errors import InputError
from patcher.patching import resources


def _fail(message: str) -> NoReturn:
    raise InputError(f"cannot render the Go code: {message}")


@functools.cache
def environment(directory: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resources.data_dir(directory)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["fail"] = _fail
    return env


def render(directory: str, name: str, variables: Mapping[str, Any]) -> str:
    """Render template ``name`` of ``directory`` (resources.TEMPLATES or resources.GO_FIXTURES)."""
    return render_code(directory, name, variables).text


@dataclasses.dataclass(frozen=True)
class Code:
    """Rendered Go, and the packages it uses: by the names it uses them by (``imports``: its
    file must import them), or by name and path (``import_paths``: to be added where missing)."""

    text: str
    imports: tuple[str, ...] = ()
    import_paths: dict[str, str] = dataclasses.field(default_factory=dict)


def render_code(directory: str, name: str, variables: Mapping[str, Any]) -> Code:
    """``render``, with the imports the template declares (``{% set imports = [...] %}``)."""
    try:
        module = environment(directory).get_template(name).make_module(dict(variables))
        return Code(str(module), tuple(getattr(module, "imports", ())), dict(getattr(module, "import_paths", ())))
    except jinja2.UndefinedError as exc:
        raise InputError(f"cannot render {name}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise InputError(f"cannot render {name}: {exc}") from None
