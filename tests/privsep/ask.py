"""A client of the helper, run as another user by the tests: stdin's bytes in, the answer out.

    python ask.py SOCKET [--half]

Prints one JSON line: the helper's answer (``{"answer": ...}``), or ``{"connect_error":
TEXT}``, with ``elapsed_s``. ``--half`` sends stdin's bytes and keeps the connection open
without ending the request, as a slow sender does, until the helper answers or closes.
"""

from __future__ import annotations

import json
import socket
import sys
import time


def main() -> None:
    path, half = sys.argv[1], "--half" in sys.argv[2:]
    payload = sys.stdin.buffer.read()
    began = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(30)
        try:
            conn.connect(path)
        except OSError as exc:
            print(json.dumps({"connect_error": exc.strerror or str(exc)}))
            return
        try:
            conn.sendall(payload)
            if not half:
                conn.shutdown(socket.SHUT_WR)
        except OSError as exc:  # the helper refused and closed while we were still sending
            print(json.dumps({"send_error": exc.strerror or str(exc)}), flush=True)
        received = b""
        while chunk := conn.recv(1 << 16):
            received += chunk
    elapsed = round(time.monotonic() - began, 3)
    answer = json.loads(received) if received.strip() else None
    print(json.dumps({"answer": answer, "elapsed_s": elapsed}))


if __name__ == "__main__":
    main()
