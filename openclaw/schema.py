"""Validation against the JSON Schemas in ``schemas/``, with one-line error messages.

jsonschema is imported on first use only, so commands that never validate
anything do not pay for it; and what was found valid once is remembered by
content (:class:`ValidMemo`), so unchanged files are not validated again.

A task record is first checked by :mod:`openclaw.meta_check`, the record's
schema compiled to plain Python by fastjsonschema (generated, committed, and
used only while its schema digest matches the schema file). A record it
passes is valid; one it fails goes to jsonschema, which decides and says
why. So a ``start`` or a look writes and reads records without importing
jsonschema (~50 ms), and the verdicts stay jsonschema's: the tests hold the
generated check to never pass what jsonschema fails.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from openclaw.paths import make_private_dirs, schema_file

CONFIG_SCHEMA = "config.schema.json"
META_SCHEMA = "task-meta.schema.json"


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    with open(schema_file(name), encoding="utf-8") as fh:
        schema = json.load(fh)
    return Draft202012Validator(schema)


def preload(name: str) -> None:
    """Import what checks schema ``name`` now, ahead of its first use (jsonschema and the
    schema's validator; for the task record, its generated check)."""
    if _fast_check(name) is None:
        _validator(name)


@cache
def _fast_check(name: str) -> Any:
    """The generated check of schema ``name`` (:mod:`openclaw.meta_check`), or None: another
    schema, or the schema file changed since the check was generated."""
    if name != META_SCHEMA:
        return None
    from openclaw import meta_check

    if meta_check.SCHEMA_DIGEST != digest(schema_file(name).read_bytes()):
        return None
    return meta_check


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
    if kind == "oneOf" and all("required" in alt for alt in error.validator_value):
        keys = [k for alt in error.validator_value for k in alt["required"]]
        return f"needs exactly one of the keys: {', '.join(keys)} (each goes with its own keys only)"
    return str(error.message)


def problems(name: str, document: Any) -> list[tuple[str, str]]:
    """All the ways ``document`` breaks schema ``name``, as (key path, problem) pairs.

    The most specific (deepest) problems come first.
    """
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: (-len(e.absolute_path), e.message))
    return [(key_path(e.absolute_path), _describe(e)) for e in errors]


def first_problem(name: str, document: Any) -> tuple[str, str] | None:
    """The first problem :func:`problems` would report, or None when the document is valid."""
    fast = _fast_check(name)
    if fast is not None:
        try:
            fast.validate(document)
            return None
        except Exception:  # a break (or a value it cannot take): jsonschema decides, and says why
            pass
    validator = _validator(name)
    if validator.is_valid(document):
        return None
    return problems(name, document)[0]


def digest(data: bytes) -> str:
    """A content digest (BLAKE2b, 128 bits, hex)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class ValidMemo:
    """Digests of documents already found valid against schema ``name``, kept in ``file``.

    The file's first line is the schema's own digest, so a memo written
    against another version of the schema reads as empty. The same bytes
    against the same schema give the same answer, so a listed digest stands for
    a validation. The file is a cache: deleting it only costs time. ``limit``
    keeps only the most recently added digests; ``mkdir`` creates the file's
    directory (and its missing parents, each 0700) when it is missing, else the
    memo is not written. The file is written 0600, whatever the umask.
    """

    def __init__(self, file: Path, name: str, limit: int | None = None, mkdir: bool = False) -> None:
        self.file = file
        self.name = name
        self.limit = limit
        self.mkdir = mkdir
        self._known: dict[str, None] | None = None  # ordered: oldest first
        self._schema = ""
        self.dirty = False

    def _load(self) -> dict[str, None]:
        if self._known is None:
            self._schema = digest(schema_file(self.name).read_bytes())
            try:
                lines = self.file.read_text().split()
            except (OSError, UnicodeDecodeError):
                lines = []
            self._known = dict.fromkeys(lines[1:]) if lines[:1] == [self._schema] else {}
        return self._known

    def __contains__(self, key: str) -> bool:
        return key in self._load()

    def add(self, key: str) -> None:
        """Remember ``key`` (a :func:`digest`) as valid; :meth:`flush` writes it."""
        known = self._load()
        if key not in known:
            known[key] = None
            self.dirty = True

    def flush(self, keep: set[str] | None = None) -> None:
        """Write the memo atomically (keeping only the digests in ``keep``, if given); best effort."""
        known = self._load()
        if keep is not None and not keep.issuperset(known):
            for key in [k for k in known if k not in keep]:
                del known[key]
            self.dirty = True
        if not self.dirty or not (self.mkdir or self.file.parent.is_dir()):
            return
        kept = list(known)[-self.limit :] if self.limit else list(known)
        data = ("\n".join([self._schema, *kept]) + "\n").encode()
        tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
        try:
            if self.mkdir:
                make_private_dirs(self.file.parent)  # 0700 each, whatever the umask
            # 0600 whatever the umask (and whatever a leftover temp file had).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fd, 0o600)
                fh.write(data)
            os.replace(tmp, self.file)
        except OSError:
            return
        self.dirty = False
