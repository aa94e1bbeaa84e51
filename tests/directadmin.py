"""Requests written byte for byte as DirectAdmin's multi-server DNS sends them: HTTP/1.0, Basic
auth, no User-Agent, no Content-Type."""

from __future__ import annotations

import base64
import socket
from urllib.parse import parse_qsl


def send(
    port: int,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    credentials: tuple[str, str] = ("admin", "s3cret"),
    headers: tuple[str, ...] = (),
) -> tuple[int, dict[str, str], dict[str, str]]:
    """The status, the headers and the reply's fields."""
    token = base64.b64encode(":".join(credentials).encode()).decode()
    lines = [f"{method} {target} HTTP/1.0", "Host: 127.0.0.1", f"Authorization: Basic {token}", *headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, content = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    parsed = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), parsed, dict(parse_qsl(content.decode()))
