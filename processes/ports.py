"""Ports on this machine: the api's listening socket, and a free port for a throwaway server."""

from __future__ import annotations

import os
import socket


class PortInUse(OSError):
    """The api's address cannot be had: something else listens there, or it is not ours to bind."""


def listen(host: str, port: int) -> socket.socket:
    """The api's listening socket, bound before anything starts so that a port already taken
    is refused at once; gunicorn gets the socket itself (`--bind fd://N`), so whatever answers
    there afterwards is this api and no other process."""
    try:
        return socket.create_server((host, port), backlog=2048)
    except OSError as error:
        reason = os.strerror(error.errno) if isinstance(error.errno, int) and error.errno > 0 else str(error)
        raise PortInUse(f"cannot listen on port {port} of {host}: {reason}") from error


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
