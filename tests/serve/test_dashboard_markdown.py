"""The runbook's Markdown as HTML: the few constructs it uses become tags, everything else
is escaped text — for the shipped runbook and for any text at all."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from calmopsd import runbook
from calmopsd.serve.dashboard.markdown import anchor, to_html

# The only tags to_html writes, and the only attribute (a heading's id, letters/digits/dashes).
_OWN_TAGS = re.compile(r'</?(?:p|ul|li|code|strong)>|<h[1-6] id="[a-z0-9-]*">|</h[1-6]>')


def test_headings_paragraphs_lists_code_and_bold() -> None:
    text = (
        "# Runbook\n\n"
        "A paragraph that goes\non over two lines, with `a <tag>` and **bold words**.\n\n"
        "- one item\n  that continues\n- `calmopsd show ID` second\n\n"
        "## memory\n\nClassified as memory by: `host_memory`.\n"
    )
    assert to_html(text) == (
        '<h1 id="runbook">Runbook</h1>\n'
        "<p>A paragraph that goes on over two lines, with <code>a &lt;tag&gt;</code> and "
        "<strong>bold words</strong>.</p>\n"
        "<ul><li>one item that continues</li><li><code>calmopsd show ID</code> second</li></ul>\n"
        '<h2 id="memory">memory</h2>\n'
        "<p>Classified as memory by: <code>host_memory</code>.</p>"
    )


def test_a_heading_with_text_right_under_it_is_a_heading_and_a_paragraph() -> None:
    assert to_html("## disk\nfull") == '<h2 id="disk">disk</h2>\n<p>full</p>'


def test_markup_links_and_scripts_are_text() -> None:
    shown = to_html('<script>alert(1)</script> [x](javascript:alert(1)) <a href="y">z</a> & "q"')
    assert shown == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; [x](javascript:alert(1)) "
        "&lt;a href=&#34;y&#34;&gt;z&lt;/a&gt; &amp; &#34;q&#34;</p>"
    )


def test_code_keeps_its_asterisks_and_bold_cannot_open_a_tag() -> None:
    assert to_html("`**not bold**` **<b>**") == (
        "<p><code>**not bold**</code> <strong>&lt;b&gt;</strong></p>"
    )


def test_an_anchor_is_the_heading_in_lower_case_letters_digits_and_dashes() -> None:
    assert anchor("memory") == "memory"
    assert anchor('Roll back "or" <escalate>') == "roll-back-or-escalate"


def test_the_shipped_runbook_has_nothing_left_unrendered() -> None:
    shown = str(to_html(runbook.document()))
    assert "**" not in shown and "`" not in shown and "\n#" not in shown
    assert shown.count("<h2 ") == len(runbook.types())


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_no_text_can_put_a_tag_or_an_attribute_of_its_own_on_the_page(text: str) -> None:
    left = _OWN_TAGS.sub("", str(to_html(text)))
    assert "<" not in left and ">" not in left
    assert '"' not in left  # quotes are escaped everywhere, so no attribute can be opened
