"""The cluster package without Ray: addresses, sizes, the state file, ``ray start``
command lines, the token, the CLI's argument parsing, the /proc socket reader."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from dataflow import DataflowError, cli
from dataflow.cluster import auth, jobs, local, resolve_address, validate_address
from dataflow.cluster.sockets import _decode, listening_sockets


@pytest.fixture
def state_file(tmp_path, monkeypatch):
    p = tmp_path / "cluster.json"
    monkeypatch.setenv(local.STATE_ENV, str(p))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return p


@pytest.mark.parametrize("good", [None, "auto", "local", "127.0.0.1:6379", "head.example:10001", "ray://h:10001", "[::1]:6379"])
def test_good_addresses(good):
    assert validate_address(good) == good


@pytest.mark.parametrize("bad", ["", "nope", "127.0.0.1", "h:0", "h:70000", "h:port", 6379, "http://h:8265"])
def test_bad_address_is_a_clear_error(bad):
    with pytest.raises(DataflowError, match="bad cluster address"):
        validate_address(bad)


def test_session_rejects_a_bad_address_before_starting_ray():
    import dataflow

    with pytest.raises(DataflowError, match="bad cluster address 'localhost'"):
        dataflow.Session(address="localhost")
    import ray

    assert not ray.is_initialized()


def test_auto_prefers_ray_address_then_the_state_file(state_file, monkeypatch):
    assert resolve_address("auto") == ("auto", None)  # nothing recorded: Ray's own lookup
    me = local.NodeProcess(role="head", pid=os.getpid(), start_time=local.process_start_time(os.getpid()), log="")
    st = local.ClusterState(gcs_address="127.0.0.1:41234", dashboard_url="http://127.0.0.1:1", token_path="/t",
                            temp_dir="", nodes=[me])
    local.write_state(st)
    addr, found = resolve_address("auto")
    assert addr == "127.0.0.1:41234" and found is not None and found.token_path == "/t"
    assert resolve_address("127.0.0.1:41234")[1] == found  # the recorded cluster, named explicitly
    assert resolve_address("local") == (None, None)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert resolve_address("auto") == ("10.0.0.5:6379", None)
    assert resolve_address("127.0.0.1:5000") == ("127.0.0.1:5000", None)


@pytest.mark.parametrize("text,n", [("2G", 2 << 30), ("512M", 512 << 20), ("300MB", 300 << 20),
                                    ("1.5GiB", int(1.5 * (1 << 30))), ("1000", 1000), (77, 77)])
def test_parse_size(text, n):
    assert local.parse_size(text) == n


@pytest.mark.parametrize("bad", ["lots", "-1G", "0", "G"])
def test_parse_size_rejects(bad):
    with pytest.raises(DataflowError):
        local.parse_size(bad)


def test_state_file_round_trip_and_stale_state(state_file):
    assert local.read_state() is None and local.running_state() is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    node = local.NodeProcess(role="head", pid=dead.pid, start_time=1, log="x", ports={"gcs": 1})
    st = local.ClusterState(gcs_address="127.0.0.1:1", dashboard_url="http://127.0.0.1:2", token_path="/t",
                            temp_dir="", nodes=[node])
    assert local.write_state(st) == state_file
    assert local.read_state() == st
    assert local.running_state() is None  # its head is gone: a stale file is not a cluster
    assert local.down() == []  # nothing to stop; the stale file is removed
    assert not state_file.exists()


def test_a_broken_state_file_is_named(state_file):
    state_file.write_text("{not json")
    with pytest.raises(DataflowError, match=str(state_file)):
        local.read_state()


def test_up_refuses_while_the_recorded_cluster_runs(state_file):
    me = local.NodeProcess(role="head", pid=os.getpid(), start_time=local.process_start_time(os.getpid()), log="")
    local.write_state(local.ClusterState(gcs_address="127.0.0.1:9", dashboard_url="", token_path="", temp_dir="",
                                         nodes=[me]))
    with pytest.raises(DataflowError, match="already running at 127.0.0.1:9"):
        local.up(2)


@pytest.mark.parametrize("kwargs,msg", [({"nodes": 0}, "--nodes"), ({"nodes": 2, "cpus_per_node": 0}, "--cpus-per-node"),
                                        ({"nodes": 1, "object_store_memory": "10M"}, "75M")])
def test_up_validates_before_starting_anything(state_file, kwargs, msg):
    with pytest.raises(DataflowError, match=msg):
        local.up(**kwargs)
    assert not state_file.exists()


def test_down_stops_only_recorded_processes(state_file):
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        start = local.process_start_time(mine.pid)
        nodes = [
            local.NodeProcess(role="head", pid=mine.pid, start_time=start, log=""),
            # the same pid number recorded with another start time: a reused pid, left alone
            local.NodeProcess(role="worker", pid=other.pid, start_time=1, log=""),
        ]
        local.write_state(local.ClusterState(gcs_address="127.0.0.1:9", dashboard_url="", token_path="",
                                             temp_dir="", nodes=nodes))
        stopped = local.down()
        assert [n.pid for n in stopped] == [mine.pid]
        assert mine.wait(timeout=10) is not None
        assert other.poll() is None
        assert not state_file.exists()
    finally:
        other.kill()
        mine.kill()
        other.wait()


def test_free_ports_are_distinct_and_free():
    ports = local.free_ports(12)
    assert len(set(ports)) == 12
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_node_commands_stay_on_loopback():
    ports = dict.fromkeys(local.HEAD_PORTS + local.NODE_PORTS, 0)
    ports.update(gcs=41000, dashboard=41001, node_manager=41002)
    head = local.node_command("head", ports, num_cpus=2, object_store_memory=100 << 20, temp_dir="/tmp/x")
    assert head[:3] == [sys.executable, "-m", "dataflow.cluster._ray_start"]
    assert {"--head", "--block", "--port=41000", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
            "--dashboard-port=41001", "--node-manager-port=41002", "--num-cpus=2", "--temp-dir=/tmp/x",
            f"--object-store-memory={100 << 20}", "--min-worker-port=0"} <= set(head)
    worker = local.node_command("worker", ports, gcs_address="127.0.0.1:41000")
    assert "--address=127.0.0.1:41000" in worker and "--head" not in worker
    assert not any(a.startswith(("--port=", "--dashboard")) and "agent" not in a for a in worker)
    with pytest.raises(DataflowError):
        local.node_command("worker", ports)


def test_node_environment_turns_token_mode_on(tmp_path, monkeypatch):
    monkeypatch.setenv(auth.TOKEN_ENV, "would-win-over-the-file")
    env = local.node_environment(tmp_path / "tok")
    assert env[auth.AUTH_MODE_ENV] == "token"
    assert env[auth.TOKEN_PATH_ENV] == str(tmp_path / "tok")
    assert auth.TOKEN_ENV not in env
    assert env[local.LOOPBACK_ENV] == "0"
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)


def test_ensure_token_creates_once_and_reuses(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for v in (auth.TOKEN_ENV, auth.TOKEN_PATH_ENV):
        monkeypatch.delenv(v, raising=False)
    assert auth.read_token() is None
    p = auth.ensure_token()
    assert p == tmp_path / ".ray" / "auth_token"
    token = p.read_text()
    assert len(token) == 64 and int(token, 16) >= 0
    assert oct(p.stat().st_mode & 0o777) == "0o600"
    assert auth.ensure_token() == p and p.read_text() == token
    assert auth.read_token() == token
    monkeypatch.setenv(auth.TOKEN_ENV, "abc")
    assert auth.read_token() == "abc"


def test_enable_for_client_respects_an_explicit_mode(tmp_path, monkeypatch):
    tok = tmp_path / "tok"
    tok.write_text("f" * 64)
    refreshed = []
    # Ray's C++ config outlives monkeypatch's env restore: never refresh it in this process
    monkeypatch.setattr(auth, "_refresh_ray_config", lambda: refreshed.append(True))
    monkeypatch.delenv(auth.TOKEN_ENV, raising=False)
    monkeypatch.setenv(auth.AUTH_MODE_ENV, "disabled")
    assert auth.enable_for_client(tok) is False
    assert os.environ[auth.AUTH_MODE_ENV] == "disabled"
    monkeypatch.delenv(auth.AUTH_MODE_ENV)
    monkeypatch.delenv(auth.TOKEN_PATH_ENV, raising=False)
    assert auth.enable_for_client(tok) is True
    assert os.environ[auth.AUTH_MODE_ENV] == "token" and os.environ[auth.TOKEN_PATH_ENV] == str(tok)
    assert refreshed == [True]


def test_dashboard_help_names_the_token_file(tmp_path):
    tok = tmp_path / "tok"
    text = auth.dashboard_help("http://127.0.0.1:8265", {auth.TOKEN_PATH_ENV: str(tok)})
    assert text is not None and str(tok) in text and "Authorization: Bearer" in text
    assert auth.dashboard_help(None) is None


def test_cli_parses_cluster_commands(monkeypatch):
    seen = {}

    def fake(name):
        def run(args):
            seen[name] = args
            return 0

        return run

    import dataflow.cluster.cli as ccli

    for name in ("cmd_cluster_up", "cmd_submit", "cmd_logs"):
        monkeypatch.setattr(ccli, name, fake(name))
    assert cli.main(["cluster", "up", "--nodes", "3", "--cpus-per-node", "2", "--object-store-memory", "1G"]) == 0
    a = seen["cmd_cluster_up"]
    assert (a.nodes, a.cpus_per_node, a.object_store_memory) == (3, 2, 1 << 30)
    assert cli.main(["submit", "--sql", "select 1", "--data", "d", "--address", "http://h:8265"]) == 0
    a = seen["cmd_submit"]
    assert (a.sql, a.data, a.address, a.script) == ("select 1", "d", "http://h:8265", None)
    assert cli.main(["submit", "job.py", "--x", "1"]) == 0
    assert seen["cmd_submit"].script == "job.py" and seen["cmd_submit"].args == ["--x", "1"]
    assert cli.main(["logs", "dataflow-1"]) == 0 and seen["cmd_logs"].id == "dataflow-1"


@pytest.mark.parametrize("argv", [["cluster", "up", "--nodes", "0"], ["cluster", "up", "--object-store-memory", "1M"],
                                  ["cluster", "up", "--cpus-per-node", "x"], ["cluster"]])
def test_cli_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert "error" in capsys.readouterr().err


def test_submit_needs_something_to_run(capsys, state_file):
    assert cli.main(["submit", "--data", "d"]) == 1
    assert "nothing to submit" in capsys.readouterr().err
    assert cli.main(["submit", "--sql", "select 1"]) == 1
    assert "--data" in capsys.readouterr().err


def test_job_addresses(state_file, monkeypatch):
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    with pytest.raises(DataflowError, match="dataflow cluster up"):
        jobs.dashboard_address(None)
    with pytest.raises(DataflowError, match="bad job address"):
        jobs.dashboard_address("127.0.0.1:6379")
    assert jobs.dashboard_address("http://h:8265/") == ("http://h:8265", None)
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://h:1")
    assert jobs.dashboard_address("auto") == ("http://h:1", None)


def test_entrypoints_quote_their_arguments():
    e = jobs.sql_entrypoint("select 'a b' as x", "/data dir", parallelism=2)
    assert e == "python -m dataflow.cli sql --address auto --data '/data dir' --parallelism 2 'select '\"'\"'a b'\"'\"' as x'"
    assert jobs.script_entrypoint("s.py", ["--n", "1 2"]) == "python s.py --n '1 2'"
    a, b = jobs.new_submission_id(), jobs.new_submission_id()
    assert a.startswith("dataflow-") and a != b


def test_proc_addresses_decode():
    assert _decode("0100007F") == "127.0.0.1"
    assert _decode("00000000") == "0.0.0.0"
    assert _decode("0000000000000000FFFF00000100007F") == "127.0.0.1"
    assert _decode("00000000000000000000000001000000") == "::1"
    assert _decode("00000000000000000000000000000000") == "::"


def test_listening_sockets_of_a_process():
    with socket.socket() as lo, socket.socket() as anyaddr:
        lo.bind(("127.0.0.1", 0))
        lo.listen()
        anyaddr.bind(("0.0.0.0", 0))
        anyaddr.listen()
        found = {(s.address, s.port, s.loopback) for s in listening_sockets([os.getpid()])}
        assert ("127.0.0.1", lo.getsockname()[1], True) in found
        assert ("0.0.0.0", anyaddr.getsockname()[1], False) in found


def test_process_start_time_tells_reused_pids():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        t = local.process_start_time(p.pid)
        assert t is not None and local.process_alive(p.pid, t) and not local.process_alive(p.pid, t + 1)
        assert p.pid in local.descendants(os.getpid())
    finally:
        p.kill()
        p.wait()
    time.sleep(0.05)
    assert local.process_start_time(p.pid) is None
