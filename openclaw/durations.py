"""Durations as people write them (``90s``, ``30m``, ``2h``, ``1h30m``, ``45``) and as we show them."""

from __future__ import annotations

import math
import re

from openclaw.errors import UsageError

#: The longest duration anything takes: a year.
MAX_SECONDS = 365 * 24 * 3600.0
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[dhms])+$")


def parse_duration(value: object, what: str = "--timeout") -> float:
    """Seconds from ``90s``, ``30m``, ``2h``, ``1h30m``, ``1d`` or a plain number of seconds.

    More than 0 and at most a year; anything else is a :class:`UsageError`
    naming ``what`` (the flag or config key) and the forms it takes.
    """
    hint = f"e.g. {what} 90s, 30m, 2h or 1h30m (a plain number is seconds)"
    if isinstance(value, bool):
        raise UsageError(f"{what} takes a duration, not {value!r}", hint)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            if not _WHOLE.match(text):
                raise UsageError(f"{what} takes a duration, not {str(value)!r}", hint) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{what} must be more than 0 seconds, not {value!r}", hint)
    if seconds > MAX_SECONDS:
        raise UsageError(f"{what} must be at most a year, not {value!r}", hint)
    return seconds


def format_duration(seconds: float) -> str:
    """``30m``, ``2h``, ``1h30m``, ``90s`` → as short as it is exact (to the second), else ``1.5s``."""
    if seconds != int(seconds) or seconds < 1:
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)
