"""The container executor: see :mod:`openclaw.executors.container.executor`."""

from openclaw.executors.container.executor import ContainerExecutor
from openclaw.executors.container.follow import LogFollower
from openclaw.executors.container.run import ENTRY, container_name
from openclaw.executors.container.staging import MOUNT, env_file_text, volume_args
from openclaw.executors.container.state import observation_from_state

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
