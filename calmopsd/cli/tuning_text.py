"""``calmopsd backtest --propose`` in words: each proposal, its backtest, what became of
it (the command that approves it, or why it was not proposed again) and its diff."""

from __future__ import annotations

from typing import Any

_SKIPPED = {
    "pending": "not proposed again: the same change waits for a person already",
    "decided": "not proposed again: a person decided the same change before",
}


def proposals_text(answer: dict[str, Any]) -> str:
    roughly = " (partly from 5-minute roll-ups, so roughly)" if answer.get("approximate") else ""
    lines = [f"Backtest of the rules in force, {answer['since'][:10]} to "
             f"{answer['until'][:10]}{roughly}."]  # fmt: skip
    proposals = answer.get("proposals") or []
    noisy = answer.get("noisy_rules") or []
    if not noisy:
        lines.append("No rule opened an incident that recovered by itself: nothing to tune.")
    elif not proposals:
        lines.append(f"Noisy: {', '.join(noisy)}; no change tried removes noise without "
                     "missing a real incident, so nothing is proposed "
                     "(calmopsd backtest --suggest shows what was tried).")  # fmt: skip
    for p in proposals:
        noisy_count = len(p["noise"])
        removes = f"removes {len(p['removes'])} of {noisy_count} noisy incident" + (
            "s" if noisy_count != 1 else ""
        )
        later = p.get("later_s")
        if later:
            removes += f", opens the rest up to {later:.0f} s later"
        lines.append(f"- rule {p['rule']}: {p['change']} ({removes})")
        if p.get("recommendation_id") is not None:
            lines.append(f"  proposed as recommendation #{p['recommendation_id']} on incident "
                         f"#{p['incident_id']}: calmopsd approve {p['incident_id']} "
                         f"{p['recommendation_id']} (or reject)")  # fmt: skip
        else:
            lines.append("  " + _SKIPPED.get(str(p.get("skipped")), str(p.get("skipped"))))
        lines.extend("    " + line for line in str(p.get("diff", "")).rstrip().splitlines())
    return "\n".join(lines)
