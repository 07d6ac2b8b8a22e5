"""The log watcher: every configured source, tailed and counted, as one reading per round."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from calmopsd.clock import Clock
from calmopsd.config.logs import AppSourceConfig, LogsConfig, NginxSourceConfig
from calmopsd.model import LogState, Reading
from calmopsd.sense.logs.blocks import PARSE_ERRORS, REQUESTS, BlockCounter, Tally
from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat
from calmopsd.sense.logs.lines import LineFormat, Uploads
from calmopsd.sense.logs.nginx import NginxFormat
from calmopsd.sense.logs.tailer import SourceTailer
from calmopsd.sense.logs.windows import Windows, epoch_minute

if TYPE_CHECKING:
    from calmopsd.discover.log_formats import LogSource

log = structlog.get_logger("calmopsd.sense.logs")

SAMPLER = "logs"
UNPARSABLE_AT_LEAST = 20  # malformed lines in one round before a source is said unparsable


@dataclass
class _Source:
    name: str
    kind: str
    counter: BlockCounter
    tailer: SourceTailer
    paths: list[str]


NginxFormats = Callable[[], Sequence["LogSource"]]
"""The sources nginx says it writes (``calmopsd.discover.nginx_log_sources``)."""


def real_format(source: NginxSourceConfig, nginx_formats: NginxFormats | None) -> NginxSourceConfig:
    """``source`` in the log_format nginx really writes its paths in, when it is left at
    ``combined`` and nginx says otherwise (``main``, most often); else ``source`` itself."""
    if nginx_formats is None or source.format != "combined":
        return source
    from calmopsd.discover.log_formats import matching

    try:
        found = matching([str(p) for p in source.paths], list(nginx_formats()))
    except Exception as exc:  # asking nginx must never stop the logs being read
        log.info("logs.nginx_not_asked", source=source.name, error=repr(exc))
        return source
    if found is None or found.format == "combined" or found.fields:
        return source
    log.info(
        "logs.format_from_nginx",
        source=source.name,
        format=found.format,
        organization=found.organization or None,
        why="; ".join(found.why),
    )
    update: dict[str, Any] = {"format": found.format}
    if found.organization and not source.organization:
        update["organization"] = found.organization
    return source.model_copy(update=update)


def line_format(source: NginxSourceConfig | AppSourceConfig, uploads: Uploads) -> LineFormat:
    """The parser for one configured source."""
    if isinstance(source, AppSourceConfig):
        f = source.fields
        fields = JsonFields(
            time=f.time,
            status=f.status,
            method=f.method,
            route=f.route,
            level=f.level,
            organization=f.organization,
            request_id=f.request_id,
        )
        return JsonFormat(fields, uploads, source.error_levels)
    if source.format == "json":
        n = source.fields
        fields = JsonFields(
            time=n.time, status=n.status, request=n.request, organization=source.organization
        )
        return JsonFormat(fields, uploads)
    return NginxFormat(source.format, uploads, source.organization)


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 1)


def _listed(problems: list[str], shown: int = 5) -> str:
    more = len(problems) - shown
    return "; ".join(problems[:shown]) + (f"; and {more} more" if more > 0 else "")


class LogWatcher:
    """Tails every source in ``config`` and turns new lines into windowed rates.

    ``state`` is what :meth:`state` returned before a restart; files are then
    read on from exactly where those counts stop.
    """

    def __init__(
        self,
        config: LogsConfig,
        clock: Clock,
        state: LogState | None = None,
        nginx_formats: NginxFormats | None = None,
    ):
        self.clock = clock
        state = state or LogState()
        self.counting = config.counting()
        self.windows = Windows(config.max_organizations, config.settle)
        self.windows.restore(state.buckets, state.totals)
        uploads = Uploads(config.uploads)
        self.sources: list[_Source] = []
        self._empty: set[str] = set()  # sources that matched no file last round
        self._unparsable: set[str] = set()  # sources said to be mostly unparsable
        self._behind_since: dict[str, datetime] = {}  # sources with unread bytes, since when
        configured: list[NginxSourceConfig | AppSourceConfig] = [
            *(real_format(s, nginx_formats) for s in config.nginx),
            *config.apps,
        ]
        for source in configured:
            known = source.name in self.windows.totals
            self.windows.start(source.name)
            tailer = SourceTailer(
                source.name,
                source.paths,
                max_line_length=config.max_line_length,
                max_read=config.max_read_per_round * 1024 * 1024,
                start_at_end=config.start_at == "end" and not known,
                positions=[f for f in state.files if f.source == source.name],
            )
            kind = "app" if isinstance(source, AppSourceConfig) else "nginx"
            counter = BlockCounter(line_format(source, uploads), config.max_organizations)
            paths = [str(p) for p in source.paths]
            self.sources.append(_Source(source.name, kind, counter, tailer, paths))
        self.windows.prune(clock.now(), [s.name for s in self.sources])

    def poll(self, stopping: Callable[[], bool] = lambda: False) -> Reading:
        """Read what is new in every file; return the rates as a ``logs`` reading. Never raises
        for a missing or unreadable file: such a source simply has no lines.

        A path that is not a log file (a FIFO, ``/dev/zero``) is in its source's
        ``problems``; when nothing at all was read because of such paths (no source has
        a file), the reading is not ok and its error lists them.

        Once ``stopping()`` says so (the daemon is stopping), reading stops between chunks:
        what was read is counted and its position kept, the rest is read after the restart.
        Each source says how far behind it is (``behind_bytes``, ``behind_seconds``: since
        when it has had unread bytes after a round), as ``logs.behind`` says in the journal.
        """
        began = time.perf_counter()
        now = self.clock.now()
        minute = epoch_minute(now)
        for source in self.sources:
            tally: Tally = {}
            long_lines = source.tailer.long_lines
            other_lines = source.counter.other_lines
            source.counter.start_round(self.windows.organizations())

            def consume(
                buf: bytes, end: int, source: _Source = source, tally: Tally = tally
            ) -> None:
                source.counter.count(buf, end, tally, minute)

            try:
                source.tailer.poll(consume, stopping)
            except Exception as exc:  # one broken source must not stop the others
                log.warning("logs.source_failed", source=source.name, error=repr(exc))
            self.windows.add(source.name, tally, now)
            self._say_when_unparsable(source, tally, source.counter.other_lines - other_lines)
            self.windows.organizations_over_limit += source.counter.folded
            if source.tailer.long_lines > long_lines:
                self.windows.parse_error(source.name, now, source.tailer.long_lines - long_lines)
        self.windows.prune(now, [s.name for s in self.sources])
        values = self.windows.values(now, self.counting)
        read_any = False
        for source in self.sources:
            files = sorted(f.path for f in source.tailer.files.values() if f.present)
            read_any = read_any or bool(files)
            self._say_when_empty(source, bool(files))
            values["sources"][source.name].update(
                kind=source.kind,
                files=files,
                truncations=source.tailer.truncations,
                problems=sorted(source.tailer.problems.values()),
                unparsable=source.name in self._unparsable,
                **self._behind(source, now),
            )
        if stopping():
            log.info("logs.round_cut_short", hint="the rest is read after the restart")
        duration_ms = (time.perf_counter() - began) * 1000
        problems = [p for s in self.sources for p in sorted(s.tailer.problems.values())]
        if problems and not read_any:
            return Reading(SAMPLER, now, False, duration_ms, values, _listed(problems))
        return Reading(SAMPLER, now, True, duration_ms, values)

    def _behind(self, source: _Source, now: datetime) -> dict[str, Any]:
        """How far the source's reading is behind its files, said when it begins and ends."""
        unread = source.tailer.behind()
        since = self._behind_since.get(source.name)
        if unread and since is None:
            since = self._behind_since[source.name] = now
            log.warning(
                "logs.behind", source=source.name, behind_bytes=unread,
                hint="more was written than one round reads (logs.max_read_per_round): "
                "it catches up over the next rounds",
            )  # fmt: skip
        elif not unread and since is not None:
            del self._behind_since[source.name]
            log.info("logs.caught_up", source=source.name, behind_s=_seconds(now - since))
            since = None
        seconds = _seconds(now - since) if since is not None else 0.0
        return {"behind_bytes": unread, "behind_seconds": seconds}

    def _say_when_empty(self, source: _Source, has_files: bool) -> None:
        """A source matching no file reads as a silent site; say so once, and when it ends."""
        if has_files == (source.name not in self._empty):
            return
        if has_files:
            self._empty.discard(source.name)
            log.info("logs.source_found", source=source.name)
        else:
            self._empty.add(source.name)
            log.warning(
                "logs.source_empty",
                source=source.name,
                paths=source.paths,
                hint="no readable file matches these paths",
            )

    def _say_when_unparsable(self, source: _Source, tally: Tally, other: int = 0) -> None:
        """Half or more of a round's lines malformed: the wrong format, or a glob that also
        matches another kind of log (``*.log`` taking ``error.log``); or an app log of which
        not one line is JSON. Said once (and in the reading, ``unparsable``, which status
        shows), until a round reads clean again; each malformed line is still counted and
        skipped."""
        bad = sum(counts[PARSE_ERRORS] for counts in tally.values())
        parsed = sum(counts[REQUESTS] for counts in tally.values())
        if other >= UNPARSABLE_AT_LEAST and not tally:
            if source.name not in self._unparsable:
                self._unparsable.add(source.name)
                log.warning(
                    "logs.nothing_parsed",
                    source=source.name,
                    other_lines=other,
                    paths=source.paths,
                    hint="not one new line is JSON: check that these paths are the app's "
                    "JSON log (pino, winston), not its plain-text output",
                )
        elif bad >= UNPARSABLE_AT_LEAST and bad >= parsed:
            if source.name not in self._unparsable:
                self._unparsable.add(source.name)
                log.warning(
                    "logs.unparsable",
                    source=source.name,
                    malformed=bad,
                    parsed=parsed,
                    paths=source.paths,
                    hint="most new lines do not match the source's format: check the format, "
                    "and that its paths match only that kind of log",
                )
        elif bad == 0 and tally:
            self._unparsable.discard(source.name)

    def state(self) -> LogState:
        """Positions and counts as of the last :meth:`poll`, to save in one transaction."""
        return LogState(
            files=tuple(p for s in self.sources for p in s.tailer.positions()),
            buckets=tuple(self.windows.buckets()),
            totals=tuple(self.windows.total_buckets()),
        )

    def close(self) -> None:
        """Close every open file."""
        for source in self.sources:
            source.tailer.close()
