"""Executors, one module per backend; imported lazily so a command loads only what it uses."""

from __future__ import annotations

from importlib import import_module

from openclaw.config import ExecutorConfig
from openclaw.errors import UsageError
from openclaw.executors.base import Executor
from openclaw.records import TaskStore

#: executor type -> "module:class"
BACKENDS = {
    "local": "openclaw.executors.local:LocalExecutor",
    "ssh": "openclaw.executors.ssh:SSHExecutor",
    "container": "openclaw.executors.container:ContainerExecutor",
    "ray": "openclaw.executors.ray:RayExecutor",
}


def executor_class(executor_type: str) -> type[Executor]:
    """The class of executors of type ``executor_type`` (imported on first use)."""
    target = BACKENDS.get(executor_type)
    if target is None:
        raise UsageError(
            f"executor type {executor_type!r} is not supported by this version",
            f"supported types: {', '.join(sorted(BACKENDS))}",
        )
    module, cls = target.split(":")
    backend: type[Executor] = getattr(import_module(module), cls)
    return backend


def get_executor(config: ExecutorConfig, store: TaskStore) -> Executor:
    """An executor object for ``config``."""
    if config.type not in BACKENDS:
        raise UsageError(
            f"executor {config.name!r}: type {config.type!r} is not supported by this version",
            f"supported types: {', '.join(sorted(BACKENDS))}",
        )
    return executor_class(config.type)(config, store)
