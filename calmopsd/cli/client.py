"""The running daemon's HTTP API, as the CLI calls it while the daemon holds the store.

The daemon writes a fresh super-admin token to ``state_dir/api.token`` at
each start; the CLI sends it with ``X-Calmops-Actor: USER``, which the API
honours for that token alone, so the audit log names the person
(``cli:USER``), as it does when the CLI writes the store itself.

Where the API answers: ``state_dir/api.address``, which the daemon writes
once its sockets are bound (so a configured port of 0 is known), else the
config's ``api.listen`` and ``api.unix_socket``. TCP first; the unix socket
when that is all there is. An answer's JSON error becomes the same
:class:`~calmopsd.errors.OperationError` the store would have raised.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import json
import os
import re
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from calmopsd.config.api import ApiConfig, split_listen
from calmopsd.daemon.published import ADDRESS_FILE, TOKEN_FILE
from calmopsd.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    OperationError,
    Unauthenticated,
    Unavailable,
)

PREFIX = "/api/ops"
TIMEOUT_S = 30.0
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")  # what secrets.token_urlsafe writes

_ERRORS: dict[int, type[OperationError]] = {
    400: InvalidRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    503: Unavailable,
}


@dataclass(frozen=True)
class Endpoint:
    """Where the API answers: a TCP base URL, a unix socket, or both."""

    url: str | None
    unix_socket: Path | None

    def __str__(self) -> str:
        return self.url or f"unix:{self.unix_socket}"


def endpoint(state_dir: Path, configured: Callable[[], ApiConfig]) -> Endpoint:
    """The published address if the daemon wrote one, else what the config says (read only
    then: a config edited since the daemon started may no longer say where it listens).

    The published file is believed only as far as it is safe to: a loopback
    ``http://`` URL, or the unix socket the config names. Anything else — a
    remote host, another socket, a malformed file — falls back to the config.
    """
    api = configured()
    published = _published(state_dir / ADDRESS_FILE, api)
    if published is not None:
        return published
    url = None
    if api.listen is not None:
        host, port = split_listen(api.listen)
        if port != 0:  # port 0: only the address file knows which port the daemon got
            url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    if url is None and api.unix_socket is None:
        raise Unavailable(
            f"the daemon runs, but where its API answers is not known yet ({ADDRESS_FILE} "
            "is missing and api.listen has port 0); try again in a moment",
            "unreachable",
        )
    return Endpoint(url, api.unix_socket)


def _published(path: Path, api: ApiConfig) -> Endpoint | None:
    try:
        published = json.loads(_small_private_file(path))
    except (OSError, ValueError, Unavailable):
        return None
    if not isinstance(published, dict):
        return None
    url, socket_path = published.get("url"), published.get("unix_socket")
    if not (url is None or _loopback_url(url)):
        return None
    if socket_path is not None and (api.unix_socket is None or str(api.unix_socket) != socket_path):
        return None
    if url is None and socket_path is None:
        return None
    return Endpoint(url, Path(socket_path) if socket_path else None)


def _loopback_url(url: object) -> bool:
    if not isinstance(url, str) or len(url) > 100:
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
        address = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        return False
    return (
        parts.scheme == "http" and address.is_loopback and port is not None
        and not parts.path.strip("/") and not parts.query and not parts.username
    )  # fmt: skip


def _small_private_file(path: Path, limit: int = 1024) -> str:
    """A file the daemon wrote for the CLI: a regular file, not a symlink, owned by the
    state directory's owner, readable by that owner only, small, ASCII."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Unavailable(f"{path} is a symlink: not reading it", "unreachable") from None
        raise
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        owner = path.parent.stat().st_uid
        if not stat.S_ISREG(info.st_mode) or info.st_uid != owner or info.st_mode & 0o077:
            raise Unavailable(
                f"{path} is not a private file of the state directory's owner: not using it",
                "unreachable",
            )
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise Unavailable(f"{path} is too large to be calmopsd's: not using it", "unreachable")
    return data.decode("ascii")


def read_token(state_dir: Path) -> str:
    path = state_dir / TOKEN_FILE
    try:
        token = _small_private_file(path).strip()
    except FileNotFoundError:
        raise Unavailable(
            f"the daemon runs but has written no API token to {path}: its API is off "
            "(api.enabled: false) or could not start (api.unavailable in its log)",
            "unreachable",
        ) from None
    except PermissionError:
        raise Unavailable(
            f"cannot read {path}: run this as the daemon's user (or with sudo)", "unreachable"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Unavailable(f"cannot read {path} ({exc})", "unreachable") from None
    if not _TOKEN.fullmatch(token):
        raise Unavailable(f"{path} does not hold a calmopsd token: not using it", "unreachable")
    return token


class DaemonApi:
    """One request at a time to the daemon, as the local CLI token, naming ``actor``."""

    def __init__(self, where: Endpoint, token: str, actor: str):
        self.where = where
        self.token = token
        self.actor = actor

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *,
        timeout_s: float = TIMEOUT_S,
    ) -> dict[str, Any]:  # fmt: skip
        """The JSON answer of a 2xx; an :class:`OperationError` for the API's own errors."""
        headers = {
            "Authorization": f"Bearer {self.token}",
            "X-Calmops-Actor": self.actor,
            "Accept": "application/json",
        }
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = self._connection(timeout_s)
        try:
            connection.request(method, PREFIX + path, body=payload, headers=headers)
            answer = connection.getresponse()
            status, raw = answer.status, answer.read()
        except TimeoutError:
            raise Unavailable(
                f"no answer from the daemon's API at {self.where} within {timeout_s:.0f} s; "
                "what was asked may still be under way: look again with calmopsd show",
                "timeout",
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise Unavailable(
                f"cannot reach the daemon's API at {self.where}: {reason or type(exc).__name__}",
                "unreachable",
            ) from None
        finally:
            connection.close()
        return _answer(status, raw)

    def _connection(self, timeout_s: float) -> http.client.HTTPConnection:
        if self.where.url is not None:
            parts = urlsplit(self.where.url)
            return http.client.HTTPConnection(
                parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s
            )
        assert self.where.unix_socket is not None  # noqa: S101  # endpoint() gives one of them
        return _UnixConnection(self.where.unix_socket, timeout_s)


def _answer(status: int, raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = raw.decode("utf-8", "replace").strip()[:200]
        raise OperationError(f"the API answered {status} without JSON: {text!r}", "bad_answer")
    if 200 <= status < 300:
        return body
    error = _ERRORS.get(status, OperationError)
    raise error(str(body.get("detail") or f"HTTP {status}"), str(body.get("error") or "error"))


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the daemon's unix socket (mode 0600: the daemon's user, or root)."""

    def __init__(self, path: Path, timeout_s: float):
        super().__init__("localhost", timeout=timeout_s)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self.socket_path))
        except BaseException:
            sock.close()
            raise
        self.sock = sock
