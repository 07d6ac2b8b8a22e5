"""What waitress refuses before the app sees it is a JSON error too, with the right status:
each request written byte for byte on a raw socket to the real API."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from support.api import StackMaker, secret

JSON_HEADERS = {"content-type": "application/json", "cache-control": "no-store",
                "x-content-type-options": "nosniff", "connection": "close"}  # fmt: skip


def exchange(port: int, raw: bytes) -> tuple[bytes, dict[str, str], Any]:
    """Send ``raw``, read until the server closes: the status line, headers, JSON body."""
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status.encode(), headers, json.loads(body)


@pytest.mark.parametrize(
    ("raw", "status", "detail"),
    [
        (b"NOT A REQUEST\r\n\r\n", b"HTTP/1.0 400 Bad Request", "Start line is invalid"),
        (b"GET /api/ops/health HTTP/1.1\r\nno colon here\r\n\r\n", b"HTTP/1.0 400 Bad Request",
         "Invalid header"),
        (b"GET /api/ops/health HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
         b"HTTP/1.1 400 Bad Request", "Content-Length is invalid"),
        (b"POST /api/ops/incidents HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
         b"HTTP/1.1 400 Bad Request", "Invalid chunk size"),
    ],
)  # fmt: skip
def test_a_request_waitress_cannot_parse_is_a_json_400(
    make_stack: StackMaker, raw: bytes, status: bytes, detail: str
) -> None:
    stack = make_stack()
    assert stack.server.port is not None
    answered, headers, body = exchange(stack.server.port, raw)
    assert answered == status
    assert JSON_HEADERS.items() <= headers.items()
    assert body == {"error": "bad_request", "detail": detail}


def test_a_body_over_what_waitress_buffers_is_the_apis_own_json_413(
    make_stack: StackMaker,
) -> None:
    stack = make_stack()
    assert stack.server.port is not None
    auth = f"Authorization: Bearer {secret('root')}\r\n".encode()
    head = b"POST /api/ops/incidents HTTP/1.1\r\nHost: x\r\n" + auth
    too_large = {"error": "body_too_large", "detail": "the body is larger than 64 KiB"}
    # Over the API's 64 KiB but buffered by waitress: the app's answer.
    body = b"{" + b" " * (100 * 1024) + b"}"
    sized = b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    answered, _, apps = exchange(stack.server.port, head + sized)
    assert (answered, apps) == (b"HTTP/1.1 413 REQUEST ENTITY TOO LARGE", too_large)
    # Over the 1 MiB waitress buffers: refused from the head alone, in the same words.
    answered, headers, waitress = exchange(
        stack.server.port, head + b"Content-Length: 2000000\r\n\r\n"
    )
    assert (answered, waitress) == (b"HTTP/1.1 413 Request Entity Too Large", too_large)
    assert JSON_HEADERS.items() <= headers.items()


def test_a_transfer_coding_other_than_chunked_is_a_json_501(make_stack: StackMaker) -> None:
    stack = make_stack()
    assert stack.server.port is not None
    raw = b"POST /api/ops/incidents HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
    answered, headers, body = exchange(stack.server.port, raw)
    assert answered == b"HTTP/1.1 501 Not Implemented"
    assert JSON_HEADERS.items() <= headers.items()
    assert body == {"error": "not_implemented",
                    "detail": "Transfer-Encoding requested is not supported."}  # fmt: skip


def test_a_head_over_256_kib_is_a_json_431(make_stack: StackMaker) -> None:
    stack = make_stack()
    assert stack.server.port is not None
    start = b"GET /api/ops/health HTTP/1.1\r\nX-Padding: "
    answered, headers, body = exchange(stack.server.port, start + b"a" * (256 * 1024 - len(start)))
    assert answered == b"HTTP/1.0 431 Request Header Fields Too Large"
    assert JSON_HEADERS.items() <= headers.items()
    assert body == {"error": "headers_too_large",
                    "detail": "the request line and headers are larger than 256 KiB"}  # fmt: skip
