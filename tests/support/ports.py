"""Free TCP ports on 127.0.0.1."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Return a port that was free on 127.0.0.1 a moment ago.

    The kernel picks it when binding port 0. Another process may take it before
    the caller binds it, so callers should expect a rare "address in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
