"""Citation markers: parsing, validation against the number of sources, cleaning, page labels."""

from __future__ import annotations

import pytest

from rag.citations import clean_citations, page_ref, parse_citations, source_label


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
