"""The post-incident review's headings in people's words, one place for every reader:
the CLI's screen (``calmopsd review``) and the dashboard's incident page title each field
and figure the same way."""

from __future__ import annotations

# Each of ``calmopsd.record.reviews.FIELDS``, in its order (a test holds them together).
TITLES = {
    "timeline": "Timeline",
    "root_cause": "Root cause",
    "helped": "What helped",
    "not_helped": "What did not",
    "prevention": "Prevention",
    "tuning": "Alert tuning",
    "notes": "Notes",
}

# The figures a review is drafted with (``Review.figures``, in seconds), in reading order.
FIGURES = {
    "time_to_detect_s": "Time to detect",
    "time_to_stabilize_s": "Time to stabilize",
    "time_to_resolve_s": "Time to resolve",
}
