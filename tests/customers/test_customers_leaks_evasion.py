"""The leak check against a text written to slip past it: invisible characters, look-alike
letters, other case, names spelt out; and inputs built to make a regular expression
backtrack, which must still be answered (and correctly)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from leak_support import corpus, corpus_known

from calmopsd.customers.leaks import MAX_LENGTH, Known, LeakKind, find_leaks

KNOWN = Known(
    hostnames=frozenset({"web-1"}),
    processes=frozenset({"uploads-worker", "thumbnailer", "api"}),
    organizations=frozenset({"globex"}),
)
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202e"]


def kinds_and_excerpts(text: str, known: Known = KNOWN) -> list[tuple[str, str]]:
    return [(leak.kind.value, leak.excerpt) for leak in find_leaks(text, known)]


@pytest.mark.parametrize(
    ("text", "excerpt"),
    [
        ("on w\u200be\u200bb-1 today", "w\u200be\u200bb-1"),  # zero-width spaces
        ("on \u202eweb-1 today", "web-1"),  # a bidi override before it: not part of it
        ("on ｗｅｂ－１ today", "ｗｅｂ－１"),  # full-width forms (NFKC)
        ("on w\u0435b-1 today", "w\u0435b-1"),  # a Cyrillic е
        ("on \u1d21eb-1 today", None),  # a small-capital ᴡ is no w to NFKC: not followed
        ("on we\u0301b-1 today", "we\u0301b-1"),  # a combining accent
        ("on WEB-1 today", "WEB-1"),
        ("on w-e-b-1 today", "w-e-b-1"),  # spelt out
        ("on w.e.b_1 today", "w.e.b_1"),
        ("on web 1 today", "web 1"),  # its own separator written another way
        ("on web1 today", "web1"),
    ],
)
def test_a_host_name_is_found_however_it_is_disguised(text: str, excerpt: str | None) -> None:
    leaks = kinds_and_excerpts(text)
    assert leaks == ([("hostname", excerpt)] if excerpt else [])


def test_letters_spaced_out_by_blanks_are_not_followed() -> None:
    # Documented: prose collides with it ("a p i" is rare, "we b" is not).
    assert kinds_and_excerpts("the t h u m b n a i l e r is slow") == []


def test_a_soft_hyphen_inside_a_name_does_not_hide_it() -> None:
    assert kinds_and_excerpts("the thumb\u00adnailer is slow") == [
        ("process_name", "thumb\u00adnailer")
    ]


def test_a_name_inside_a_longer_word_is_another_word() -> None:
    assert kinds_and_excerpts("our globexian partners") == []
    assert kinds_and_excerpts("web-10 and web-1x") == [("hostname", "web-10")]  # a host shape


ADVERSARIAL = [
    "a" * MAX_LENGTH,
    "a." * (MAX_LENGTH // 2),
    "/a" * (MAX_LENGTH // 2),
    "1." * (MAX_LENGTH // 2),
    "1:" * (MAX_LENGTH // 2),
    ":" * MAX_LENGTH,
    "a-" * (MAX_LENGTH // 2),
    "at " * (MAX_LENGTH // 3),
    "at a." * (MAX_LENGTH // 5),
    "@a." * (MAX_LENGTH // 3),
    "Ab" * (MAX_LENGTH // 2),
    "w-" * (MAX_LENGTH // 2),
    "\u200b" * MAX_LENGTH,
    "SELECT " * (MAX_LENGTH // 7),
    "a_" * (MAX_LENGTH // 2),
    "~a/" * (MAX_LENGTH // 3),
    "u-p-l-o-a-d-s-" * (MAX_LENGTH // 14),
    "a:1" * (MAX_LENGTH // 3),
    "x" * (MAX_LENGTH - 1) + "!",
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[repr(t[:8]) for t in ADVERSARIAL])
def test_inputs_built_to_backtrack_are_answered_with_offsets_into_them(text: str) -> None:
    known = corpus_known()
    assert len(text) <= MAX_LENGTH
    for leak in find_leaks(text, known):
        assert leak.excerpt == text[leak.start : leak.end]
        assert 0 <= leak.start < leak.end <= len(text)


def test_what_the_adversarial_inputs_hold_is_told_exactly() -> None:
    assert kinds_and_excerpts("a" * MAX_LENGTH) == []
    assert kinds_and_excerpts(":" * MAX_LENGTH) == []
    assert kinds_and_excerpts("\u200b" * MAX_LENGTH) == []
    assert kinds_and_excerpts("/a" * (MAX_LENGTH // 2)) == [("file_path", "/a" * (MAX_LENGTH // 2))]
    assert kinds_and_excerpts("0" * MAX_LENGTH) == [("token", "0" * MAX_LENGTH)]


# --- properties ---------------------------------------------------------------------------

NAMES = st.sampled_from(
    [
        ("uploads-worker", LeakKind.PROCESS_NAME),
        ("thumbnailer", LeakKind.PROCESS_NAME),
        ("web-1", LeakKind.HOSTNAME),
        ("globex", LeakKind.ORGANIZATION),
    ]
)
CLEAN = corpus("clean.yaml")
CORPUS = [e["text"] for e in corpus("leaking.yaml")] + CLEAN
CLEAN_KNOWN = corpus_known()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CLEAN), NAMES, st.data())
def test_a_known_name_put_between_any_two_words_of_a_clean_text_is_found(
    text: str, named: tuple[str, LeakKind], data: st.DataObject
) -> None:
    name, kind = named
    words = text.split(" ")
    at = data.draw(st.integers(0, len(words)))
    spelt = data.draw(st.sampled_from([name, name.upper(), name.title()]))
    leaking = " ".join([*words[:at], spelt, *words[at:]])
    start = len(" ".join(words[:at])) + (1 if at else 0)
    found = find_leaks(leaking, KNOWN)
    leaks = [leak for leak in found if leak.kind is kind]
    if not leaks:
        # A shape read first may take the name in ("Basic uploads-worker" reads as an
        # HTTP Basic credential): refused all the same, the name inside that leak.
        assert any(x.start <= start and start + len(spelt) <= x.end for x in found), found
        return
    assert [leak.excerpt for leak in leaks] == [spelt]
    assert leaking[leaks[0].start : leaks[0].end] == spelt


@settings(max_examples=200, deadline=None)
@given(NAMES, st.lists(st.sampled_from(ZERO_WIDTH), min_size=1, max_size=4), st.data())
def test_invisible_characters_anywhere_inside_a_name_do_not_hide_it(
    named: tuple[str, LeakKind], invisible: list[str], data: st.DataObject
) -> None:
    name, kind = named
    chars = list(name)
    for char in invisible:
        chars.insert(data.draw(st.integers(1, len(chars) - 1)), char)
    hidden = "".join(chars)
    text = f"We restarted {hidden} at 10:30 UTC."
    leaks = find_leaks(text, KNOWN)
    assert [(leak.kind, leak.excerpt) for leak in leaks] == [(kind, hidden)]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CORPUS), st.lists(st.sampled_from(ZERO_WIDTH), max_size=6), st.data())
def test_invisible_characters_between_words_change_nothing(
    text: str, invisible: list[str], data: st.DataObject
) -> None:
    words = text.split(" ")
    for char in invisible:
        at = data.draw(st.integers(0, len(words) - 1))
        words[at] = char + words[at]
    changed = " ".join(words)
    before = [leak.kind for leak in find_leaks(text, CLEAN_KNOWN)]
    after = [leak.kind for leak in find_leaks(changed, CLEAN_KNOWN)]
    assert after == before


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_LENGTH + 5))
def test_any_text_is_answered_with_excerpts_that_are_its_own_parts(text: str) -> None:
    for leak in find_leaks(text, CLEAN_KNOWN):
        assert leak.excerpt == text[leak.start : leak.end]
        assert 0 <= leak.start < leak.end <= len(text)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from("ab01.:/-_@ \u200bwe#x=~"),
        max_size=200,
    )
)
def test_technical_looking_noise_is_answered_with_excerpts_that_are_its_own_parts(
    text: str,
) -> None:
    for leak in find_leaks(text, CLEAN_KNOWN):
        assert leak.excerpt == text[leak.start : leak.end]
        assert leak.start < leak.end
