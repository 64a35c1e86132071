"""Collection names: one rule, used by the Documents page and the store alike, said in plain words."""

from __future__ import annotations

import pytest

from rag.errors import RagError
from rag.index.names import MAX_CHARS, check_collection_name, collection_name_problem


@pytest.mark.parametrize("name", ["abc", "contracts-2024", "docs_ko", "v1.2", "a" * MAX_CHARS, "  papers  "])
def test_good_names_pass(name: str) -> None:
    assert collection_name_problem(name) is None
    assert check_collection_name(name) == name.strip()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "Enter a name"),
        ("ko", "at least 3 characters"),
        ("a" * (MAX_CHARS + 1), "at most 63"),
        ("한국어", "English letters"),
        ("-abc", "start and end with a letter or digit"),
        ("my docs", "English letters"),
        ("a..b", "two dots"),
        ("10.0.0.1", "IP address"),
    ],
)
def test_bad_names_say_why(name: str, reason: str) -> None:
    assert reason in (collection_name_problem(name) or "")


def test_the_library_refuses_a_bad_name_with_the_same_words(library) -> None:
    """Before: 'ko' reached Chroma, whose raw validation error ('3-512 characters from [a-zA-Z0-9._-]') came out."""
    with pytest.raises(RagError) as caught:
        library.open_collection("ko", create=True)
    message = str(caught.value)
    assert message == "cannot create collection 'ko': “ko” is too short: a collection name needs at least 3 characters."
    assert "ko" not in {c.name for c in library.collections()}
