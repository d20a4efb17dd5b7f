"""``RayExecutor``: each task is one Ray job, submitted through the Jobs REST API."""

from __future__ import annotations

import base64
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openclaw.agents.base import Launch
from openclaw.config import ExecutorConfig
from openclaw.errors import ExecutorError, StartError, UsageError
from openclaw.executors.base import Executor
from openclaw.executors.ray.jobs import DEFAULT_TIMEOUT_S, ClusterUnreachable, JobsClient, JobsError
from openclaw.records import TaskStore
from openclaw.states import Observation, stamp
from openclaw.task import TaskRecord

#: The line around the entry script's trailer on a job's log (see entry.sh).
MARK = "@@openclaw-ray-trailer@@"
#: The line after which the agent's output starts on a job's log (Ray's own lines come first).
BEGIN = "@@openclaw-ray-output@@"
#: Resource names Ray takes as their own submit fields, not as ``entrypoint_resources``.
BUILTIN = {"CPU": "entrypoint_num_cpus", "GPU": "entrypoint_num_gpus", "memory": "entrypoint_memory"}
#: Job states that are over.
TERMINAL = frozenset({"STOPPED", "SUCCEEDED", "FAILED"})
#: Where a task's directory is made on a node, unless ``remote_root`` says otherwise.
DEFAULT_ROOT = "~/.cache/openclaw/ray-tasks"
#: How long a kill waits for Ray to report the job over, beyond the grace period.
STOP_WAIT_S = 20.0


def submission_id(task_id: str) -> str:
    """The Ray job's submission id: the task's, recognisable in any listing."""
    return f"openclaw-{task_id}"


def git_workspace(workspace: str) -> tuple[str, str] | None:
    """``git+URL[@ref]`` as (URL, ref), or None for a path."""
    if not workspace.startswith("git+"):
        return None
    rest = workspace[4:]
    parsed = urllib.parse.urlsplit(rest)
    ref = ""
    if "@" in parsed.path:
        path, _, ref = parsed.path.rpartition("@")
        rest = urllib.parse.urlunsplit(parsed._replace(path=path))
    return rest, ref


@dataclass(frozen=True)
class Trailer:
    """What the entry script wrote after the agent's output: its exit status and the rest."""

    rc: int | None
    error: str | None
    stderr: bytes
    #: What the task changed in its clone (``changes``), when its branch was committed there.
    changes: dict[str, Any] | None = None
    #: Its branch's push: ``(ref, head, None)`` or ``(None, None, error)``.
    push: tuple[str | None, str | None, str | None] | None = None


def split_log(text: str) -> tuple[bytes, Trailer | None]:
    """A job's log as the agent's stdout (as Ray kept it: after the BEGIN line, before the
    trailer) and the trailer, once the entry script wrote it."""
    data = text.encode("utf-8", "surrogateescape")
    begin = f"{BEGIN}\n".encode()
    mark = f"\n{MARK}\n".encode()
    close = data.rfind(mark)
    opening = data.rfind(mark, 0, close) if close > 0 else -1
    end = opening if opening >= 0 else len(data)
    at = data.find(begin, 0, end)
    stdout = data[at + len(begin) : end] if at >= 0 else b""
    if opening < 0:
        return stdout, None
    rc: int | None = None
    error = None
    stderr = b""
    changes: dict[str, Any] | None = None
    push: tuple[str | None, str | None, str | None] | None = None
    for line in data[opening + len(mark) : close + 1].split(b"\n"):
        key, _, value = line.partition(b" ")
        words = value.decode("utf-8", "replace").split()
        if key == b"changes" and len(words) == 5 and all(w.isdigit() for w in words[2:]):
            changes = dict(zip(("base", "head"), words[:2], strict=True))
            changes.update(zip(("files", "insertions", "deletions"), map(int, words[2:]), strict=True))
        elif key == b"push" and words[:1] == ["ok"] and len(words) == 3:
            push = (words[1], words[2], None)
        elif key == b"push" and words[:1] == ["error"]:
            push = (None, None, " ".join(words[1:]) or "git push failed")
        if key == b"rc" and value.strip().lstrip(b"-").isdigit():
            rc = int(value)
        elif key == b"error":
            error = value.decode("utf-8", "replace").strip() or None
        elif key == b"stderr":
            try:
                stderr = base64.b64decode(value, validate=True)
            except ValueError:
                stderr = b""
    return stdout, Trailer(rc, error, stderr, changes, push)


class RayExecutor(Executor):
    """Runs each task as a Ray job on the cluster at ``address``; see the package docstring."""

    type = "ray"
    #: A submit whose answer was lost still lands in Ray: within this window, a task whose job
    #: Ray does not list yet may still appear.
    launch_window_s = 30.0

    def __init__(self, config: ExecutorConfig, store: TaskStore) -> None:
        super().__init__(config, store)
        opts = config.options
        self.address = str(opts["address"]).rstrip("/")
        self.client = JobsClient(
            config.name,
            self.address,
            opts.get("headers") or {},
            float(opts.get("request_timeout") or DEFAULT_TIMEOUT_S),
        )
        self.resources: dict[str, float] = dict(opts.get("resources") or {})
        self.label_selector: dict[str, str] = dict(opts.get("label_selector") or {})
        self.root = str(opts.get("remote_root") or DEFAULT_ROOT)
        #: Logs read this process, by task id, once the job is over (they no longer change).
        self._final_logs: dict[str, str] = {}
        #: Whether the cluster was found to offer this executor's resources (see _fits).
        self._checked = False

    def _ray_version(self) -> str:
        try:
            return f"Ray {self.client.version().get('ray_version', '?')}"
        except ExecutorError:
            return "its version unknown"

    # -- start --------------------------------------------------------------------------------
    def normalize_workspace(self, workspace: str | None) -> str:
        """A path on the nodes (absolute, or under ~), or ``git+URL[@ref]``; as given."""
        if workspace is None:
            raise UsageError(
                f"executor {self.config.name!r} (ray) needs --workspace",
                "a path that exists on the Ray nodes (shared storage), or git+URL[@ref] to clone",
            )
        if git_workspace(workspace) is None and not workspace.startswith(("/", "~")):
            raise UsageError(
                f"executor {self.config.name!r} (ray): workspace {workspace!r} is neither an absolute "
                "path on the nodes nor git+URL",
                "give /path/on/the/nodes, or git+https://host/repo.git[@ref]",
            )
        return workspace

    pass_env_remote = True
    places_later = True

    def host_script(self, tail: str, values: dict[str, str | int]) -> Any:
        """No host of the dispatcher's holds a ray task's git work: it was on the node."""
        raise UsageError(
            f"executor {self.config.name!r} (ray) keeps no checkout after a task: "
            "its clone went with its job",
            "start it with a git+ workspace and --push, then fetch its branch "
            "(openclaw/<short id>) from the remote",
        )

    def clones(self, workspace: str) -> bool:
        return git_workspace(workspace) is not None

    def check_resume(self, parent: TaskRecord) -> None:
        """A session in a scratch clone went with it; one in a shared workspace can go on."""
        if git_workspace(parent["workspace"]) is not None:
            raise UsageError(
                f"task {parent['task_id']} ran in a scratch clone on a Ray node, removed when it ended, "
                "so its session cannot be continued",
                "start a new task (with a workspace on shared storage, a later task can be resumed)",
            )

    def make_worktree(
        self, task_id: str, workspace: str, base: str | None, branch: str | None
    ) -> tuple[dict[str, str], str]:
        raise UsageError(
            f"executor {self.config.name!r} (ray) makes no worktrees: each node has its own disk",
            "give the task a workspace git+URL[@ref]: it clones into a scratch directory of its own",
        )

    def _package(self, meta: TaskRecord, spec: Launch) -> tuple[str, bytes]:
        """The task's working_dir package: the name Ray wants (``_ray_pkg_<hash>.zip``) and the zip."""
        import hashlib
        import io
        import shlex
        import zipfile

        from openclaw import scripts
        from openclaw.executors.container.staging import env_file_text

        task_id = meta["task_id"]
        ws = meta["workspace"]
        git = git_workspace(ws)
        settings = {
            "task_id": task_id,
            "root": self.root,
            "workspace": "" if git else ws,
            "git_url": git[0] if git else "",
            "git_ref": git[1] if git else "",
            "timeout": str(int(spec.timeout_s)) if spec.timeout_s else "0",
            "status_url": f"{self.address}/api/jobs/{submission_id(task_id)}",
            "header_vars": ",".join(f"{h}={v}" for h, v in self.client.header_vars.items()),
            "push_remote": (meta.get("push") or {}).get("remote") or "",
            "branch": f"openclaw/{task_id[:8]}",
        }
        task_sh = "".join(f"{k}={shlex.quote(v)}\n" for k, v in settings.items())
        task_sh += "set -- " + " ".join(shlex.quote(a) for a in spec.argv) + "\n"
        prompt = self.store.file(task_id, "prompt").read_bytes()
        files = {
            "entry.sh": (Path(__file__).parent / "entry.sh").read_bytes(),
            "launcher.sh": scripts.standalone_launcher(),
            "taskprocs.sh": scripts.taskprocs().encode(),
            "task.sh": task_sh.encode(),
            "prompt": prompt,
            "env": env_file_text(spec.env).encode(),
            **spec.files,
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o600 << 16
                zf.writestr(info, data)
        data = buf.getvalue()
        return f"_ray_pkg_{hashlib.blake2b(data, digest_size=16).hexdigest()}.zip", data

    def _job(self, task_id: str, package: str) -> dict[str, Any]:
        job: dict[str, Any] = {
            "entrypoint": "sh entry.sh",
            "submission_id": submission_id(task_id),
            "runtime_env": {"working_dir": f"gcs://{package}"},
            "metadata": {"openclaw_task": task_id},
        }
        custom = {k: v for k, v in self.resources.items() if k not in BUILTIN}
        if custom:
            job["entrypoint_resources"] = custom
        for name, field in BUILTIN.items():
            if name in self.resources:
                job[field] = self.resources[name]
        if self.label_selector:
            job["entrypoint_label_selector"] = self.label_selector
        return job

    def _fits(self) -> None:
        """Refuse, in one line, resources (and labels) that no live node of the cluster offers:
        Ray would hold such a job pending for 15 minutes, then fail it. Checked once per process;
        skipped when the cluster's state API does not answer (an older Ray)."""
        if self._checked or not (self.resources or self.label_selector):
            return
        try:
            answer = self.client.request("GET", "/api/v0/nodes?detail=1&limit=10000")
            nodes = answer["data"]["result"]["result"]
        except (ClusterUnreachable, JobsError, KeyError, TypeError):
            return
        alive = [n for n in nodes if isinstance(n, dict) and n.get("state") == "ALIVE"]
        self._checked = True

        def offers(node: dict[str, Any]) -> bool:
            have = node.get("resources_total") or {}
            labels = node.get("labels") or {}
            return all(float(have.get(k, 0)) >= v for k, v in self.resources.items()) and all(
                labels.get(k) == v
                for k, v in self.label_selector.items()
                if not v.startswith(("!", "in(", "!in("))
            )

        if alive and not any(offers(n) for n in alive):
            self._checked = False
            wanted = ", ".join(f"{k}: {v:g}" for k, v in self.resources.items())
            picky = f" with labels {self.label_selector}" if self.label_selector else ""
            raise StartError(
                f"no node of the Ray cluster at {self.address} offers {{{wanted}}}{picky} "
                f"({len(alive)} node(s) alive)",
                "fix the executor's resources or label_selector, or add such a node (Ray would hold "
                "the job pending, then fail it after RAY_JOB_START_TIMEOUT_SECONDS)",
            )

    def start(self, meta: TaskRecord, spec: Launch) -> dict[str, Any]:
        """Upload the task's package and submit its job; Ray places and queues it."""
        task_id = meta["task_id"]
        package, data = self._package(meta, spec)
        try:
            self._fits()
            self.client.upload(package, data)
            self.client.submit(self._job(task_id, package))
        except ClusterUnreachable as exc:
            raise StartError(exc.message, exc.hint, unreachable=True) from None
        except JobsError as exc:
            field = re.search(r"unexpected keyword argument '(\w+)'", exc.message)
            if field:
                raise StartError(
                    f"the Ray cluster at {self.address} is too old for {field.group(1)} "
                    f"({self._ray_version()})",
                    "upgrade Ray on the cluster, or remove the setting that needs it (label_selector)",
                ) from None
            raise StartError(
                f"{exc.message} (submitting the job of task {task_id[:8]})",
                "check the executor's resources and label_selector against the cluster's nodes",
            ) from None
        except ExecutorError as exc:
            raise StartError(exc.message, exc.hint) from None
        return {"ray": {"submission_id": submission_id(task_id), "address": self.address}}

    # -- observe --------------------------------------------------------------------------------
    def observe(self, metas: list[TaskRecord]) -> dict[str, Observation]:
        """One ``GET /api/jobs/`` for all the tasks; a log read for each job that is over."""
        try:
            listing = {j.get("submission_id"): j for j in self.client.jobs()}
        except ExecutorError as exc:
            unknown = Observation(alive=None, reason=exc.one_line())
            return {m["task_id"]: unknown for m in metas}
        out: dict[str, Observation] = {}
        for meta in metas:
            job = listing.get(submission_id(meta["task_id"]))
            try:
                out[meta["task_id"]] = self._observe_one(meta, job)
            except ExecutorError as exc:
                out[meta["task_id"]] = Observation(alive=None, reason=exc.one_line())
        return out

    def _placed(self, job: dict[str, Any]) -> dict[str, Any]:
        """The record fields of where Ray ran the job."""
        node = job.get("driver_node_id")
        where = urllib.parse.urlsplit(str(job.get("driver_agent_http_address") or "")).hostname
        fields: dict[str, Any] = {
            "ray": {"submission_id": job.get("submission_id"), "address": self.address, "node_id": node}
        }
        if where:
            fields["host"] = where
        return fields

    def _observe_one(self, meta: TaskRecord, job: dict[str, Any] | None) -> Observation:
        task_id = meta["task_id"]
        if job is None:
            young = time.time() - _seconds(meta["created_at"]) < self.launch_window_s
            return Observation(
                alive=False,
                in_flight=young and meta["status"] == "pending",
                reason=f"the Ray cluster at {self.address} no longer knows job {submission_id(task_id)} "
                "(its head restarted and lost its history, or the job was deleted)",
            )
        status = str(job.get("status") or "")
        message = str(job.get("message") or "").strip()
        if status == "PENDING":
            return Observation(
                alive=False, in_flight=True, reason=f"Ray: {message or 'waiting for resources'}"
            )
        placed = self._placed(job) if job.get("driver_node_id") else None
        if status == "RUNNING":
            return Observation(alive=True, started=placed)
        # Over: what the entry script said, from the log's trailer.
        try:
            stdout, trailer = split_log(self._log(task_id, final=True))
        except JobsError as exc:
            if status != "FAILED":  # it ended, but how is on a node Ray cannot read now
                return Observation(alive=None, reason=f"its job is {status.lower()}; {exc.message}")
            stdout, trailer = b"", None  # its node is gone with the log: Ray's word is all there is
        ended = job.get("end_time")
        finished = stamp(ended / 1000) if isinstance(ended, (int, float)) else None
        if trailer is not None and trailer.rc is not None:
            if status == "STOPPED" or trailer.error is None:
                from openclaw import launch

                obs = launch.exited(trailer.rc, stdout[-256 * 1024 :], trailer.stderr[-4096:], finished)
                stopped = status == "STOPPED"
            else:
                obs = Observation(
                    alive=False,
                    exit_code=trailer.rc,
                    reason=trailer.error,
                    finished_at=finished,
                    succeeded=False,
                )
                stopped = False
            from dataclasses import replace

            pushed = None
            if trailer.push is not None and meta.get("push"):
                ref, head, why = trailer.push
                pushed = {
                    "push": {
                        "remote": meta["push"]["remote"],  # type: ignore[index]
                        "ref": ref,
                        "head": head,
                        "pushed_at": finished if ref else None,
                        "error": why,
                    }
                }
            return replace(
                obs,
                started=placed,
                killed_outside=stopped,
                changes=trailer.changes or obs.changes,
                fields=pushed,
            )
        if status == "STOPPED":
            return Observation(
                alive=False,
                started=placed,
                killed_outside=True,
                reason="its Ray job was stopped",
                finished_at=finished,
            )
        return Observation(
            alive=False, started=placed, reason=f"Ray: {message or status.lower()}", finished_at=finished
        )

    def _log(self, task_id: str, final: bool = False) -> str:
        if task_id in self._final_logs:
            return self._final_logs[task_id]
        text = self.client.logs(submission_id(task_id))
        if final:
            self._final_logs[task_id] = text
        return text

    # -- kill and cleanup -----------------------------------------------------------------------
    def kill(self, meta: TaskRecord, grace: float) -> None:
        """Stop the job (Ray signals the entry's process group: the launcher stops the agent and
        what it left), and wait until Ray reports it over."""
        sid = submission_id(meta["task_id"])
        try:
            job = self.client.get(sid)
            if job is None or job.get("status") in TERMINAL:
                return
            self.client.stop(sid)
            deadline = time.monotonic() + grace + STOP_WAIT_S
            while time.monotonic() < deadline:
                job = self.client.get(sid)
                if job is None or job.get("status") in TERMINAL:
                    return
                time.sleep(0.2)
        except ClusterUnreachable as exc:
            raise ExecutorError(self.config.name, exc.message.split(": ", 1)[-1], exc.hint) from None
        raise ExecutorError(
            self.config.name,
            f"Ray did not report job {sid} over within {grace + STOP_WAIT_S:g} s of its stop",
            "try the kill again; 'ray job status' on the cluster tells more",
        )

    def cleanup(self, meta: TaskRecord) -> None:
        """Delete the job and its log from the cluster (its files on the node went when it ended)."""
        sid = submission_id(meta["task_id"])
        job = self.client.get(sid)
        if job is None:
            return
        if job.get("status") not in TERMINAL:
            raise ExecutorError(
                self.config.name, f"job {sid} is still {job.get('status')} in Ray", "kill the task first"
            )
        self.client.delete(sid)

    # -- output ---------------------------------------------------------------------------------
    def _stream(self, meta: TaskRecord, stream: str) -> bytes:
        final = meta["status"] in ("completed", "failed", "killed", "lost")
        stdout, trailer = split_log(self._log(meta["task_id"], final=final))
        if stream == "stdout":
            return stdout
        return trailer.stderr if trailer is not None else b""

    def tail(self, meta: TaskRecord, stream: str, lines: int) -> list[bytes]:
        data = self._stream(meta, stream)
        out = data.split(b"\n")
        if out and out[-1] == b"":
            out.pop()
        return out[-lines:] if lines else []

    def read_from(self, meta: TaskRecord, stream: str, offset: int) -> tuple[bytes, int]:
        data = self._stream(meta, stream)
        return data[offset:], len(data)

    def size(self, meta: TaskRecord, stream: str) -> int:
        return len(self._stream(meta, stream))


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
