"""A small client of Ray's Jobs REST API (the dashboard's ``/api/jobs/``), on urllib.

``import ray`` costs about a second and is not needed: every call here is one
HTTP request to the head's dashboard. Values of auth headers come from the
environment by name, at each request, and are never stored.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from openclaw.errors import ExecutorError

#: Seconds one request may take, unless the executor's ``request_timeout`` says otherwise.
DEFAULT_TIMEOUT_S = 10.0
#: What the Jobs API of the oldest Ray this executor was tested with answers at ``/api/version``.
MIN_API_VERSION = 3


class ClusterUnreachable(ExecutorError):
    """The Jobs API did not answer: the cluster's state is unknown, not failed."""


class JobsError(ExecutorError):
    """The Jobs API answered with an error (Ray's message, cut to its last line)."""

    def __init__(self, executor: str, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(executor, message, hint)
        self.status = status


def _last_line(text: str) -> str:
    """Ray answers errors with a traceback: its last non-empty line says what went wrong."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no detail")[:300]


class JobsClient:
    """The Jobs API at ``address`` (``http://head:8265``), as executor ``name`` is configured."""

    def __init__(
        self,
        name: str,
        address: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.address = address.rstrip("/")
        #: Header name -> the environment variable that holds its value.
        self.header_vars = dict(headers or {})
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        out = {"Accept": "application/json"}
        for header, var in self.header_vars.items():
            value = os.environ.get(var)
            if value is None:
                raise ExecutorError(
                    self.name,
                    f"header {header} takes its value from ${var}, which is not set",
                    f"export {var} before running openclaw-agent",
                )
            out[header] = value
        return out

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        """One request; the decoded JSON answer (None for an empty one)."""
        url = self.address + path
        data = raw
        headers = self._headers()
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                text = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            if exc.code in (401, 403):
                raise JobsError(
                    self.name,
                    f"the Jobs API at {self.address} refused {method} {path}: HTTP {exc.code}",
                    exc.code,
                    "set the executor's headers (names of variables holding the credentials)",
                ) from None
            raise JobsError(self.name, f"Ray: {_last_line(detail)}", exc.code) from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClusterUnreachable(
                self.name,
                f"cannot reach the Ray Jobs API at {self.address} ({method} {url}): {reason}",
                "check the executor's address, and that the head's dashboard runs (ray start --head)",
            ) from None
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise JobsError(
                self.name, f"the Jobs API at {self.address} answered {path} with no JSON", 200
            ) from None

    # -- the calls ------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        """``/api/version``: the Jobs API's version and Ray's."""
        answer = self.request("GET", "/api/version")
        return answer if isinstance(answer, dict) else {}

    def upload(self, package: str, data: bytes) -> None:
        """Upload a ``working_dir`` package (``_ray_pkg_<hash>.zip``) to the cluster's GCS."""
        self.request("PUT", f"/api/packages/gcs/{package}", raw=data)

    def submit(self, job: dict[str, Any]) -> dict[str, Any]:
        """Submit a job; Ray's answer (``submission_id``)."""
        answer = self.request("POST", "/api/jobs/", body=job)
        return answer if isinstance(answer, dict) else {}

    def _known(self, method: str, path: str) -> dict[str, Any] | None:
        """A request about one job: its JSON object, or None when Ray does not know the job."""
        try:
            answer = self.request(method, path)
        except JobsError as exc:
            if exc.status == 404:
                return None
            raise
        return answer if isinstance(answer, dict) else {}

    def get(self, submission_id: str) -> dict[str, Any] | None:
        """One job's details, or None when Ray does not know it."""
        return self._known("GET", f"/api/jobs/{submission_id}")

    def jobs(self) -> list[dict[str, Any]]:
        """Every job the cluster knows, in one call."""
        answer = self.request("GET", "/api/jobs/")
        return [j for j in answer if isinstance(j, dict)] if isinstance(answer, list) else []

    def logs(self, submission_id: str) -> str:
        """The job's whole log (its entrypoint's output), or "" when Ray has none."""
        answer = self._known("GET", f"/api/jobs/{submission_id}/logs") or {}
        return str(answer.get("logs") or "")

    def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job; whether it says it did."""
        answer = self._known("POST", f"/api/jobs/{submission_id}/stop") or {}
        return bool(answer.get("stopped"))

    def delete(self, submission_id: str) -> None:
        """Delete a job (only a finished one) and its log; nothing when Ray does not know it."""
        self._known("DELETE", f"/api/jobs/{submission_id}")
