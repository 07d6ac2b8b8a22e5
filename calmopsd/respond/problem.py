"""Which problem a breach belongs to: kept in :mod:`calmopsd.detect.problem`, where the
backtest (which may not import respond) groups replayed breaches the agent's way too."""

from calmopsd.detect.problem import (
    DOMINANT_SHARE,
    HOST_SAMPLERS,
    Problem,
    dominant_organization,
    problem_of,
    resource_of,
    share_figure,
)

__all__ = [
    "DOMINANT_SHARE",
    "HOST_SAMPLERS",
    "Problem",
    "dominant_organization",
    "problem_of",
    "resource_of",
    "share_figure",
]
