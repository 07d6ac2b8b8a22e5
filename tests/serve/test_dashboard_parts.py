"""The dashboard's pure parts: the sparkline, the dialog's preview, and its target table
held to the executor's own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from calmopsd.act import ACTIONS
from calmopsd.config.actions import ActionsConfig
from calmopsd.model import Recommendation, RecommendationStatus, SafeAction
from calmopsd.serve.dashboard.confirm import TARGETS, checks
from calmopsd.serve.dashboard.render import duration
from calmopsd.serve.dashboard.sparkline import HEIGHT, PAD, Level, breach_share, sparkline

T = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_the_sparkline_draws_the_series_the_threshold_and_one_shade_per_breach() -> None:
    points = [(0.0, 50.0), (60.0, 90.0), (120.0, 95.0), (180.0, 60.0), (240.0, 88.0)]
    svg = str(sparkline(points, span_s=300.0, op=">", levels=[Level(85.0, "threshold")],
                        title="memory <used>"))  # fmt: skip
    assert svg.count("<rect") == 2  # 60-180 s, and 240 s to the end
    assert "<title>memory &lt;used&gt;</title>" in svg
    (coords,) = re.findall(r'points="([^"]+)"', svg)
    assert len(coords.split()) == 5
    (y,) = set(re.findall(r'y1="([^"]+)"', svg))
    low, high = 50.0, 95.0  # the level lies inside the values' range
    assert float(y) == round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * (85 - low) / (high - low), 1)


def test_a_sparkline_below_its_threshold_has_no_shade_and_says_so() -> None:
    points = [(0.0, 10.0), (10.0, 20.0)]
    svg = str(sparkline(points, span_s=60.0, op=">", levels=[Level(85.0, "threshold")], title="t"))
    assert "<rect" not in svg
    assert breach_share(points, ">", 85.0) == 0.0
    assert breach_share([(0.0, 90.0), (1.0, 10.0)], "<", 20.0) == 0.5


def test_an_empty_sparkline_is_still_a_picture() -> None:
    svg = str(sparkline([], span_s=60.0, op="<", levels=[], title="nothing"))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "polyline" not in svg


@pytest.mark.parametrize(
    ("action", "params"),
    [(SafeAction.PM2_RESTART, {"app": "api"}), (SafeAction.NGINX_RELOAD, {}),
     (SafeAction.PAUSE_JOBS, {"ttl": "10m"}), (SafeAction.RATE_LIMIT_UPLOADS, {"ttl": "10m"}),
     (SafeAction.RATE_LIMIT_UPLOADS, {"ttl": "10m", "organization": "acme"}),
     (SafeAction.CLEAR_TEMP, {}), (SafeAction.CLEAR_TEMP, {"dir": "/tmp/x"})],
)  # fmt: skip
def test_the_dialogs_target_is_the_one_the_executor_counts_budgets_on(
    action: SafeAction, params: dict[str, str]
) -> None:
    assert set(TARGETS) == set(ACTIONS)
    assert TARGETS[action](params) == ACTIONS[action].target(params)


def test_the_rechecks_are_told_in_the_order_they_run() -> None:
    rec = Recommendation(
        1, 1, None, "safe_action", "pm2_restart", {"app": "api"}, "restart",
        RecommendationStatus.PROPOSED, T, T + timedelta(hours=1), {},
        {"unresolved": True, "firing": [["memory_used", []], ["disk_used", [["mount", "/"]]]]},
    )  # fmt: skip
    assert checks(rec, ActionsConfig()) == [
        "the recommendation is still proposed (no one decided it meanwhile)",
        "it has not expired (it expires 2026-03-02 15:00 UTC)",
        "the incident is still unresolved",
        "the breach memory_used still fires",
        "the breach disk_used (mount=/) still fires",
        "no action is running on this incident",
        "the kill switch is off",
        "the action's allowlist admits these parameters",
        "no other action holds the target's lock",
    ]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "—"), (-1, "—"), (12, "12 s"), (250, "4 min 10 s"), (3900, "1 h 05 min"),
     (90000, "1 d 1 h")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown
