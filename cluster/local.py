"""A real multi-node Ray cluster on this machine, started with ``ray start``
(``dataflow cluster up``), and the state file that lets ``down``, ``status`` and
``Session(address="auto")`` find it again.

Every node is a ``ray start --block`` process of its own (started in a new session, so
its raylet, object store, agents and workers form one process group), on loopback
only, with ports chosen free at start: several clusters (other users', other
agents') can run on one machine. ``down`` stops only the processes recorded here,
never ``ray stop``. The state file is ``~/.dataflow/cluster.json`` unless
``DATAFLOW_CLUSTER_STATE`` names another.

This module imports nothing from Ray: the CLI and its unit tests do not need it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

from dataflow.errors import DataflowError

from . import auth

STATE_ENV = "DATAFLOW_CLUSTER_STATE"
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
READY_MARK = "This command will now block forever"
#: Ray refuses an object store under 75 MiB
MIN_OBJECT_STORE = 75 * 1024 * 1024


class ClusterError(DataflowError):
    """A local cluster could not be started, found or stopped."""


class NodeProcess(BaseModel):
    """One node of a local cluster: the ``ray start --block`` process that owns it."""

    role: str  # "head" or "worker"
    pid: int
    start_time: int  # the process's start time (/proc/<pid>/stat), to tell pid reuse
    log: str
    ports: dict[str, int] = Field(default_factory=dict)


class ClusterState(BaseModel):
    """What ``dataflow cluster up`` started, as recorded in the state file."""

    gcs_address: str
    dashboard_url: str
    token_path: str
    temp_dir: str
    cpus_per_node: int | None = None
    object_store_memory: int | None = None
    started: float = 0.0
    nodes: list[NodeProcess] = Field(default_factory=list)

    def alive_nodes(self) -> list[NodeProcess]:
        return [n for n in self.nodes if process_alive(n.pid, n.start_time)]


# -- processes and ports ------------------------------------------------------------------


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or ``None`` if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited
        return None
    return int(fields[19])


def process_alive(pid: int, start_time: int) -> bool:
    """Whether ``pid`` is still the process that was recorded (not a reused pid)."""
    return process_start_time(pid) == start_time


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on loopback now (held open together, so distinct)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# -- the state file -------------------------------------------------------------------------


def state_path(path: str | Path | None = None) -> Path:
    """The state file: ``path``, else ``$DATAFLOW_CLUSTER_STATE``, else ``~/.dataflow/cluster.json``."""
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV]).expanduser()
    return Path.home() / ".dataflow" / "cluster.json"


def read_state(path: str | Path | None = None) -> ClusterState | None:
    """The recorded cluster, or ``None`` if there is no state file. A state file that
    cannot be read is an error that names it."""
    p = state_path(path)
    if not p.exists():
        return None
    try:
        return ClusterState.model_validate_json(p.read_text())
    except ValueError as e:
        raise ClusterError(f"the cluster state file {p} is not valid ({e}); remove it") from None


def write_state(state: ClusterState, path: str | Path | None = None) -> Path:
    p = state_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    tmp.replace(p)
    return p


def running_state(path: str | Path | None = None) -> ClusterState | None:
    """The recorded cluster if its head node is still running, else ``None``."""
    state = read_state(path)
    if state is None or not state.nodes or not process_alive(state.nodes[0].pid, state.nodes[0].start_time):
        return None
    return state


# -- ray start ------------------------------------------------------------------------------


def parse_size(text: str | int) -> int:
    """Bytes from ``"2G"``, ``"512M"``, ``"300MB"``, ``"1.5GiB"`` or a number of bytes."""
    if isinstance(text, int):
        return text
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    mult = 1
    if t and t[-1] in units:
        mult, t = units[t[-1]], t[:-1]
    try:
        value = float(t)
    except ValueError:
        raise ClusterError(f"not a size: {text!r} (use bytes, or a number with K, M, G or T)") from None
    if value <= 0:
        raise ClusterError(f"a size must be positive, got {text!r}")
    return int(value * mult)


def node_command(
    role: str,
    ports: dict[str, int],
    *,
    gcs_address: str | None = None,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    temp_dir: str | None = None,
) -> list[str]:
    """The ``ray start --block`` command line of one loopback node (through the
    wrapper in ``_ray_start``, which keeps the node address ``127.0.0.1``)."""
    cmd = [sys.executable, "-m", "dataflow.cluster._ray_start", "start", "--block", "--node-ip-address=127.0.0.1"]
    if role == "head":
        cmd += [
            "--head",
            f"--port={ports['gcs']}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={ports['dashboard']}",
            f"--ray-client-server-port={ports['client']}",
        ]
    else:
        if gcs_address is None:
            raise ClusterError("a worker node needs the head's address")
        cmd.append(f"--address={gcs_address}")
    cmd += [
        f"--node-manager-port={ports['node_manager']}",
        f"--object-manager-port={ports['object_manager']}",
        f"--metrics-export-port={ports['metrics']}",
        f"--dashboard-agent-listen-port={ports['agent_http']}",
        f"--dashboard-agent-grpc-port={ports['agent_grpc']}",
        f"--runtime-env-agent-port={ports['runtime_env']}",
        # 0: each worker binds a port the kernel picks, so nodes never compete for a range
        "--min-worker-port=0",
        "--max-worker-port=0",
        "--disable-usage-stats",
    ]
    if num_cpus is not None:
        cmd.append(f"--num-cpus={num_cpus}")
    if object_store_memory is not None:
        cmd.append(f"--object-store-memory={object_store_memory}")
    if temp_dir is not None:
        cmd.append(f"--temp-dir={temp_dir}")
    return cmd


NODE_PORTS = ("node_manager", "object_manager", "metrics", "agent_http", "agent_grpc", "runtime_env")
HEAD_PORTS = ("gcs", "dashboard", "client")


def node_environment(token_file: Path) -> dict[str, str]:
    """The environment of every node: token mode with ``token_file``, no usage
    reporting, and this Python's ``bin`` first on ``PATH`` (so a job's ``python``
    is the one dataflow is installed in)."""
    env = auth.node_env(token_file)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env[LOOPBACK_ENV] = "0"  # the node's processes see a loopback node address (see _ray_start)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def _start_node(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> tuple[int, int]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _kill_group(proc.pid)  # what the failed node had started (its own process group)
            tail = log.read_text(errors="replace")[-3000:]
            raise ClusterError(f"`ray start` exited with code {proc.returncode}; its log ({log}) ends:\n{tail}")
        if READY_MARK in log.read_text(errors="replace"):
            start = process_start_time(proc.pid)
            assert start is not None
            return proc.pid, start
        time.sleep(0.3)
    _stop_pid(proc.pid, process_start_time(proc.pid) or 0)
    raise ClusterError(f"`ray start` did not report ready within {timeout:.0f} s; see {log}")


def up(
    nodes: int = 2,
    cpus_per_node: int | None = None,
    object_store_memory: int | str | None = None,
    *,
    path: str | Path | None = None,
    temp_dir: str | None = None,
    timeout: float = 120.0,
) -> ClusterState:
    """Start a head and ``nodes - 1`` worker raylets on loopback with ``ray start``,
    record them in the state file and return the state. The token is created or
    reused (:func:`auth.ensure_token`). Fails, starting nothing, if the state file
    names a cluster that is still running."""
    if not isinstance(nodes, int) or nodes < 1:
        raise ClusterError(f"--nodes must be a whole number of at least 1, got {nodes!r}")
    if cpus_per_node is not None and (not isinstance(cpus_per_node, int) or cpus_per_node < 1):
        raise ClusterError(f"--cpus-per-node must be a whole number of at least 1, got {cpus_per_node!r}")
    store = parse_size(object_store_memory) if object_store_memory is not None else None
    if store is not None and store < MIN_OBJECT_STORE:
        raise ClusterError(f"--object-store-memory must be at least 75M (Ray's minimum), got {object_store_memory!r}")
    running = running_state(path)
    if running is not None:
        raise ClusterError(
            f"a cluster started by dataflow is already running at {running.gcs_address} "
            f"(state file {state_path(path)}); stop it with `dataflow cluster down` first"
        )
    token = auth.ensure_token()
    env = node_environment(token)
    logs = state_path(path).parent / "logs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ports = free_ports(len(HEAD_PORTS) + len(NODE_PORTS))
    head_ports = dict(zip(HEAD_PORTS + NODE_PORTS, ports, strict=True))
    gcs_address = f"127.0.0.1:{head_ports['gcs']}"
    state = ClusterState(
        gcs_address=gcs_address,
        dashboard_url=f"http://127.0.0.1:{head_ports['dashboard']}",
        token_path=str(token),
        temp_dir=temp_dir or "",
        cpus_per_node=cpus_per_node,
        object_store_memory=store,
        started=time.time(),
    )
    try:
        for i in range(nodes):
            role = "head" if i == 0 else "worker"
            node_ports = head_ports if i == 0 else dict(zip(NODE_PORTS, free_ports(len(NODE_PORTS)), strict=True))
            cmd = node_command(
                role, node_ports, gcs_address=gcs_address, num_cpus=cpus_per_node,
                object_store_memory=store, temp_dir=temp_dir,
            )
            log = logs / f"{stamp}-node{i}-{role}.log"
            pid, start = _start_node(cmd, env, log, timeout)
            state.nodes.append(NodeProcess(role=role, pid=pid, start_time=start, log=str(log), ports=node_ports))
            write_state(state, path)
    except BaseException:
        for n in reversed(state.nodes):
            _stop_pid(n.pid, n.start_time)
        state_path(path).unlink(missing_ok=True)
        raise
    return state


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_pid(pid: int, start_time: int, grace: float = 15.0) -> None:
    """Stop a ``ray start --block`` process and its process group: SIGTERM (Ray then
    stops the node's processes), then SIGKILL to what is left of the group."""
    if not process_alive(pid, start_time):
        return
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and process_alive(pid, start_time):
        time.sleep(0.2)
    if pgid == pid:  # started with start_new_session: the group is the node's alone
        _kill_group(pgid)
    elif process_alive(pid, start_time):
        os.kill(pid, signal.SIGKILL)


def down(path: str | Path | None = None) -> list[NodeProcess]:
    """Stop the nodes the state file records (workers first, then the head), by
    their process ids, and remove the state file. Returns the nodes stopped; stops
    nothing that ``up`` did not start."""
    state = read_state(path)
    if state is None:
        return []
    stopped = []
    for n in reversed(state.nodes):
        if process_alive(n.pid, n.start_time):
            stopped.append(n)
        _stop_pid(n.pid, n.start_time)
    state_path(path).unlink(missing_ok=True)
    return stopped


def node_pids(node: NodeProcess) -> dict[str, list[int]]:
    """The processes of one node by name (``raylet``, ``gcs_server``, workers ...)."""
    out: dict[str, list[int]] = {}
    if not process_alive(node.pid, node.start_time):
        return out
    for p in descendants(node.pid):
        out.setdefault(process_name(p), []).append(p)
    return out
