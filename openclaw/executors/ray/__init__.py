"""The Ray executor: each task is one Ray job on a Ray cluster, through its Jobs REST API.

- ``jobs.py``: ``JobsClient``, the Jobs API on urllib (``import ray`` is never needed here);
  auth header values from the environment by name.
- ``executor.py``: ``RayExecutor``: start uploads the task's package (prompt, env file,
  launcher: never in the entrypoint, ``runtime_env`` or metadata, which every dashboard user
  sees) and submits the job, its resources and label selector making Ray queue and place it;
  observe is one ``GET /api/jobs/`` for all tasks; logs come from the job's log (the agent's
  stdout, then the entry script's trailer: exit status, error, the end of stderr); kill
  stops the job; cleanup deletes it.
- ``entry.sh``: the job's entrypoint on the node (shellchecked): the task's directory, the
  workspace (a path, or a clone of ``git+URL[@ref]``), the launcher in the foreground, the
  trailer, and everything of the task stopped when its supervisor dies with its node.
"""

from openclaw.executors.ray.executor import RayExecutor

__all__ = ["RayExecutor"]
