"""Collection names: one rule for the app, the command line and the store, said in plain words.

Chroma checks names itself, but its message is raw ("Validation error: name: Expected a name
containing 3-512 characters from [a-zA-Z0-9._-]...") and its limits differ between versions (the
embedded store takes 512 characters, older servers 63). The rule here is the strictest of them, so a
name that passes works with every store the app can use.
"""

from __future__ import annotations

import re

from rag.errors import ConfigError

MIN_CHARS = 3
MAX_CHARS = 63
_ALLOWED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def collection_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a collection, as a sentence for the user; None when it can."""
    name = name.strip()
    if not name:
        return "Enter a name for the collection."
    if len(name) < MIN_CHARS:
        return f"“{name}” is too short: a collection name needs at least {MIN_CHARS} characters."
    if len(name) > MAX_CHARS:
        return f"That name is {len(name)} characters long: a collection name may have at most {MAX_CHARS}."
    if not _ALLOWED.fullmatch(name):
        return (
            "Use only English letters, digits, '.', '_' or '-', and start and end with a letter or digit "
            "(e.g. contracts-2024)."
        )
    if ".." in name:
        return "A collection name may not contain two dots in a row ('..')."
    if _IPV4.fullmatch(name):
        return "A collection name may not look like an IP address (such as 192.168.0.1)."
    return None


def check_collection_name(name: str) -> str:
    """``name`` stripped, or ConfigError with the reason it cannot name a collection."""
    problem = collection_name_problem(name)
    if problem is not None:
        raise ConfigError(f"cannot create collection {name!r}: {problem}")
    return name.strip()
