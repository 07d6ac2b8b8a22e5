"""A survey of the host as the starting config: only the keys it fills, each guess commented.

The header says when and from what it was written, what was not found, and
where the full reference is (the shipped config, every key with its meaning
and default). ``actions.mode`` is written as ``shadow`` (the default) with a
comment, so nothing acts until a person has read the guesses. Sections:

    actions   nginx's pid file and error log (when not calmopsd's defaults), the PM2
              apps it may restart, the apps that look like workers for pause_jobs
    sensing   the disk sampler's mounts, sensing.pm2 home and user, health checks
    logs      logs.nginx sources; formats calmopsd cannot read commented out, with why
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from calmopsd.config.actions import NginxConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.config.units import Name
from calmopsd.discover import Survey
from calmopsd.discover.document import Item, Key, item_lines, lines_of, render
from calmopsd.discover.findings import HealthCandidate, Pm2App, Pm2Found
from calmopsd.discover.health import needs_through_nginx
from calmopsd.discover.log_formats import LogSource
from calmopsd.typed import TypeAdapter, ValidationError

WORKER = re.compile(
    r"worker|queue|consumer|scheduler|cron|sidekiq|bullmq|agenda"
    r"|(?:^|[-_.])(?:jobs?|tasks?)(?:$|[-_.0-9])",
    re.IGNORECASE,
)
_NAME: TypeAdapter[str] = TypeAdapter(Name)
MODE_NOTE = (
    "shadow: calmopsd decides as it would in enforce, records 'would have run X' in the "
    "audit log, and runs nothing. Keep it until the guesses below are reviewed. Default: shadow."
)


def draft(survey: Survey, now: datetime, reference: Path) -> str:
    """The config text; raises ValueError only for a bug (see document.render)."""
    missing: list[str] = []
    keys = (_actions(survey, missing), _sensing(survey, missing), _logs(survey, missing))
    return render(keys, _header(now, reference, _read(survey), missing))


def _read(survey: Survey) -> list[str]:
    read = [f"- nginx: {survey.nginx.read}"] if survey.nginx.source else []
    chosen = survey.pm2.chosen
    return read + ([f"- PM2: {chosen.source}"] if chosen else [])


def _header(now: datetime, reference: Path, read: list[str], missing: list[str]) -> tuple[str, ...]:
    lines: tuple[str, ...] = (
        f"calmopsd configuration, written by `calmopsd init` on {now:%Y-%m-%d %H:%M} UTC from "
        "what it found on this host. Each value it filled is a guess, with where it came from "
        "in a comment above it: review them before trusting the config.",
        "Every other setting keeps its default. The full reference, every key with its meaning, "
        f"unit and default, is the shipped config: {reference} (config/calmops.yaml in "
        "calmopsd's source). Check an edit with `calmopsd check-config PATH`.",
    )
    if read:
        lines += ("", "Read:", *read)
    if missing:
        lines += ("", "Not found:", *(f"- {m}" for m in missing))
    return lines


def _actions(survey: Survey, missing: list[str]) -> Key:
    children = [Key("mode", "shadow", (MODE_NOTE,))]
    nginx = _nginx_actions(survey)
    if nginx is not None:
        children.append(nginx)
    chosen = survey.pm2.chosen
    if chosen is not None and chosen.apps:
        children += _pm2_actions(chosen)
    return Key("actions", tuple(children))


def _nginx_actions(survey: Survey) -> Key | None:
    found, defaults = survey.nginx, NginxConfig()
    keys = []
    if found.binary and not survey.nginx_on_path:
        keys.append(Key("binary", found.binary, ("the nginx init found; not the `nginx` on PATH",)))
    for name, value in (("prefix", found.prefix), ("conf", found.conf)):
        if value:
            keys.append(Key(name, value, (f"given to calmopsd init: nginx -{name[0]} {value}",)))
    for name, seen in (("pid_file", found.pid_file), ("error_log", found.error_log)):
        if seen is not None and Path(seen.value) != getattr(defaults, name):
            keys.append(Key(name, seen.value, (seen.why,)))
    return Key("nginx", tuple(keys)) if keys else None


def _pm2_actions(chosen: Pm2Found) -> list[Key]:
    apps = [a for a in chosen.apps if _valid_name(a.name)]
    left_out = [a.name for a in chosen.apps if not _valid_name(a.name)]
    notes = [
        "Guessed from PM2: every app it has, running or saved. Review before enforcing: "
        "calmopsd may restart each of these; take out any app a restart would hurt.",
    ]
    if left_out:
        notes.append(
            f"Left out: {', '.join(left_out)} (a name here holds only letters, digits, . _ -)."
        )
    restart = Key("pm2_restart", (Key("apps", tuple(_app_item(a) for a in apps), tuple(notes)),))
    workers = [a for a in apps if WORKER.search(a.name) and a.port is None]
    if not workers:
        note = "No PM2 app looks like a background worker by its name: list workers yourself."
        return [restart, Key("pause_jobs", None, (f"pause_jobs: {note}",))]
    note = (
        "A guess from their names (worker, queue, jobs, cron…) and no PORT: apps that look like "
        "background workers, stopped while a dependency is down. Check each is safe to stop."
    )
    pause = Key("pause_jobs", (Key("apps", tuple(Item(a.name) for a in workers), (note,)),))
    return [restart, pause]


def _app_item(app: Pm2App) -> Item:
    if app.exec_mode == "cluster_mode":
        how = f"cluster_mode, {app.instances} instances: reloaded one by one"
    else:
        how = f"{app.exec_mode or 'fork_mode'}: restarted (a brief gap)"
    return Item(app.name, (how,) if app.running else (how, "saved in dump.pm2, not running now"))


def _sensing(survey: Survey, missing: list[str]) -> Key:
    mounts = tuple(Item(m.mountpoint, (m.why,)) for m in survey.mounts)
    note = "Guessed from the mounted filesystems (pseudo, read-only and system ones left out)."
    disk = Key("disk", (Key("mounts", mounts, (note,)),))
    return Key("sensing", (disk, _pm2_sensing(survey, missing), _http(survey, missing)))


def _pm2_sensing(survey: Survey, missing: list[str]) -> Key:
    chosen = survey.pm2.chosen
    if chosen is None:
        looked = ", ".join(survey.pm2.looked_at) or "no PM2_HOME with a pm2.pid or dump.pm2"
        missing.append(f"PM2: no running daemon and no dump.pm2 (looked at: {looked})")
        note = "pm2: none found; the pm2 sampler says not_running until PM2 runs (set home)."
        return Key("pm2", None, (note,))
    how = "a running PM2 daemon" if chosen.live else "a saved dump.pm2, no daemon running now"
    keys = [Key("home", chosen.home, (f"guessed: the PM2_HOME of {how}",))]
    if chosen.owner and _valid_user(chosen.owner):
        note = "The owner of that PM2_HOME: pm2 runs as this user for the actions."
        keys.append(Key("user", chosen.owner, (note,)))
    notes = [f"Also found: {o.home} ({len(o.apps)} apps), not read." for o in survey.pm2.others]
    notes += [n for n in chosen.notes if chosen.live or "no PM2 daemon" not in n]
    return Key("pm2", tuple(keys), tuple(notes))


def _http(survey: Survey, missing: list[str]) -> Key:
    up = [c for c in survey.checks if c.up]
    down = [c for c in survey.checks if not c.up]
    if not survey.checks:
        missing.append("a health URL: no nginx location like /health, no PM2 app with a PORT")
        return Key("http", None, ("http: no health URL found; add yours under checks.",))
    items = tuple(Item(_check_keys(c.candidate), (c.candidate.why, c.answer)) for c in up)
    notes = [f"Not switched on: {c.candidate.url}: {c.candidate.why}; {c.answer}." for c in down]
    snippet = tuple(line for c in down for line in item_lines(Item(_check_keys(c.candidate))))
    if not up:
        missing.append("a health URL that answered 200 (the ones tried are commented out)")
    return Key("http", (Key("checks", items, tuple(notes), snippet),))


def _check_keys(candidate: HealthCandidate) -> tuple[Key, ...]:
    keys = [Key("name", candidate.name), Key("url", candidate.url)]
    if needs_through_nginx(candidate):
        keys.append(Key("through_nginx", bool(candidate.through_nginx)))
    return tuple(keys)


def _logs(survey: Survey, missing: list[str]) -> Key:
    found = survey.nginx
    readable = [s for s in survey.log_sources if s.unreadable is None]
    unreadable = [s for s in survey.log_sources if s.unreadable is not None]
    notes = [*(found.notes if found.source else ()), *_app_log_notes(survey)]
    notes += [f"Not read: {s.name} ({', '.join(s.paths)}): {s.unreadable}." for s in unreadable]
    if found.source is None:
        missing.append("nginx: " + "; ".join(found.notes or ("no nginx config",)))
    elif not survey.log_sources:
        missing.append(f"nginx access logs: none in {found.read}")
    items = tuple(Item(_source_keys(s), _source_notes(s)) for s in readable)
    snippet = tuple(line for s in unreadable for line in item_lines(Item(_source_keys(s))))
    if not survey.log_sources:
        note = "logs: no nginx access log found; add yours under logs.nginx or logs.apps."
        return Key("logs", None, (*notes, note))
    if not readable:
        shown = lines_of((Key("nginx", tuple(Item(_source_keys(s)) for s in unreadable)),))
        return Key("logs", None, tuple(notes), shown if unreadable else ())
    return Key("logs", (Key("nginx", items, tuple(notes), snippet),))


def _source_keys(source: LogSource) -> tuple[Key, ...]:
    keys = [
        Key("name", source.name),
        Key("paths", tuple(Item(p) for p in source.paths)),
        Key("format", source.format),
    ]
    if source.fields:
        keys.append(Key("fields", tuple(Key(k, v) for k, v in source.fields.items())))
    if source.organization:
        keys.append(Key("organization", source.organization))
    return tuple(keys)


def _source_notes(source: LogSource) -> tuple[str, ...]:
    notes = source.why
    if source.organization:
        notes += (f"organization: {source.organization} is a guess from its name.",)
    return notes


def _app_log_notes(survey: Survey) -> list[str]:
    chosen = survey.pm2.chosen
    logs = [a.out_log for a in chosen.apps if a.out_log] if chosen else []
    if not logs:
        return []
    return [
        "PM2 writes the apps' output to "
        + ", ".join(logs[:6])
        + (" and more" if len(logs) > 6 else "")
        + ": an app that logs JSON lines (pino, winston, bunyan) can be added under logs.apps "
        "(see the reference)."
    ]


def _valid_name(name: str) -> bool:
    try:
        _NAME.validate_python(name)
    except ValidationError:
        return False
    return True


def _valid_user(user: str) -> bool:
    try:
        Pm2SamplerConfig.model_validate({"user": user})
    except ValidationError:
        return False
    return True
