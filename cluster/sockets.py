"""Listening TCP sockets of processes, from ``/proc`` (Linux), to check that a cluster
listens on loopback only.

``/proc/net/tcp`` and ``/proc/net/tcp6`` list every socket with its local address,
state (``0A`` is LISTEN) and inode; ``/proc/<pid>/fd`` maps a process's descriptors to
those inodes.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ListeningSocket:
    pid: int
    process: str
    address: str  # an IPv4 or IPv6 address; IPv4-mapped IPv6 is shown as IPv4
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback


def _decode(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # four 32-bit words, each in host (little-endian) order
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    ip6 = ipaddress.IPv6Address(words)
    return str(ip6.ipv4_mapped) if ip6.ipv4_mapped is not None else str(ip6)


def _listening_inodes() -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A":
                addr, port = parts[1].split(":")
                out[parts[9]] = (_decode(addr), int(port, 16))
    return out


def listening_sockets(pids: list[int]) -> list[ListeningSocket]:
    """The TCP sockets in LISTEN state held by any of ``pids``."""
    inodes = _listening_inodes()
    found = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        seen = set()
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes and target not in seen:
                seen.add(target)
                addr, port = inodes[target[8:-1]]
                found.append(ListeningSocket(pid, name, addr, port))
    return found
