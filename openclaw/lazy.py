"""Modules a library imports when it is imported, but uses only on paths this program seldom takes.

invoke imports its vendored PyYAML (``invoke.vendor.yaml``, ~20 ms) for
invoke's own config files (``/etc/invoke.yaml``, ``~/.invoke.yaml``), which
this program neither needs nor usually finds; plumbum imports
``urllib.request`` (~13 ms, with ``http.client``) for ``LocalPath.as_uri``, and
``socket`` and ``pickle`` (~3 ms) for SSH machines and daemonizing, all of them
used only inside functions this program never calls (see :func:`plumbum_local`).
They were paid on every ``start``. While such a library is imported,
:func:`deferred` puts a stand-in in ``sys.modules`` for each of those
modules: the library keeps the stand-in, and the stand-in imports the real
module on its first attribute read and becomes it. Fail-safe: a library that
reads the module while it is being imported just gets the real one then.
Only start-up time is at stake, never behaviour.

paramiko asks ``importlib.metadata`` (~12 ms, with ``email`` and ``zipfile``)
for nothing but its own version, once, as it is imported. :func:`quick_versions`
stands in for that module with a ``version()`` that reads the version off the
distribution's ``NAME-VERSION.dist-info`` directory name; anything it cannot
answer that way (no such directory, or several) and any other attribute come
from the real module.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
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


class _Metadata(_StandIn):
    """``importlib.metadata`` whose ``version()`` is read off ``*.dist-info`` directory names."""

    def version(self, distribution_name: str) -> str:
        """The installed version of ``distribution_name``, as ``importlib.metadata.version``."""
        found = _dist_info_version(distribution_name)
        if found is not None:
            return found
        real: Any = self.__getattr__("version")
        return str(real(distribution_name))


def _dist_info_version(name: str) -> str | None:
    """The version in the one ``NAME-VERSION.dist-info`` directory of the first ``sys.path``
    entry that has any for ``name`` (PEP 427/503 normalised); None when unsure."""
    wanted = re.sub(r"[-_.]+", "_", name).lower() + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        hits = [n for n in names if n.endswith(".dist-info") and n.lower().startswith(wanted)]
        if hits:
            version = hits[0][len(wanted) : -len(".dist-info")]
            return version if len(hits) == 1 and version and "-" not in version else None
    return None


@contextlib.contextmanager
def quick_versions() -> Iterator[None]:
    """Within the block, ``importlib.metadata`` (if not imported yet) is :class:`_Metadata`."""
    name = "importlib.metadata"
    if name in sys.modules:
        yield
        return
    stand = _Metadata(name)
    sys.modules[name] = stand
    try:
        yield
    finally:
        if sys.modules.get(name) is stand:
            del sys.modules[name]
        if getattr(sys.modules.get("importlib"), "metadata", None) is stand:
            delattr(sys.modules["importlib"], "metadata")


def plumbum_local() -> Any:
    """plumbum's ``local`` machine, imported without the modules only its unused paths read."""
    with deferred("urllib.request", "socket", "pickle"):
        from plumbum import local
    return local
