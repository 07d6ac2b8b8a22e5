"""The API's alert-tuning route, under the same prefix, tokens and JSON errors as the rest
(registered by :func:`calmopsd.serve.app.create_app`).

``POST /tuning/proposals`` with an optional body ``{"since": "30d", "noise_within":
"10m"}``: the rules in force backtested over ``since`` of history, and the best change
of each noisy rule proposed as an ``alert_tuning`` recommendation (a super-admin
operator's; see :mod:`calmopsd.serve.tuning`). The answer lists each proposal with its
recommendation id, or why it was skipped (the same change pending, or decided before).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from calmopsd.backtest.noise import QUICK
from calmopsd.config.units import format_duration, parse_duration
from calmopsd.errors import InvalidRequest
from calmopsd.serve.bodies import Body, parse_body
from calmopsd.serve.tokens import Caller
from calmopsd.serve.tuning import LONGEST, Tuning, tuned_view
from calmopsd.serve.web import App, g, request
from calmopsd.typed import Field

Duration = Annotated[str, Field(min_length=1, max_length=20)]


class TuningAsk(Body):
    since: Duration = "30d"
    noise_within: Duration = format_duration(QUICK)


def register(app: App, prefix: str, tuning: Tuning) -> None:
    def proposals() -> tuple[dict[str, Any], int]:
        if request.args:
            raise InvalidRequest("this route takes no query parameters", "invalid_query")
        ask = parse_body(TuningAsk, request.get_data(cache=True), optional=True)
        since = duration("since", ask.since, LONGEST)
        quick = duration("noise_within", ask.noise_within, timedelta(days=1))
        caller: Caller = g.caller
        return tuned_view(tuning.propose(caller, since, quick)), 200

    app.add_url_rule(prefix + "/tuning/proposals", endpoint="tuning_proposals",
                     view_func=proposals, methods=["POST"],
                     provide_automatic_options=False)  # fmt: skip


def duration(name: str, text: str, longest: timedelta) -> timedelta:
    """A duration from a body or an option, within (0, ``longest``]."""
    try:
        found = parse_duration(text)
    except ValueError as exc:
        raise InvalidRequest(f"{name}: {exc}", "invalid_body") from None
    if not timedelta(0) < found <= longest:
        raise InvalidRequest(
            f"{name}: must be longer than 0s and at most {format_duration(longest)}",
            "invalid_body",
        )
    return found
