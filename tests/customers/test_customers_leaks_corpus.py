"""The leak check against its corpus: every leaking text refused with the kind it leaks,
every clean one (near misses included) passed, with the Known of a real config."""

from __future__ import annotations

import pytest
from leak_support import corpus, corpus_known

from calmopsd.customers.leaks import LeakKind, find_leaks, leak_report

KNOWN = corpus_known()
LEAKING = corpus("leaking.yaml")
CLEAN = corpus("clean.yaml")


def test_the_corpus_holds_at_least_40_texts_of_each_and_every_kind() -> None:
    assert len(LEAKING) >= 40
    assert len(CLEAN) >= 40
    # A YAML comment (" #") or a colon cuts a plain scalar short: each text is whole.
    texts = [entry["text"] for entry in LEAKING] + CLEAN
    assert [t for t in texts if not t.rstrip().endswith((".", ")", "!", "?", "'"))] == []
    kinds = {LeakKind(entry["kind"]) for entry in LEAKING}
    assert kinds == set(LeakKind) - {LeakKind.TOO_LONG}


@pytest.mark.parametrize("entry", LEAKING, ids=[e["text"][:50] for e in LEAKING])
def test_a_leaking_text_is_refused_for_what_it_leaks(entry: dict[str, str]) -> None:
    leaks = find_leaks(entry["text"], KNOWN)
    assert LeakKind(entry["kind"]) in {leak.kind for leak in leaks}, leak_report(leaks)


@pytest.mark.parametrize("text", CLEAN, ids=[t[:50] for t in CLEAN])
def test_a_clean_text_passes(text: str) -> None:
    assert find_leaks(text, KNOWN) == [], leak_report(find_leaks(text, KNOWN))
