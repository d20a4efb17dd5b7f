"""Modules a library imports when it is imported, but uses only on paths this program seldom takes.

invoke imports its vendored PyYAML (``invoke.vendor.yaml``, ~20 ms) for
invoke's own config files (``/etc/invoke.yaml``, ``~/.invoke.yaml``), which
this program neither needs nor usually finds; plumbum imports
``urllib.request`` (~13 ms, with ``http.client``) for ``LocalPath.as_uri``.
Both were paid on every ``start``. While such a library is imported,
:func:`deferred` puts a stand-in in ``sys.modules`` for each of those
modules: the library keeps the stand-in, and the stand-in imports the real
module on its first attribute read and becomes it. Fail-safe: a library that
reads the module while it is being imported just gets the real one then.
Only start-up time is at stake, never behaviour.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any


class _StandIn(types.ModuleType):
    """A module that imports the real one of its name on its first attribute read, and takes
    on its contents."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]  # read while still standing in: the real one now
        real = importlib.import_module(name)
        vars(self).update(vars(real))
        return getattr(real, attr)


@contextlib.contextmanager
def deferred(*names: str) -> Iterator[None]:
    """Within the block, an ``import`` of any of ``names`` not imported yet gets a stand-in
    that imports it on first use; after it, those imports are the ordinary ones again."""
    stands = {n: _StandIn(n) for n in names if n not in sys.modules}
    sys.modules.update(stands)
    try:
        yield
    finally:
        for name, stand in stands.items():
            if sys.modules.get(name) is stand:
                del sys.modules[name]
