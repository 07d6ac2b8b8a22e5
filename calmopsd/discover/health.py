"""A likely health URL, tried once the way the http sampler would judge it.

Candidates: an nginx ``location`` such as ``/health`` or ``/healthz`` (on the
server's first plain-HTTP listen, through nginx), and each PM2 app with a
``PORT`` in its environment (``/health``, ``/healthz`` and ``/api/health`` on
127.0.0.1:PORT, the path a guess). Each is asked once, all at once, by the
http sampler's own code with a short timeout: one that answers 200 becomes a
check; the others are written commented out with what they answered, so a
check that would open an incident from the first minute is never switched on.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from calmopsd.config.sensing import HttpCheckConfig, HttpSamplerConfig
from calmopsd.discover.findings import HealthCandidate, HealthCheck, Pm2App
from calmopsd.sense.http import HttpSampler

APP_PATHS = ("/health", "/healthz", "/api/health")
MAX_CANDIDATES = 16
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def candidates(from_nginx: tuple[HealthCandidate, ...], apps: tuple[Pm2App, ...]) -> list[
    list[HealthCandidate]
]:  # fmt: skip
    """Groups of URLs for one thing each (an nginx location, an app's port), best first."""
    groups = [[c] for c in from_nginx]
    for app in apps:
        if app.port is None:
            continue
        name = app.name if _NAME.match(app.name) else f"app-{app.port}"
        why = f"guessed from PM2: PORT={app.port} in the environment of {app.name}"
        groups.append(
            [
                HealthCandidate(name, f"http://127.0.0.1:{app.port}{path}", None, why)
                for path in APP_PATHS
            ]
        )
    return groups


def probe(groups: list[list[HealthCandidate]], timeout_s: float) -> list[HealthCheck]:
    """Per group, its first URL that answered 200, else its first URL and what it answered."""
    flat = [c for group in groups for c in group][:MAX_CANDIDATES]
    answers = _ask(flat, timeout_s)
    names: set[str] = set()
    checks = []
    for group in groups:
        tried = [(c, answers[c.url]) for c in group if c.url in answers]
        if not tried:
            continue
        chosen, (up, answer) = next((t for t in tried if t[1][0]), tried[0])
        name = _unique(chosen.name, names)
        checks.append(HealthCheck(_renamed(chosen, name), up, answer))
    return checks


def _ask(flat: list[HealthCandidate], timeout_s: float) -> dict[str, tuple[bool, str]]:
    urls = list(dict.fromkeys(c.url for c in flat))
    timeout = f"{round(timeout_s * 1000)}ms"
    configs = [
        HttpCheckConfig.model_validate({"name": f"c{i}", "url": url, "timeout": timeout})
        for i, url in enumerate(urls)
    ]
    sampler = HttpSampler(HttpSamplerConfig(checks=configs))
    results = sampler.sample()["checks"]
    answers = {}
    for config in configs:
        result = results[config.name]
        if result["up"]:
            answer = f"answered {result['status']} when calmopsd init tried it"
        else:
            answer = f"did not pass when calmopsd init tried it: {result['detail']}"
        answers[config.url] = (bool(result["up"]), answer)
    return answers


def _unique(name: str, taken: set[str]) -> str:
    chosen, n = name, 2
    while chosen in taken:
        chosen, n = f"{name[:60]}-{n}", n + 1
    taken.add(chosen)
    return chosen


def _renamed(candidate: HealthCandidate, name: str) -> HealthCandidate:
    return HealthCandidate(name, candidate.url, candidate.through_nginx, candidate.why)


def needs_through_nginx(candidate: HealthCandidate) -> bool:
    """Whether ``through_nginx`` must be written: the URL's port says otherwise."""
    if candidate.through_nginx is None:
        return False
    parts = urlsplit(candidate.url)
    default = parts.port is None or parts.port == {"http": 80, "https": 443}[parts.scheme]
    return candidate.through_nginx != default
