"""Jobs through Ray's Job Submission API (``dataflow submit``, ``jobs``, ``logs``).

A job is an entrypoint (a shell command) that the cluster's head runs; it shows in the
dashboard's Jobs page under its submission id (``dataflow-<time>-<random>``) and the
``job_name`` metadata key, with its entrypoint and log. The client talks to the
dashboard's HTTP server, and sends the token as ``Authorization: Bearer`` when token
mode is on in this process (:func:`auth.enable_for_client` turns it on).
"""

from __future__ import annotations

import os
import secrets
import shlex
import time
from pathlib import Path
from typing import Any

from dataflow.errors import DataflowError

from . import auth
from .local import running_state


def dashboard_address(address: str | None) -> tuple[str, Path | None]:
    """The dashboard (Job API) URL for ``address``, and the token file to use.

    ``None`` or ``"auto"``: the cluster ``dataflow cluster up`` recorded, else
    ``RAY_API_SERVER_ADDRESS`` / ``RAY_ADDRESS`` when they are ``http://`` URLs. An
    ``http(s)://`` address is the dashboard itself."""
    if address in (None, "auto"):
        state = running_state()
        if state is not None:
            return state.dashboard_url, Path(state.token_path)
        for var in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
            v = os.environ.get(var, "")
            if v.startswith(("http://", "https://")):
                return v, None
        raise DataflowError(
            "no cluster to submit to: start one with `dataflow cluster up`, or pass "
            "--address http://<head>:8265 (the Ray dashboard's address)"
        )
    if address.startswith(("http://", "https://")):
        return address.rstrip("/"), None
    raise DataflowError(
        f"bad job address {address!r}: jobs go through the Ray dashboard, e.g. http://127.0.0.1:8265"
    )


def client(address: str | None = None) -> Any:
    """A ``JobSubmissionClient`` for ``address`` (see :func:`dashboard_address`)."""
    url, token = dashboard_address(address)
    auth.enable_for_client(token)
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(url)
    except Exception as e:  # connection refused, 401/403 with Ray's explanation
        raise DataflowError(f"cannot reach the Ray Job API at {url}: {e}") from e


def new_submission_id() -> str:
    """``dataflow-<UTC time>-<4 hex>``: sortable, and unique enough for one cluster."""
    return f"dataflow-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def sql_entrypoint(query: str, data: str, *, python: str = "python", parallelism: int | None = None) -> str:
    """The shell command a ``dataflow submit --sql`` job runs on the head node: the
    ``dataflow sql`` command, joining the cluster the job runs in."""
    cmd = [python, "-m", "dataflow.cli", "sql", "--address", "auto", "--data", data]
    if parallelism is not None:
        cmd += ["--parallelism", str(parallelism)]
    cmd.append(query)
    return shlex.join(cmd)


def script_entrypoint(script: str, args: list[str], *, python: str = "python") -> str:
    return shlex.join([python, script, *args])


def submit(entrypoint: str, *, address: str | None = None, name: str | None = None,
           runtime_env: dict[str, Any] | None = None) -> str:
    """Submit ``entrypoint`` as a job; return its submission id."""
    from dataflow._version import __version__

    c = client(address)
    sid = new_submission_id()
    metadata = {"job_name": name or sid, "dataflow_version": __version__, "submitted_by": "dataflow"}
    return str(c.submit_job(entrypoint=entrypoint, submission_id=sid, metadata=metadata, runtime_env=runtime_env))


def wait(submission_id: str, *, address: str | None = None, timeout: float = 600.0) -> str:
    """Wait until the job stops; return its final status (``SUCCEEDED``, ``FAILED``, ``STOPPED``)."""
    c = client(address)
    deadline = time.monotonic() + timeout
    while True:
        status = str(c.get_job_status(submission_id).value)
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status
        if time.monotonic() > deadline:
            raise DataflowError(f"job {submission_id} still {status} after {timeout:.0f} s")
        time.sleep(0.5)


def list_jobs(address: str | None = None) -> list[dict[str, Any]]:
    """The cluster's jobs, oldest first, as plain dicts (id, name, status, entrypoint, times)."""
    out = []
    for j in client(address).list_jobs():
        out.append({
            "submission_id": j.submission_id,
            "name": (j.metadata or {}).get("job_name", ""),
            "status": str(j.status.value if hasattr(j.status, "value") else j.status),
            "entrypoint": j.entrypoint,
            "start_time": j.start_time,
            "end_time": j.end_time,
            "message": j.message or "",
            "metadata": dict(j.metadata or {}),
        })
    return sorted(out, key=lambda j: j["start_time"] or 0)


def logs(submission_id: str, address: str | None = None) -> str:
    """One job's log (what its entrypoint printed)."""
    c = client(address)
    try:
        return str(c.get_job_logs(submission_id))
    except RuntimeError as e:
        raise DataflowError(f"no job {submission_id!r} on this cluster ({e})") from e
