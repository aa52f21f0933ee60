"""Starting, joining and describing Ray clusters.

``connect(None)`` starts the Session's own local cluster (Ray's ``address="local"``:
a stale address file left by a dead ``ray start`` is never tried), on loopback only
and with token authentication on. ``connect("auto")`` joins the cluster ``RAY_ADDRESS``
names, else the one ``dataflow cluster up`` recorded (``cluster/local.py``), else
Ray's own lookup; ``connect("host:port")`` joins that cluster.
``local`` starts a multi-node cluster of real raylets on loopback (``dataflow cluster up``).

Modules: ``auth`` (the token), ``local`` (``dataflow cluster up/down`` and the state
file), ``jobs`` (the Job Submission API), ``placement`` (instances to nodes, a pure
function), ``sockets`` (listening sockets of processes), ``cli`` (the subcommands).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflow.errors import DataflowError

from . import auth
from .local import LOOPBACK_ENV, running_state
from .placement import NodeCapacity, StageInstance, place

__all__ = [
    "ClusterInfo", "NodeCapacity", "StageInstance", "alive_nodes", "connect",
    "dashboard_help", "place", "resolve_address", "shutdown", "total_cpus", "validate_address",
]

_ADDRESS = re.compile(r"^(ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


@dataclass
class ClusterInfo:
    owns: bool  # whether this process started Ray (and so shuts it down)
    dashboard_url: str | None
    address: str | None


def validate_address(address: object) -> str | None:
    """``address`` if it is ``None``, ``"auto"``, ``"local"`` or ``host:port`` (optionally
    ``ray://host:port``); otherwise a :class:`DataflowError` that says what is accepted."""
    if address is None or address in ("auto", "local"):
        return address  # type: ignore[return-value]
    if isinstance(address, str):
        m = _ADDRESS.match(address.strip())
        if m and 0 < int(m.group(3)) < 65536:
            return address.strip()
    raise DataflowError(
        f"bad cluster address {address!r}: use None (start a local cluster), 'auto' (join the "
        "cluster `dataflow cluster up` started, or $RAY_ADDRESS), or 'host:port' of a Ray head (its GCS port)"
    )


def resolve_address(address: str | None) -> tuple[str | None, Any]:
    """The address ``connect`` will use, and the ``dataflow cluster up`` state it came
    from (or ``None``). ``"auto"`` is ``RAY_ADDRESS`` if set (as in Ray, and inside a
    job), else the cluster ``dataflow cluster up`` recorded, else Ray's own ``"auto"``."""
    address = validate_address(address)
    if address in (None, "local"):
        return None, None
    state = running_state()
    if address != "auto":
        same = state is not None and _same_address(address, state.gcs_address)
        return address, state if same else None
    if os.environ.get("RAY_ADDRESS"):  # as Ray's "auto": a job's driver joins its own cluster
        env_address = validate_address(os.environ["RAY_ADDRESS"])
        same = state is not None and env_address is not None and _same_address(env_address, state.gcs_address)
        return env_address, state if same else None
    if state is not None:
        return state.gcs_address, state
    return "auto", None


def _is_loopback(address: str | None) -> bool:
    if address is None or address == "local":
        return True
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


@contextlib.contextmanager
def _loopback_node() -> Iterator[None]:
    """While Ray starts or joins a loopback cluster: keep this node's address 127.0.0.1.

    Ray turns ``127.0.0.1`` into the machine's routable address unless its
    ``ENABLE_RAY_CLUSTER`` switch is off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``); its
    gRPC servers bind loopback exactly when the node address is 127.0.0.1. The switch is
    put back afterwards, so a later join of a remote cluster finds its real address;
    the processes Ray starts meanwhile inherit the variable and stay on loopback.
    """
    import ray._private.ray_constants as ray_constants

    old_flag = ray_constants.ENABLE_RAY_CLUSTER
    old_env = os.environ.get(LOOPBACK_ENV)
    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ[LOOPBACK_ENV] = "0"
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_flag
        if old_env is None:
            os.environ.pop(LOOPBACK_ENV, None)
        else:
            os.environ[LOOPBACK_ENV] = old_env


def connect(
    address: str | None = None, num_cpus: int | None = None, dashboard: bool = True,
    metadata: dict[str, str] | None = None,
) -> ClusterInfo:
    """Start the Session's own local Ray cluster (``address=None``), or join one
    (``"auto"`` or ``host:port``); return what was done. A cluster started here
    listens on 127.0.0.1 only (GCS, raylet, object manager, workers, dashboard) and
    uses token authentication (the token is created in ``~/.ray/auth_token`` if
    missing). Joining a cluster that ``dataflow cluster up`` recorded turns token mode
    on with its token (Ray does not do that by itself for an explicit address); any
    other join follows Ray (``RAY_AUTH_MODE``), and a refused token becomes an error
    that says what to set."""
    import ray

    target, state = resolve_address(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # this machine may have no network
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if target not in (None, "auto") and not _same_address(target, current):
            raise DataflowError(
                f"Ray is already connected to {current} in this process; cannot also join {target} "
                "(close the other Session, or call ray.shutdown(), first)"
            )
        return ClusterInfo(owns=False, dashboard_url=_dashboard_url(None, state), address=current)
    kwargs: dict[str, Any] = {
        "logging_level": logging.WARNING,
        "configure_logging": True,
        "log_to_driver": True,
    }
    if target is None:
        kwargs.update(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=dashboard,
            _node_ip_address="127.0.0.1",
        )
        if dashboard:
            kwargs["dashboard_host"] = "127.0.0.1"
    else:
        kwargs["address"] = target
        if state is not None:  # a cluster `dataflow cluster up` started: it uses this token
            auth.enable_for_client(Path(state.token_path))
    if metadata:  # shown on the dashboard's Jobs page
        from ray.job_config import JobConfig

        kwargs["job_config"] = JobConfig(metadata=dict(metadata))
    with _loopback_node() if _is_loopback(target) else contextlib.nullcontext():
        try:
            ctx = ray.init(**kwargs)
        except Exception as e:
            if "auth" in f"{type(e).__name__} {e}".lower():
                raise DataflowError(
                    f"the Ray cluster at {target} refused this process's token: it uses token "
                    f"authentication, so set {auth.AUTH_MODE_ENV}=token and give this process the "
                    f"cluster's token (in {auth.default_token_path()}, or ${auth.TOKEN_PATH_ENV} / "
                    f"${auth.TOKEN_ENV}); ({type(e).__name__}: {e})"
                ) from e
            if isinstance(e, ConnectionError):
                hint = ""
                if os.environ.get(auth.AUTH_MODE_ENV, "").lower() != "token":
                    hint = (
                        f". If the cluster uses token authentication (Ray's GCS then logs "
                        f"InvalidAuthToken above), set {auth.AUTH_MODE_ENV}=token and give this process "
                        f"the cluster's token (in {auth.default_token_path()}, or ${auth.TOKEN_PATH_ENV} / "
                        f"${auth.TOKEN_ENV})"
                    )
                raise DataflowError(f"cannot join the Ray cluster at {target}: {e}{hint}") from e
            raise
    info_address = getattr(ctx, "address_info", {}).get("address")
    return ClusterInfo(owns=target is None, dashboard_url=_dashboard_url(ctx, state), address=info_address)


def _same_address(a: str, b: str | None) -> bool:
    if b is None:
        return False
    norm = {"localhost": "127.0.0.1"}
    ha, _, pa = a.removeprefix("ray://").rpartition(":")
    hb, _, pb = b.rpartition(":")
    return pa == pb and norm.get(ha, ha) == norm.get(hb, hb)


def _dashboard_url(ctx: Any, state: Any) -> str | None:
    """The dashboard's URL: from ``ray.init``'s context, else the address the dashboard
    recorded in the cluster's key-value store (what a joining driver reads), else
    the state file of ``dataflow cluster up``."""
    url = getattr(ctx, "dashboard_url", None) if ctx is not None else None
    if not url:
        try:
            from ray._private.services import get_webui_url_from_internal_kv

            url = get_webui_url_from_internal_kv()
        except Exception:
            url = None
    if not url and state is not None:
        url = state.dashboard_url
    if url and not str(url).startswith("http"):
        url = "http://" + str(url)
    return str(url) if url else None


def dashboard_help(url: str | None) -> str | None:
    """How to authenticate to the dashboard at ``url`` with the cluster's token."""
    return auth.dashboard_help(url)


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def alive_nodes() -> list[dict[str, Any]]:
    """Alive nodes with CPUs, in a stable order (so placement is repeatable)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    try:  # the scheduler's own view: a node that just joined is listed before it is in it,
        # and an actor placed there then (soft affinity) silently lands elsewhere
        from ray._private.state import total_resources_per_node

        known = set(total_resources_per_node())
    except Exception:  # a private API: never let it break placement
        known = None
    if known:
        nodes = [n for n in nodes if n["NodeID"] in known] or nodes
    return sorted(nodes, key=lambda n: n["NodeID"])


def total_cpus() -> int:
    import ray

    return int(ray.cluster_resources().get("CPU", 1))
