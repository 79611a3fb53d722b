"""Which network interface gloo binds to when every process runs on this machine.

Gloo does not use the rendezvous address for its own connections: it resolves the machine's hostname
and binds to whatever address that gives. In sandboxes and containers the hostname often resolves to
an interface the processes cannot reach each other through, and the collectives then wait for their
whole timeout (30 minutes by default, hours in a training) instead of failing. When the rendezvous is
on a loopback address, the processes are all local, so the loopback interface is always right.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import MutableMapping

ENV_NAME = "GLOO_SOCKET_IFNAME"


def loopback_interface() -> str | None:
    """The loopback interface's name on this system ('lo' on Linux, 'lo0' on macOS), if there is one."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except (OSError, AttributeError):
        return None
    for name in names:
        if name in ("lo", "lo0"):
            return name
    return next((n for n in names if n.startswith("lo")), None)


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def pin_gloo_to_loopback(env: MutableMapping[str, str] | None = None, master_addr: str | None = None) -> str | None:
    """Set GLOO_SOCKET_IFNAME to the loopback interface when the rendezvous is local and the user chose none.

    Returns the interface now in effect for gloo (the user's own choice is never overridden).
    """
    env = os.environ if env is None else env
    if env.get(ENV_NAME):
        return env[ENV_NAME]
    address = master_addr if master_addr is not None else env.get("MASTER_ADDR", "")
    if not _is_loopback(address):
        return None
    name = loopback_interface()
    if name is not None:
        env[ENV_NAME] = name
    return name
