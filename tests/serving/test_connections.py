"""The service on real loopback sockets: slow-loris clients are disconnected and never
starve valid requests, and every connection gets TCP_NODELAY (also on the socket
`--workers` shares)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.http import call, service


@pytest.fixture
def guarded_server(model_dir: Path) -> Iterator[str]:
    with service(model_dir, REQUEST_READ_TIMEOUT="2", MAX_CONNECTIONS="50") as base:
        yield base


def closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def test_slow_loris_clients_are_cut_off_and_valid_requests_still_answered(
    guarded_server: str,
) -> None:
    port = int(guarded_server.rsplit(":", 1)[1])
    slow: list[socket.socket] = []
    try:
        for n in range(120):  # more than MAX_CONNECTIONS: headers that never end, or nothing
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if n % 2:
                sock.sendall(b"POST /v2/models/demo/infer HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        for _ in range(5):
            status, answer = call(f"{guarded_server}/v2/health/ready")
            assert status == 200 and answer == {"ready": True}
        # a body that trickles in more slowly than the read timeout allows
        trickle = socket.create_connection(("127.0.0.1", port), timeout=10)
        trickle.sendall(b"POST /v1/models/demo:predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        slow.append(trickle)
        deadline = time.monotonic() + 60  # a bound on waiting, not a timing check
        while time.monotonic() < deadline and not all(closed_by_server(s) for s in slow):
            time.sleep(0.5)
        assert all(closed_by_server(s) for s in slow)
        status, _ = call(f"{guarded_server}/v1/models/demo:predict", {"instances": [[1.0] * 30]})
        assert status == 200
    finally:
        for sock in slow:
            sock.close()


def nodelay_of_accepted(protocol_class: Any, app: Any) -> int:
    """TCP_NODELAY of the server side of one connection, served from a socket made the way
    uvicorn makes the one `--workers` processes share (protocol number 0)."""
    import asyncio

    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's bind
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=protocol_class, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[listener])))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        client = socket.create_connection(listener.getsockname(), timeout=10)
        client.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200" in client.recv(4096)
        (connection,) = list(server.server_state.connections)
        sock = connection.transport.get_extra_info("socket")
        value = int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        client.close()
        return value
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def test_connections_on_a_shared_worker_socket_get_tcp_nodelay(model_dir: Path) -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from mlopsctl.serving.connections import GuardedHttpToolsProtocol
    from mlopsctl.serving.server import create_app

    app = create_app({"MODEL_DIR": str(model_dir)})
    assert nodelay_of_accepted(HttpToolsProtocol, app) == 0  # uvicorn's own: Nagle on
    assert nodelay_of_accepted(GuardedHttpToolsProtocol, app) == 1
