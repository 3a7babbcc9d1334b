"""Ports for our own servers come from below the ephemeral range, so an outgoing connection cannot take one
between "found free" and "bound" (CI once failed a journey run with EADDRINUSE that way)."""
from __future__ import annotations

import socket

from enerlectra import ports


def test_free_ports_are_below_the_ephemeral_range_and_bindable():
    top = ports._ephemeral_start()
    picked = [ports.free_port() for _ in range(50)]
    assert len(set(picked)) == len(picked)          # none handed out twice, though none is bound yet
    assert all(ports._LOWEST <= port < top for port in picked)
    assert all(ports.bindable(port) for port in picked)


def test_a_port_in_use_is_not_bindable_and_not_picked_again_while_held():
    with ports.listening_socket() as held:
        held.listen()
        port = held.getsockname()[1]
        assert not ports.bindable(port)


def test_a_served_port_can_be_served_again_at_once_after_its_connections_close():
    first = ports.listening_socket()
    first.listen()
    port = first.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = first.accept()
    accepted.close()              # the server closes first: its side of the connection sits in TIME_WAIT
    client.close()
    first.close()
    again = ports.listening_socket(port)
    assert again.getsockname()[1] == port
    again.close()
