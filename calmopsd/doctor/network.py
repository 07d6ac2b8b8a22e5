"""What the daemon's unit lets it reach: each HTTP check, dependency probe and DNS server
inside ``IPAddressAllow=`` when the unit denies the rest (``IPAddressDeny=any``).

The shipped unit allows this host only, so a check or probe of another host, a remote
resolver (``/etc/resolv.conf``) or a public API fails there with "Operation not
permitted" until its addresses are added in a drop-in. Host names are resolved here, as
the daemon would resolve them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from calmopsd.config.api import is_loopback
from calmopsd.doctor.finding import Finding, ok, warn
from calmopsd.doctor.install import Install

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLV_CONF = Path("/etc/resolv.conf")
# systemd's symbolic names (systemd.resource-control(5), IPAddressAllow=).
_NAMED = {
    "any": ("0.0.0.0/0", "::/0"),
    "localhost": ("127.0.0.0/8", "::1/128"),
    "link-local": ("169.254.0.0/16", "fe80::/64"),
    "multicast": ("224.0.0.0/4", "ff00::/8"),
}


def allowed(words: Iterable[str]) -> list[Network]:
    """The networks ``IPAddressAllow=`` words name (a word it cannot read is left out)."""
    networks: list[Network] = []
    for word in words:
        for text in _NAMED.get(word, (word,)):
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                continue
    return networks


def check(install: Install) -> list[Finding]:
    unit = install.daemon_unit
    if unit is None or "any" not in unit.words("IPAddressDeny"):
        return [ok("network", "the daemon's unit does not limit the addresses it reaches")]
    networks = allowed(unit.words("IPAddressAllow"))
    found: list[Finding] = []
    for what, host in _targets(install):
        addresses = _resolve(host)
        if addresses is None:
            found.append(warn("network", f"{what}: {host} does not resolve here",
                              f"getent ahosts {host}"))  # fmt: skip
            continue
        outside = sorted({str(a) for a in addresses if not any(a in n for n in networks)})
        if outside:
            found.append(
                warn("network", f"{what} reaches {host} ({', '.join(outside)}), outside "
                     f"IPAddressAllow= of {unit.path}: blocked (Operation not permitted)",
                     f"systemctl edit calmopsd: [Service] IPAddressAllow={' '.join(outside)}")
            )  # fmt: skip
    api = install.loaded.api
    if api.enabled and api.listen is not None and not is_loopback(api.listen):
        found.append(
            warn("network", f"api.listen {api.listen} serves beyond this host, but {unit.path} "
                 "lets only IPAddressAllow= addresses in",
                 "systemctl edit calmopsd: [Service] IPAddressAllow=YOUR-CLIENTS")
        )  # fmt: skip
    if not found:
        found.append(ok("network", f"every check, probe and resolver is inside IPAddressAllow= "
                        f"of {unit.path}"))  # fmt: skip
    return found


def _targets(install: Install) -> list[tuple[str, str]]:
    sensing = install.loaded.sensing
    targets: list[tuple[str, str]] = []
    if sensing.http.enabled:
        for check in sensing.http.checks:
            host = urlsplit(check.url).hostname
            if host:
                targets.append((f"http check {check.name}", host))
    if sensing.dependencies.enabled:
        targets += [(f"probe {p.name}", p.host) for p in sensing.dependencies.probes]
    if any(_literal(host) is None for _, host in targets):  # a name needs DNS
        targets += [("DNS", server) for server in nameservers()]
    return targets


def nameservers(path: Path = RESOLV_CONF) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [
        parts[1] for parts in (line.split() for line in lines)
        if len(parts) >= 2 and parts[0] == "nameserver"
    ]  # fmt: skip


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def _resolve(host: str) -> list[Address] | None:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    addresses = [_literal(str(info[4][0])) for info in found]
    return [a for a in addresses if a is not None]
