"""structlog set-up: one event per line, JSON for journald, readable on a terminal.

Every line has an event name (``incident.opened``), a level, a UTC timestamp
and key-value fields. Lines from libraries that use the standard ``logging``
module (APScheduler) go through the same renderer, so journald sees one format.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog
import structlog.tracebacks

LogFormat = Literal["auto", "json", "console"]

_SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


# Frames without their local variables: locals hold configs and readings, which
# may carry tokens (a health-check URL) that must never reach the journal.
_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def configure(level: str = "info", fmt: LogFormat = "auto", stream: TextIO | None = None) -> None:
    """(Re)configure logging; safe to call again on SIGHUP with a new level or format."""
    out = stream or sys.stdout
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    tracebacks: list[structlog.types.Processor] = [_TRACEBACKS] if as_json else []
    level_number = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*_SHARED, *tracebacks, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,  # module-level loggers must follow a reload
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tracebacks,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    # Libraries speak only when something is wrong; their info lines are noise here.
    root.setLevel(max(level_number, logging.WARNING))
