"""Gloo binds to loopback when every process is local, and never overrides the user's choice."""

from __future__ import annotations

import socket

from sgim_desktop.training.gloo_interface import ENV_NAME, loopback_interface, pin_gloo_to_loopback


def test_this_machine_has_a_loopback_interface():
    name = loopback_interface()
    assert name is not None and name in {n for _, n in socket.if_nameindex()}


def test_a_local_rendezvous_pins_gloo_to_loopback():
    for address in ("127.0.0.1", "localhost", "::1", "127.0.1.1"):
        env = {"MASTER_ADDR": address}
        assert pin_gloo_to_loopback(env) == loopback_interface()
        assert env[ENV_NAME] == loopback_interface()


def test_a_remote_rendezvous_leaves_gloo_to_choose():
    env = {"MASTER_ADDR": "10.0.0.7"}
    assert pin_gloo_to_loopback(env) is None
    assert ENV_NAME not in env
    assert pin_gloo_to_loopback({"MASTER_ADDR": "node-3.cluster"}) is None
    assert pin_gloo_to_loopback({}) is None


def test_the_users_own_interface_wins():
    env = {"MASTER_ADDR": "127.0.0.1", ENV_NAME: "eth7"}
    assert pin_gloo_to_loopback(env) == "eth7"
    assert env[ENV_NAME] == "eth7"


def test_an_explicit_address_overrides_the_environment():
    env: dict[str, str] = {}
    assert pin_gloo_to_loopback(env, master_addr="127.0.0.1") == loopback_interface()
