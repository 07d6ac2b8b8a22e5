"""What this installation calls its parts: the names a customer message must not contain.

:meth:`Known.from_config` gathers them from every place the config holds one, plus what
only the running host knows (its host names, the apps PM2 runs, the organizations in the
store). :func:`calmopsd.customers.leaks.find_leaks` reads a :class:`Known` and nothing else,
so the check itself is pure and a test can build one by hand.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from calmopsd.config import Config
from calmopsd.config.api import split_listen
from calmopsd.config.logs import AppSourceConfig, NginxSourceConfig
from calmopsd.config.reserved import LOCAL_TOKEN_NAME
from calmopsd.config.sensing import HttpCheckConfig
from calmopsd.model import SafeAction

_GLOB = re.compile(r"[*?\[]")
# apprise schemes whose "host" is a host; in the others (slack://, tgram://…) it is a secret.
_HOST_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos"})
_Names = frozenset[str]


def _names(values: Iterable[str | None]) -> _Names:
    return frozenset(v.strip() for v in values if v is not None and v.strip())


@dataclass(frozen=True)
class Known:
    """The internal names to refuse, by kind, and what a message may name all the same.

    ``public`` holds the addresses customers may be sent to (a status page's URL, a
    support address): a URL equal to one or under it, an email address or a host name
    equal to one (or to a public URL's host), passes. ``own`` holds the message's own
    organization's name (and id): it is never refused, nor is any name inside it.
    """

    hostnames: _Names = field(default_factory=frozenset)
    addresses: _Names = field(default_factory=frozenset)
    paths: _Names = field(default_factory=frozenset)
    processes: _Names = field(default_factory=frozenset)
    organizations: _Names = field(default_factory=frozenset)
    tokens: _Names = field(default_factory=frozenset)
    internal_names: _Names = field(default_factory=frozenset)
    public: _Names = field(default_factory=frozenset)
    own: _Names = field(default_factory=frozenset)

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        apps: Iterable[str] = (),
        organizations: Iterable[str] = (),
        own_organization: str | None = None,
        hostnames: Iterable[str] = (),
        public: Iterable[str] = (),
        machine: Iterable[str] | None = None,
    ) -> Known:
        """Every internal name ``config`` holds, and those passed in.

        From the config:

        - host names: each ``sensing.http.checks[].url``'s host and each
          ``sensing.dependencies.probes[].host`` that is a name; ``alertmanager.host``
          and ``alertmanager.url``'s host; ``notify.dashboard_url``'s host; the host of
          each ``notify.targets[].url`` whose scheme names a host (json, xml, form,
          mailto: in slack:// and the like it is a secret, never copied here), and so of
          each ``customers.channels[].url``;
        - IP addresses: the same hosts when they are addresses, and ``api.listen``'s;
        - file paths (and each file's name): ``state_dir``, ``api.unix_socket``,
          ``actions.helper.socket``, ``actions.nginx.{prefix, conf, pid_file, error_log}``,
          ``actions.pause_jobs.flag_file``, ``actions.rate_limit_uploads.{include_file,
          organizations_map_file}``, ``actions.clear_temp.dirs``, ``sensing.disk.mounts``
          (but /), ``sensing.pm2.home``, ``logs.nginx[].paths`` and ``logs.apps[].paths``
          (a glob up to its first wildcard's directory), each health check URL's path,
          and ``actions.nginx.binary`` and ``sensing.pm2.binary`` when they are paths;
        - process and app names: ``actions.pm2_restart.apps``, ``actions.pause_jobs.apps``,
          ``sensing.pm2.user``, ``actions.helper.allowed_user``, the programs
          ``actions.nginx.binary`` and ``sensing.pm2.binary`` run, ``logs.nginx[].name``,
          ``logs.apps[].name``, ``sensing.http.checks[].name``,
          ``sensing.dependencies.probes[].name`` (what the host runs — nginx, pm2, … —
          is refused by :func:`~calmopsd.customers.leaks.find_leaks` whatever Known says);
        - organizations: ``api.tokens[].organization``, ``notify.targets[].organization``
          ``customers.channels[].organization``;
        - token names: ``api.tokens[].name`` and the daemon's own ``local-cli``;
        - other internal names: the rule names in force, ``notify.targets[].name``,
          ``actions.rate_limit_uploads.zone``, the safe actions' names,
          ``customers.channels[].name``;
        - public addresses: ``customers.public_urls``.

        Passed in: ``apps`` (PM2's live app names), ``organizations`` (other
        organizations' ids and names, from the store), ``own_organization`` (the name or
        id of the organization the message is for: allowed, and taken out of the
        organizations), ``hostnames`` (nginx's ``server_name``s; ``*.`` and a leading
        ``.`` are dropped, regular expressions and ``_`` skipped), ``public`` (more
        allowed addresses) and ``machine`` (this host's names; by default
        :func:`machine_names`, which asks the resolver).
        """
        own = _names([own_organization])
        hosts, addresses = _split_hosts([*_config_hosts(config), *_machine(machine)])
        served, served_addresses = _split_hosts(_server_names(hostnames), labels=False)
        return cls(
            hostnames=hosts | served,
            addresses=addresses | served_addresses | _listen_address(config),
            paths=_config_paths(config),
            processes=_names([*_config_processes(config), *apps]),
            organizations=_others([*_config_organizations(config), *organizations], own),
            tokens=_names([LOCAL_TOKEN_NAME, *(t.name for t in config.api.tokens)]),
            internal_names=_config_internal_names(config),
            public=_names([*(str(u) for u in config.customers.public_urls), *public]),
            own=own,
        )


@lru_cache(maxsize=1)
def machine_names() -> tuple[str, ...]:
    """This machine's host name, its fully qualified name, and the first label of each.

    Asked once per process: ``getfqdn`` asks the resolver, which can take seconds on a
    host with broken DNS, and a check runs at every draft and edit. A renamed host is
    seen after a restart."""
    names = [socket.gethostname(), socket.getfqdn()]
    return tuple(dict.fromkeys([*names, *(n.split(".")[0] for n in names)]))


def _machine(machine: Iterable[str] | None) -> Iterable[str]:
    return machine_names() if machine is None else machine


def _others(organizations: Iterable[str | None], own: _Names) -> _Names:
    mine = {o.casefold() for o in own}
    return frozenset(o for o in _names(organizations) if o.casefold() not in mine)


def _server_names(names: Iterable[str]) -> list[str]:
    kept = []
    for name in names:
        name = name.strip().removeprefix("*.").removeprefix(".")
        if name and name != "_" and not name.startswith("~") and "*" not in name:
            kept.append(name)
    return kept


def _split_hosts(hosts: Iterable[str | None], *, labels: bool = True) -> tuple[_Names, _Names]:
    """Host names and addresses apart; with ``labels``, each name's first label too (the
    host as people say it). Not for nginx's server names: the first label of acme.example
    is the brand customers know."""
    names, addresses = set(), set()
    for host in _names(hosts):
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            names.add(host)
            if labels and "." in host:
                names.add(host.split(".")[0])  # web-1 of web-1.prod.internal
            continue
        addresses.add(host.strip("[]"))
    return frozenset(names), frozenset(addresses)


def _url_host(url: str | None) -> str | None:
    try:
        return urlsplit(url).hostname if url else None
    except ValueError:
        return None


def _config_hosts(config: Config) -> list[str | None]:
    hosts: list[str | None] = [_url_host(check.url) for check in _checks(config)]
    hosts += [probe.host for probe in config.sensing.dependencies.probes]
    hosts += [config.alertmanager.host, _url_host(_text(config.alertmanager.url))]
    hosts.append(_url_host(_text(config.notify.dashboard_url)))
    for url in [
        *(t.url for t in config.notify.targets),
        *(c.url for c in config.customers.channels),
    ]:
        if urlsplit(url).scheme.lower() in _HOST_SCHEMES:
            hosts.append(_url_host(url))
    return hosts


def _listen_address(config: Config) -> _Names:
    if not config.api.listen:
        return frozenset()
    return frozenset({split_listen(config.api.listen)[0]})


def _config_paths(config: Config) -> _Names:
    actions, nginx = config.actions, config.actions.nginx
    paths: list[Path | None] = [
        config.state_dir, config.api.unix_socket, actions.helper.socket, nginx.prefix,
        nginx.conf, nginx.pid_file, nginx.error_log, actions.pause_jobs.flag_file,
        actions.rate_limit_uploads.include_file, actions.rate_limit_uploads.organizations_map_file,
        config.sensing.pm2.home, *actions.clear_temp.dirs,
        *(m for m in config.sensing.disk.mounts if m != Path("/")),
    ]  # fmt: skip
    texts = [str(p) for p in paths if p is not None]
    for source in _sources(config):
        texts += [_before_glob(str(p)) for p in source.paths]
    texts += [urlsplit(c.url).path for c in _checks(config) if urlsplit(c.url).path != "/"]
    texts += [b for b in (nginx.binary, config.sensing.pm2.binary) if "/" in b]
    return _names([*texts, *(_file_name(t) for t in texts)])


def _before_glob(path: str) -> str:
    match = _GLOB.search(path)
    return path if match is None else path[: match.start()].rpartition("/")[0]


def _file_name(path: str) -> str | None:
    name = path.rstrip("/").rpartition("/")[2]
    return name or None


def _config_processes(config: Config) -> list[str | None]:
    actions = config.actions
    names: list[str | None] = [*actions.pm2_restart.apps, *actions.pause_jobs.apps]
    names += [config.sensing.pm2.user, actions.helper.allowed_user]
    names += [Path(b).name for b in (actions.nginx.binary, config.sensing.pm2.binary)]
    names += [source.name for source in _sources(config)]
    names += [check.name for check in _checks(config)]
    names += [probe.name for probe in config.sensing.dependencies.probes]
    return names


def _config_organizations(config: Config) -> list[str | None]:
    organizations = [token.organization for token in config.api.tokens]
    organizations += [target.organization for target in config.notify.targets]
    organizations += [channel.organization for channel in config.customers.channels]
    return organizations


def _config_internal_names(config: Config) -> _Names:
    names: list[str | None] = [rule.name for rule in config.detection_rules()]
    names += [target.name for target in config.notify.targets]
    names += [config.actions.rate_limit_uploads.zone, *(a.value for a in SafeAction)]
    names += [channel.name for channel in config.customers.channels]
    return _names(names)


def _sources(config: Config) -> list[NginxSourceConfig | AppSourceConfig]:
    return [*config.logs.nginx, *config.logs.apps]


def _checks(config: Config) -> list[HttpCheckConfig]:
    return list(config.sensing.http.checks)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
