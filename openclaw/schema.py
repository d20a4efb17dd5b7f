"""Validation against the JSON Schemas in ``schemas/``, with one-line error messages.

jsonschema is imported on first use only, so commands that never validate
anything do not pay for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from openclaw.paths import schema_file

CONFIG_SCHEMA = "config.schema.json"
META_SCHEMA = "task-meta.schema.json"


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    with open(schema_file(name), encoding="utf-8") as fh:
        schema = json.load(fh)
    return Draft202012Validator(schema)


def key_path(path: Iterable[Any]) -> str:
    """Render a jsonschema error path as ``executors[1].type``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(error: Any) -> str:
    kind = error.validator
    if kind in ("additionalProperties", "unevaluatedProperties"):
        # jsonschema words it "... ('a', 'b' were unexpected)"
        msg = str(error.message)
        start = msg.rfind("(")
        return "unknown key " + msg[start + 1 : msg.rfind(" w")] if start >= 0 else msg
    if kind == "required":
        return f"missing key: {error.message.split(' is a required')[0]}"
    if kind == "type":
        return f"{error.instance!r} has the wrong type: expected {error.validator_value}"
    if kind == "enum":
        choices = " | ".join(str(v) for v in error.validator_value)
        return f"{error.instance!r} is not one of: {choices}"
    return str(error.message)


def problems(name: str, document: Any) -> list[tuple[str, str]]:
    """All the ways ``document`` breaks schema ``name``, as (key path, problem) pairs.

    The most specific (deepest) problems come first.
    """
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: (-len(e.absolute_path), e.message))
    return [(key_path(e.absolute_path), _describe(e)) for e in errors]


def first_problem(name: str, document: Any) -> tuple[str, str] | None:
    """The first problem :func:`problems` would report, or None when the document is valid."""
    validator = _validator(name)
    if validator.is_valid(document):
        return None
    return problems(name, document)[0]
