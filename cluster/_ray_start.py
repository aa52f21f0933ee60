"""``ray start`` for a node that lives on loopback only (``python -m dataflow.cluster._ray_start start ...``).

Ray turns a node address of ``127.0.0.1`` into the machine's routable address
(``services.resolve_ip_for_localhost``), unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, and
with that variable ``ray start --address=...`` refuses to start a worker node (the switch
is meant for macOS and Windows). Ray's gRPC servers (GCS, raylet, object manager, core
workers) bind ``127.0.0.1`` instead of all interfaces exactly when the node address is
``127.0.0.1``. So this wrapper keeps ``127.0.0.1`` as given, lets the worker node start,
and leaves ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` in the environment of every process
the node starts, so that they too see a loopback node address.
"""

from __future__ import annotations

import os
import sys

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def main() -> None:
    """Run Ray's own ``ray`` command line with the loopback address kept."""
    os.environ[LOOPBACK_ENV] = "0"  # before ray is imported: children inherit it
    import ray._private.ray_constants as ray_constants
    from ray._private import services
    from ray.scripts.scripts import main as ray_main

    ray_constants.ENABLE_RAY_CLUSTER = True  # this process only: let a worker node start
    original = services.resolve_ip_for_localhost

    def keep_loopback(host: str) -> str:
        return "127.0.0.1" if host in ("127.0.0.1", "localhost") else original(host)

    services.resolve_ip_for_localhost = keep_loopback
    sys.argv = ["ray", *sys.argv[1:]]
    ray_main()


if __name__ == "__main__":
    main()
