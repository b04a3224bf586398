"""uvicorn's httptools protocol with what a service facing the network needs and uvicorn
lacks:

- TCP_NODELAY on every connection. asyncio sets it only on sockets whose protocol number
  is TCP; the socket uvicorn shares between `--workers` processes is made with protocol 0,
  so without this every keep-alive answer waits for Nagle's delayed ACK (~40 ms).
- A time limit on reading a request, headers and body (REQUEST_READ_TIMEOUT): a client that
  trickles bytes (slow loris) is disconnected instead of holding its connection forever.
  uvicorn's keep-alive timeout only covers the time between requests.
- A cap on open connections (MAX_CONNECTIONS), well under the process's file limit: past
  it, the connection idle longest (waiting for a request) is closed to make room, so new
  clients are served instead of the process running out of file descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_READ_TIMEOUT = 10.0  # seconds to read one request, from its first byte
DEFAULT_MAX_CONNECTIONS = 800  # under the 1,024 file descriptors the docs recommend


def _setting(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    read_timeout = _setting("REQUEST_READ_TIMEOUT", DEFAULT_READ_TIMEOUT)
    max_connections = int(_setting("MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0  # when it began waiting for a request; 0 while busy

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._waiting_since = self.loop.time()
        self._arm_read_timer()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def _make_room(self) -> None:
        """Close the connection that has waited longest for a request (never a busy one);
        this new one if every other is busy."""
        idle = [
            c
            for c in self.connections
            if isinstance(c, GuardedHttpToolsProtocol) and c is not self and c._waiting_since
        ]
        victim = min(idle, key=lambda c: c._waiting_since) if idle else self
        victim.transport.close()

    def _arm_read_timer(self) -> None:
        self._cancel_read_timer()
        self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_read_timer()  # from a request's first byte to its last

    def on_message_complete(self) -> None:
        self._cancel_read_timer()
        self._waiting_since = 0.0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._waiting_since = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)
