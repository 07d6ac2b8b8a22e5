"""The api: section: loopback unless public, tokens that say whose they are, errors at lines."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest

from calmopsd.config import load_config
from calmopsd.config.api import is_loopback, split_listen
from calmopsd.errors import ConfigError
from calmopsd.serve.server import ApiServer

NAME = "calmops.yaml"
HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OTHER = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def problems_for(text: str) -> list[str]:
    Path(NAME).write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(Path(NAME))
    return raised.value.problems


def test_a_non_loopback_address_needs_public() -> None:
    assert problems_for("api:\n  listen: 0.0.0.0:8787\n") == [
        "calmops.yaml:2: api.listen: 0.0.0.0 is not a loopback address: anyone who can reach it "
        "could try tokens; set api.public: true to serve beyond this host"
    ]
    Path(NAME).write_text("api:\n  listen: 0.0.0.0:8787\n  public: true\n")
    assert load_config(Path(NAME)).api.listen == "0.0.0.0:8787"


@pytest.mark.parametrize(
    ("listen", "problem"),
    [
        ("localhost:8787", "must be IP:PORT, e.g. 127.0.0.1:8787 or [::1]:8787; 'localhost' "
                           "is a host name, and names are not looked up: write the address "
                           "itself (127.0.0.1 for this host only)"),
        ("127.0.0.1", "must be IP:PORT, e.g. 127.0.0.1:8787 or [::1]:8787; the port is "
                      "missing (got '127.0.0.1')"),
        ("127.0.0.1:70000", "port must be 0-65535 (0: any free port) (got '70000')"),
        ("127.0.0.1:123456", "port must be 0-65535 (0: any free port) (got '123456')"),
        ("127.0.0.1:-1", "port must be 0-65535 (0: any free port) (got '-1')"),
        ("127.0.0.1:http", "port must be 0-65535 (0: any free port) (got 'http')"),
        ("[::1]:", "port must be 0-65535 (0: any free port) (got '')"),
        ("::1:8787", "must be IP:PORT, e.g. 127.0.0.1:8787 or [::1]:8787; write IPv6 "
                     "addresses in brackets (got '::1:8787')"),
        ("[::1%lo]:8787", "'::1%lo' has a scope (%lo), which the API cannot bind with: write "
                          "the address alone, e.g. [::1]:8787 (a link-local fe80:: address, "
                          "which needs one, cannot be used)"),
        ("[::1%1]:8787", "'::1%1' has a scope (%1), which the API cannot bind with: write "
                         "the address alone, e.g. [::1]:8787 (a link-local fe80:: address, "
                         "which needs one, cannot be used)"),
        ("[fe80::1]:8787", "'fe80::1' is link-local, which needs an interface scope the API "
                           "cannot bind with: use a loopback, private or global address"),
        ("[::ffff:127.0.0.1]:8787", "'::ffff:127.0.0.1' is an IPv4 address in IPv6 form: "
                                    "write 127.0.0.1:PORT"),
        ("224.0.0.1:8787", "'224.0.0.1' is a multicast or broadcast address, on which nothing "
                           "can connect to a server"),
        ("[ff02::1]:8787", "'ff02::1' is a multicast or broadcast address, on which nothing "
                           "can connect to a server"),
        ("[127.0.0.1]:8787", "must be IP:PORT, e.g. 127.0.0.1:8787 or [::1]:8787; write IPv6 "
                             "addresses in brackets (got '[127.0.0.1]:8787')"),
        ("300.1.1.1:80", "must be IP:PORT, e.g. 127.0.0.1:8787 or [::1]:8787; '300.1.1.1' is "
                         "not an IP address"),
    ],
)  # fmt: skip
def test_a_listen_address_that_is_not_ip_and_port_is_refused(listen: str, problem: str) -> None:
    problems = problems_for(f'api:\n  listen: "{listen}"\n')
    assert problems == [f"calmops.yaml:2: api.listen: {problem}"]


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:0", "127.0.0.2:0", " 127.0.0.1:0 ", "[::1]:0", "[0:0:0:0:0:0:0:1]:0"]
)
def test_an_address_the_config_accepts_binds_on_the_daemons_own_server_as_written(
    listen: str,
) -> None:
    """The oracle is the API server itself: what check-config passes binds, to the address
    written (``[::1%1]`` used to pass and bound ::1, its scope dropped)."""
    Path(NAME).write_text(f'api:\n  listen: "{listen}"\n')
    accepted = load_config(Path(NAME)).api.listen
    assert accepted is not None
    if ":" in split_listen(accepted)[0] and not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    server = ApiServer(lambda environ, start: [], listen=accepted)
    server.start()
    try:
        assert server.url is not None
        assert server.url.rsplit(":", 1)[0] == "http://" + accepted.rsplit(":", 1)[0]
    finally:
        server.stop(1.0)


def test_ipv6_loopback_and_port_0_are_fine() -> None:
    Path(NAME).write_text('api:\n  listen: "[::1]:0"\n')
    assert load_config(Path(NAME)).api.listen == "[::1]:0"
    assert split_listen("[::1]:8787") == ("::1", 8787)
    assert is_loopback("[::1]:8787")
    assert is_loopback("127.0.0.2:1")
    assert not is_loopback("10.0.0.1:1")


def test_nowhere_to_listen_is_refused_unless_disabled() -> None:
    assert problems_for("api:\n  listen:\n") == [
        "calmops.yaml:1: api: enabled, but neither listen nor unix_socket is set"
    ]
    Path(NAME).write_text("api:\n  enabled: false\n  listen:\n")
    assert load_config(Path(NAME)).api.enabled is False


def test_each_bad_token_is_reported_at_its_own_line_all_at_once() -> None:
    text = f"""\
        api:
          tokens:
            - {{name: acme-ops, organization: acme, role: operator, sha256: {HASH}}}
            - {{name: both, organization: acme, super_admin: true, role: viewer, sha256: {OTHER}}}
            - {{name: neither, role: viewer, sha256: {OTHER}}}
            - {{name: loud, organization: ACME, role: admin, sha256: NOT-A-HASH}}
            - {{name: local-cli, super_admin: true, role: operator, sha256: {OTHER}}}
        """
    assert problems_for(text) == [
        # [1], [2] and [4] share one hash: said at each repeat, with the entries' own problems
        "calmops.yaml:4: api.tokens[1]: give exactly one of organization: ORG and "
        "super_admin: true (token 'both')",
        "calmops.yaml:5: api.tokens[2]: give exactly one of organization: ORG and "
        "super_admin: true (token 'neither')",
        "calmops.yaml:5: api.tokens[2].sha256: duplicate sha256 (entries [1] and [2]): each "
        "token once, under one name",
        "calmops.yaml:6: api.tokens[3].organization: must be an organization id: 1-63 lowercase "
        "letters, digits, '-' or '_' (got 'ACME')",
        "calmops.yaml:6: api.tokens[3].role: must be one of: viewer, operator (got 'admin')",
        "calmops.yaml:6: api.tokens[3].sha256: must be 64 lowercase hex digits, the sha256 "
        "`calmopsd token create` prints (never the token itself)",
        "calmops.yaml:7: api.tokens[4].name: 'local-cli' is the daemon's own token; "
        "choose another name",
        "calmops.yaml:7: api.tokens[4].sha256: duplicate sha256 (entries [1] and [4]): each "
        "token once, under one name",
    ]


def test_a_token_name_or_hash_given_twice_is_refused() -> None:
    text = f"""\
        api:
          tokens:
            - {{name: ops, super_admin: true, role: viewer, sha256: {HASH}}}
            - {{name: ops, organization: acme, role: viewer, sha256: {OTHER}}}
        """
    assert problems_for(text) == [
        "calmops.yaml:4: api.tokens[1].name: duplicate name (entries [0] and [1]): each token "
        "once, under one name"
    ]
    same_hash = text.replace("name: ops, organization", "name: acme, organization").replace(
        OTHER, HASH
    )
    assert problems_for(same_hash) == [
        "calmops.yaml:4: api.tokens[1].sha256: duplicate sha256 (entries [0] and [1]): each "
        "token once, under one name"
    ]


def test_a_valid_token_list_loads() -> None:
    Path(NAME).write_text(
        "api:\n  unix_socket: api.sock\n  tokens:\n"
        f"    - {{name: acme-ops, organization: acme, role: operator, sha256: {HASH}}}\n"
        f"    - {{name: platform, super_admin: true, role: viewer, sha256: {OTHER}}}\n"
    )
    api = load_config(Path(NAME)).api
    assert [(t.name, t.organization, t.super_admin, t.role) for t in api.tokens] == [
        ("acme-ops", "acme", False, "operator"),
        ("platform", None, True, "viewer"),
    ]
    assert api.unix_socket == Path("api.sock").absolute()
