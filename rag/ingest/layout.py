"""Table-aware page text: each table row on one line, its cells in column order, from pypdf's layout mode.

pypdf's plain extraction follows the content stream: a statement's column headers often come out one
cell per line ("July 2, / 2023 / July 3, / 2022") and a label can land lines away from its values.
Layout mode places text where it is printed, padding columns with spaces, so a row stays a row. It
also sets two-column prose side by side on one line, so it is used only for pages that hold a table
and not several columns of prose. Pure functions: the loader decides when to call pypdf.
"""

from __future__ import annotations

import re

# Layout mode pads with one space per character width: three or more spaces are a gap between
# columns, not between words (justified prose stretches a word gap to two at most).
_GAP = re.compile(r" {3,}")
# A numeric cell: amounts, percentages, negatives in brackets, footnote marks, and the dashes tables use for nil.
_AMOUNT = re.compile(r"^[(\-–—]?[$€£¥₩]?\s?\(?[-–]?\d[\d,.]*\)?\s?%?\)?\*?$|^[—–-]{1,3}$")
_NUMBER_TOKEN = re.compile(r"(?<![\w.])\(?[$€£¥₩]?\d[\d,.]*%?\)?(?![\w])")
_LEADING_FIGURE = re.compile(r"^(?:approximately |about |up to )?[(\-–]?[$€£¥₩]?\d")
_LEADER = re.compile(r"^[.·… ]{3,}$")
_TRAILING_LEADER = re.compile(r"(?:\s*[.·…]){3,}\s*$")
_YEAR = re.compile(r"^(?:FY\s?)?(?:19|20)\d\d$")
# ",dddd" is never a thousands group: it is a day and a year whose lines were joined.
_DAY_YEAR = re.compile(r"(\b\d{1,2}),(?=(?:19|20)\d\d\b)")
_CURRENCY_ONLY = re.compile(r"^[$€£¥₩]$")
_SENTENCE_WORDS = 8  # a cell with this many words is a sentence, not a table cell
_LONG_CELL = 30  # characters: a cell this long without digits is running text
_MIN_ROWS = 3
_ROW_WORDS = 12  # a plain-text line with more words than this is prose quoting figures, not a row
_ROW_GAP = 2  # other lines a table's rows may have between them (a subtotal label, a wrapped row title)
_MIN_SHARE = 0.2  # of a page's lines that must be rows, unless it has many
_MIN_KEPT = 0.9  # layout text must keep this share of the plain text's characters (it drops rotated text)


def cells(line: str) -> list[str]:
    """A layout line's cells: the text between column gaps, a lone currency sign joined to its amount.

    Dot leaders (a contents page's ". . . .") are dropped: they only join a title to its page.
    """
    parts = [_TRAILING_LEADER.sub("", p).strip() for p in _GAP.split(line.strip())]
    parts = [p for p in parts if p and not _LEADER.match(p)]
    out: list[str] = []
    for part in parts:
        if out and _CURRENCY_ONLY.match(out[-1]):
            out[-1] = out[-1] + part
        elif out and part in (")", "%", ")%", "%)"):
            out[-1] += part
        else:
            out.append(part)
    return out


def is_amount(cell: str) -> bool:
    return bool(_AMOUNT.match(cell.replace(" ", "")))


def _figure(cell: str) -> bool:
    """A cell that is a figure or starts with one ("$10.95 billion to $11.05 billion", "4% to 5%")."""
    return is_amount(cell) or (len(cell) <= 40 and bool(_LEADING_FIGURE.match(cell)))


def _numbered_line(row: list[str]) -> bool:
    """Running text with a line or footnote number beside it, not a table row."""
    return len(row) == 2 and len(row[0]) >= 40 and bool(re.fullmatch(r"\d{1,3}", row[1]))


def _justified(row: list[str]) -> bool:
    """A line of justified prose: its word gaps stretched past the column-gap width."""
    words = [c for c in row if " " not in c and not re.search(r"\d", c)]
    return len(row) >= 4 and len(words) >= 0.6 * len(row)


def _text_cell(cell: str) -> bool:
    """A cell of running text: long, and mostly words."""
    return len(cell) >= _LONG_CELL and len(re.findall(r"[^\W\d_]{2,}", cell)) >= 4


def _side_by_side(row: list[str]) -> bool:
    """Running text laid out in columns: justified words, numbered lines, or two columns of prose."""
    return _justified(row) or _numbered_line(row) or (len(row) >= 2 and sum(_text_cell(c) for c in row) >= 2)


def _running_text(row: list[str]) -> bool:
    """Prose, not a table line: text in columns, or a run-in heading before its paragraph
    ("Label Smoothing   During training, we employed ...")."""
    return _side_by_side(row) or any(len(re.findall(r"[^\W\d_]{2,}", c)) >= _SENTENCE_WORDS for c in row)


def is_row(row: list[str]) -> bool:
    """A table row: a label with letters, then at least one figure.

    A numbered line of prose is not one, nor a line of column titles ("Years ended | 2022 | 2021").
    """
    if len(row) < 2 or not re.search(r"[^\W\d_]", row[0]) or _running_text(row):
        return False
    figures = [c for c in row[1:] if _figure(c)]
    return bool(figures) and not all(_YEAR.match(c) for c in figures)


def looks_tabular(plain: str) -> bool:
    """Cheap test on the plain text: a block of lines of figures that could be a table (worth a layout pass).

    Rows read as "label 1,234 5,678", or, when plain extraction put one cell per line, as many lines
    holding nothing but a figure. They must come together (at most ``_ROW_GAP`` other lines between):
    a two-column paper's prose has such lines scattered down the page ("in 2019 and 2020"), and sending
    those pages through layout mode cost 2.4x the extraction time for no table kept (bench/tables.py).
    """
    multi = alone = gap = 0
    for line in plain.splitlines():
        if not line.strip():
            continue
        numbers = _NUMBER_TOKEN.findall(line)
        words = len(re.findall(r"[^\W\d_]{2,}", line))
        if len(numbers) >= 2 and words <= _ROW_WORDS:
            multi, gap = multi + 1, 0
        elif numbers and not words:
            alone, gap = alone + 1, 0
        else:
            gap += 1
            if gap > _ROW_GAP:
                multi = alone = 0
        if multi >= _MIN_ROWS or alone + multi >= 2 * _MIN_ROWS:
            return True
    return False


def _visible(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _tidy(cell: str) -> str:
    """One cell on one line; a date whose two header lines were joined gets its space back ("July 1, 2023")."""
    return _DAY_YEAR.sub(r"\1, ", " ".join(cell.split()))


def table_text(layout: str, plain: str = "") -> str | None:
    """The layout text with cells joined by " | ", or None when the page is no table page.

    None also when the page holds running text in several columns (layout mode would interleave
    them) or when the layout text lost characters the plain text has (rotated text).
    """
    rows = prose = 0
    parsed: list[list[str] | None] = []
    for line in layout.split("\n"):
        if not line.strip():
            parsed.append(None)
            continue
        row = cells(line)
        parsed.append(row)
        if is_row(row):
            rows += 1
        elif _side_by_side(row):
            prose += 1
    lines_used = sum(1 for row in parsed if row)
    # A few figure lines among much text (equations, a stray aligned pair) do not make a table page.
    if rows < _MIN_ROWS or rows < _MIN_SHARE * lines_used and rows < 8 or prose > max(2, rows // 3):
        return None
    lines: list[str] = []
    for row in parsed:
        if row is None:
            if lines and lines[-1]:
                lines.append("")
            continue
        lines.append((" " if _running_text(row) else " | ").join(_tidy(c) for c in row))
    text = "\n".join(lines).strip()
    if plain and _visible(text.replace("|", "")) < _MIN_KEPT * _visible(plain):
        return None
    return text


_CELL_SEP = " | "
_HEADING_MAX_CHARS = 100
_HEADER_MAX_CHARS = 160
_SKIP_HEADING = re.compile(r"^(table of contents|index|\d+|page \d+)$", re.IGNORECASE)


def row_line(line: str) -> bool:
    """A line of table text (as ``table_text`` writes it) that is a row with figures."""
    return _CELL_SEP in line and is_row(line.split(_CELL_SEP))


def _title_line(line: str) -> bool:
    text = line.strip()
    return (
        0 < len(text) <= _HEADING_MAX_CHARS
        and _CELL_SEP not in text
        and (not text.endswith((".", ":", ";", ",")) or (text.endswith(".") and len(text.split()) <= 4))
        and bool(re.search(r"[^\W\d_]", text))
        and len(text.split()) <= 14
    )


def page_heading(lines: list[str]) -> list[str]:
    """The title lines at the top of a page ("CONSOLIDATED BALANCE SHEETS", "(in millions)"), at most three."""
    out: list[str] = []
    for line in lines:
        text = line.strip()
        if not text or _SKIP_HEADING.match(text):
            continue
        if not _title_line(text) or len(out) == 3:
            break
        out.append(text)
    return out


def _prose_line(text: str) -> bool:
    """A long line without cells: a wrapped row label, or running text after a table when two come in a row."""
    return _CELL_SEP not in text and len(text) > 80


def table_context(lines: list[str]) -> list[str]:
    """For each line, what a chunk starting there must repeat to be read alone ("" for none).

    Inside a table (from its first row to the running text after it) that is the page's heading and
    the lines just above the first row (column titles, dates): a chunk that continues a table is
    otherwise a list of figures whose columns and statement nobody can tell.
    """
    heading = page_heading(lines)
    out: list[str] = []
    pending: list[str] = []  # lines since the last row
    context = ""
    in_table = False
    for line in lines:
        text = line.strip()
        if row_line(text):
            if not in_table:
                above = [h for h in pending[-3:] if len(h) <= _HEADER_MAX_CHARS and h not in heading]
                context = "\n".join(heading + above)
                in_table = True
            out.append(context)
            pending = []
            continue
        if in_table and _prose_line(text) and (text.endswith(".") or (pending and _prose_line(pending[-1]))):
            in_table, context = False, ""
        if text:
            pending.append(text)
        out.append(context)
    return out
