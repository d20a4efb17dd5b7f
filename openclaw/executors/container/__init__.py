"""The container executor: see :mod:`openclaw.executors.container.executor`."""

from openclaw.executors.container.executor import (
    ENTRY,
    ContainerExecutor,
    container_name,
    observation_from_state,
)
from openclaw.executors.container.follow import LogFollower
from openclaw.executors.container.staging import MOUNT, env_file_text, volume_args

__all__ = [
    "ENTRY",
    "MOUNT",
    "ContainerExecutor",
    "LogFollower",
    "container_name",
    "env_file_text",
    "observation_from_state",
    "volume_args",
]
