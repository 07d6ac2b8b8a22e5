"""What one scrape reads, and the small builders every family uses.

A family is a function of a :class:`Scrape` that yields prometheus-client
``Metric`` values; the table in :mod:`calmopsd.serve.metrics` lists them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from calmopsd.model import Reading
from calmopsd.record.database import Database
from calmopsd.record.loads import Cadence
from calmopsd.serve.vitals import Loads, Vitals

T = TypeVar("T")
Value = float | int | bool | None
Family = Callable[["Scrape"], Iterable[Metric]]


@dataclass(frozen=True)
class Scrape:
    """One scrape's view: read once, shared by every family."""

    now: datetime
    readings: Mapping[str, Reading]
    sampling: Mapping[str, Cadence]
    database: Database
    vitals: Vitals
    loads: Loads


def gauge(name: str, doc: str, value: Value) -> Iterator[Metric]:
    """One unlabelled gauge; nothing when the value is unknown."""
    if value is not None:
        yield GaugeMetricFamily(name, doc, value=float(value))


def per(
    name: str,
    doc: str,
    label: str,
    items: Mapping[str, T],
    value: Callable[[T], Value],
    *,
    counter: bool = False,
) -> Iterator[Metric]:
    """One series per item (``label`` = its key); items whose value is unknown are left out,
    and so is the family when none is known."""
    rows = (([key], value(item)) for key, item in sorted(items.items()))
    yield from labelled(name, doc, [label], rows, counter=counter)


def labelled(
    name: str,
    doc: str,
    labels: list[str],
    rows: Iterable[tuple[list[str], Value]],
    *,
    counter: bool = False,
) -> Iterator[Metric]:
    """One series per row of label values; the family is left out without rows."""
    known = [(values, v) for values, v in rows if v is not None]
    if not known:
        return
    family = (CounterMetricFamily if counter else GaugeMetricFamily)(name, doc, labels=labels)
    for values, v in known:
        family.add_metric(values, float(v))
    yield family
