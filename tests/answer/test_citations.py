"""Citation markers: near-miss forms normalised, parsing, validation against the number of sources, cleaning,
page labels."""

from __future__ import annotations

import pytest

from rag.answer.citations import (
    clean_citations,
    marker_spans,
    normalise_citations,
    only_pointers,
    page_ref,
    parse_citations,
    source_label,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Two years [2]. A receipt is needed [1].", (2, 1)),
        ("Both say so [1, 3].", (1, 3)),
        ("Both say so [1][3].", (1, 3)),
        ("Pages agree [2-4].", (2, 3, 4)),
        ("Pages agree [2–3].", (2, 3)),
        ("Semicolons too [3; 1].", (3, 1)),
        ("Named [Source 2] and [sources 1 and 4].", (2, 1, 4)),
        ("Repeated [1] and again [1] and [2, 1].", (1, 2)),
    ],
)
def test_cited_numbers_in_first_appearance_order(text: str, expected: tuple[int, ...]) -> None:
    report = parse_citations(text, n_sources=5)
    assert report.cited == expected
    assert report.invalid == ()
    assert not report.uncited


def test_numbers_outside_the_given_sources_are_invalid() -> None:
    report = parse_citations("Fact [2]. Invented [7]. Zero [0]. Mixed [1, 9].", n_sources=3)
    assert report.cited == (2, 1)
    assert report.invalid == (7, 0, 9)


def test_answer_without_markers_is_uncited() -> None:
    report = parse_citations("The warranty lasts two years.", n_sources=3)
    assert report.cited == ()
    assert report.uncited


@pytest.mark.parametrize("text", ["In [2021] it changed.", "See [the manual](x.pdf).", "Array a[i] and [ ]."])
def test_brackets_that_are_not_citations_are_ignored(text: str) -> None:
    report = parse_citations(text, n_sources=3)
    assert report.cited == ()
    assert report.invalid == ()


def test_absurd_range_keeps_only_its_ends() -> None:
    report = parse_citations("Everything [1-900].", n_sources=3)
    assert report.cited == (1,)
    assert report.invalid == (900,)


def test_clean_removes_invalid_markers_and_keeps_valid_ones() -> None:
    text = "Fact one [1]. Invented [7]. Mixed [2, 9]. Range [2-5]. Adjacent [3][8]."
    cleaned = clean_citations(text, n_sources=3)
    assert cleaned == "Fact one [1]. Invented. Mixed [2]. Range [2, 3]. Adjacent [3]."
    assert parse_citations(cleaned, 3).invalid == ()


def test_clean_leaves_valid_text_untouched() -> None:
    text = "Line one [1].\n\n    indented  code [2]\nEnd [1, 3]."
    assert clean_citations(text, n_sources=3) == text


def test_page_references_are_one_based() -> None:
    assert page_ref(0) == "p. 1"
    assert page_ref(3, 3) == "p. 4"
    assert page_ref(3, 4) == "pp. 4–5"
    assert source_label("manual.pdf", 2) == "manual.pdf, p. 3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Issue 13: Qwen2.5-1.5B cited by copying the source tag.
        ('Two years <source id="3" file="manual.pdf" page="p. 2">.', "Two years [3]."),
        ("Two years <source id=3>.", "Two years [3]."),
        ("Two years <source 3>.", "Two years [3]."),
        ("Two years [3]</source>.", "Two years [3]."),  # a copied closing tag carries nothing
        ("Two years (source 3).", "Two years [3]."),
        ("Two years (Sources 1, 2).", "Two years [1, 2]."),
        ("Two years (see source 2).", "Two years [2]."),
        ("Two years [source: 3].", "Two years [3]."),
        ("Two years [Source #3].", "Two years [3]."),
        ("Two years 【3】.", "Two years [3]."),
        ("Two years 【3†source】.", "Two years [3]."),
        ("Two years ［2］.", "Two years [2]."),
        ("Two years [3†L1-L5].", "Two years [3]."),
        ("Two years[^3].", "Two years[3]."),
        ("Two years [[3]].", "Two years [3]."),
        ("Two years [3, p. 4].", "Two years [3]."),
        ("Source 3: the warranty lasts two years.", "[3] the warranty lasts two years."),
        ("- Source 2: two years", "- [2] two years"),
        ("보증 기간은 2년입니다 (출처 2).", "보증 기간은 2년입니다 [2]."),
        ("보증 기간은 2년입니다 [출처: 1].", "보증 기간은 2년입니다 [1]."),
        # The stand-in model copied the source header before its claim.
        ("[1] 고용_청년.pdf, p. 3, 확정 예산은 657,680 백만원입니다.", "[1] 확정 예산은 657,680 백만원입니다."),
        ("[2] a_b.pdf, pp. 3–4: two years", "[2] two years"),
    ],
)
def test_near_miss_citations_become_markers(text: str, expected: str) -> None:
    assert normalise_citations(text) == expected
    assert parse_citations(normalise_citations(text), n_sources=5).cited  # and are now parsed as citations


@pytest.mark.parametrize(
    "text",
    [
        "Revenue in (2019) was $5,794 million, a loss of (123).",  # a year and a negative amount
        "In [2021] it changed; [1000] is no source either.",
        "1. First step\n2) Second step\n(3) Third step",  # list numbering
        "Open source 3 times a day. Source code: 3 files.",  # the word without a citation's shape
        "Sources 2019: none; see (source 2019).",  # four digits: a year, never a source number
        "Array a[3] and f(3) and x^3 and [x]3.",
        "Already fine [1] and [2, 3].",
        "See [2]; the report.pdf, p. 4 says so.",  # a file named in prose, not a header after its marker
    ],
)
def test_years_amounts_and_prose_are_left_alone(text: str) -> None:
    assert normalise_citations(text) == text


def test_marker_spans_give_position_and_numbers() -> None:
    text = "A [1]. B [2-3] and [Source 4]."
    assert [(text[a:b], numbers) for a, b, numbers in marker_spans(text)] == [
        ("[1]", (1,)),
        ("[2-3]", (2, 3)),
        ("[Source 4]", (4,)),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[2][3] [4]", True),
        ("[1] BOEING_2022_10K.pdf, p. 54\n[2] a.pdf, pp. 3–4", True),
        ("", True),
        (" - . ", True),
        ("21.6% [1]", False),
        ("Two years [1].", False),
        ("2년입니다 [1]", False),
        ("[2021]", False),  # a year in brackets is no marker
    ],
)
def test_only_pointers(text: str, expected: bool) -> None:
    assert only_pointers(text) is expected
