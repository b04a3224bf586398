"""A small in-process HTTP client for an ASGI app: the service's behaviour without sockets."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    app: Any,
    method: str,
    path: str,
    body: bytes | str | dict[str, Any] | None = None,
    *,
    chunks: int = 1,
    headers: dict[str, str] | None = None,
) -> Reply:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body or b""
    raw = raw.encode() if isinstance(raw, str) else raw
    sent_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if chunks == 1:
        sent_headers.append((b"content-length", str(len(raw)).encode()))
    size = max(1, -(-len(raw) // chunks))
    pieces = [raw[i : i + size] for i in range(0, len(raw), size)] or [b""]
    scope = {"type": "http", "method": method, "path": path, "headers": sent_headers}
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        piece = pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    start = messages[0]
    assert start["type"] == "http.response.start"
    got = {k.decode(): v.decode() for k, v in start["headers"]}
    return Reply(start["status"], got, b"".join(m.get("body", b"") for m in messages[1:]))
