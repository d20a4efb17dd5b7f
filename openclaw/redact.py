"""Taking a task's secret values out of what is recorded or shown, without keeping the values.

At ``start`` the values of the executor's ``env`` and ``pass_env`` are known.
Later, a ``status`` in another shell may not have the ``pass_env`` ones, yet
the record it writes (an ``error`` line from the agent's stderr, the result
text) must not hold them. So ``start`` keeps, in the task's ``redact`` file
(0600), a random key and the keyed BLAKE2 digest of each value (as written,
and as escaped inside a JSON string): enough to recognise a value, not to
recover it. :meth:`Redactor.bytes` hashes every window of a text whose length
is that of a secret, and replaces the windows that match with ``[redacted]``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openclaw.task import TaskRecord

#: Shorter values (``IS_SANDBOX: "1"``) are not secrets worth hiding, and would hide everything.
MIN_SECRET = 4
MASK = b"[redacted]"


class Redactor:
    """Recognises a task's secret values by keyed digests of them."""

    def __init__(self, key: bytes = b"", digests: dict[int, set[str]] | None = None) -> None:
        self.key = key
        self.digests = digests or {}

    @classmethod
    def from_values(cls, values: Iterable[str]) -> Redactor:
        """A redactor for ``values`` (each as written and as escaped in a JSON string)."""
        out = cls(os.urandom(16))
        for value in values:
            if len(value) < MIN_SECRET:
                continue
            for form in {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}:
                data = form.encode("utf-8", "surrogateescape")
                out.digests.setdefault(len(data), set()).add(out._digest(data))
        return out

    def _digest(self, data: bytes) -> str:
        return hashlib.blake2b(data, key=self.key, digest_size=16).hexdigest()

    def save(self, path: Path) -> None:
        """Write the key and digests to ``path`` (0600, new file)."""
        doc = {"key": self.key.hex(), "digests": {str(n): sorted(d) for n, d in self.digests.items()}}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            json.dump(doc, fh)

    @classmethod
    def load(cls, path: Path) -> Redactor:
        """The redactor saved at ``path``; one that finds nothing when there is none (or it is unreadable)."""
        try:
            doc = json.loads(path.read_text(encoding="ascii"))
            return cls(bytes.fromhex(doc["key"]), {int(n): set(d) for n, d in doc["digests"].items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls()

    def bytes(self, data: bytes) -> bytes:
        """``data`` with every secret value in it replaced by ``[redacted]``."""
        if not self.digests or not data:
            return data
        for size in sorted(self.digests, reverse=True):
            wanted = self.digests[size]
            out = bytearray()
            i = 0
            last = len(data) - size
            while i <= last:
                if self._digest(data[i : i + size]) in wanted:
                    out += MASK
                    i += size
                else:
                    out.append(data[i])
                    i += 1
            out += data[i:]
            data = bytes(out)
        return data

    def text(self, text: str) -> str:
        """:meth:`bytes` for a string."""
        if not self.digests or not text:
            return text
        return self.bytes(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")

    def record(self, meta: TaskRecord) -> TaskRecord:
        """``meta`` with secret values taken out of its free-text fields (error, result text)."""
        if not self.digests:
            return meta
        out = meta.copy()
        if out["error"]:
            out["error"] = self.text(out["error"])
        result = out["result"]
        if isinstance(result, dict) and isinstance(result.get("text"), str):
            out["result"] = dict(result, text=self.text(result["text"]))
        return out
