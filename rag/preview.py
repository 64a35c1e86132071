"""Render one PDF page to PNG bytes (pypdfium2), in a child process bounded in time, memory and size.

Ingestion reads PDFs in killable workers because a hostile file can crash or hang a PDF engine;
page previews get the same care: PDFium runs in a short-lived ``python -m rag.preview`` process with
an address-space limit and a timeout, so a bad page costs an error message, never the app. The
image is scaled so its longer side is at most ``max_px`` pixels.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rag.errors import RagError

DEFAULT_MAX_PX = 1400
MAX_SCALE = 3.0
_ROOT = Path(__file__).resolve().parent.parent
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Exit codes of the child, mapped to the reason shown to the user.
_EXIT_PASSWORD = 3
_EXIT_NO_PAGE = 4
_EXIT_UNREADABLE = 5


class PreviewError(RagError):
    """A page could not be rendered; ``kind`` is "password_required", "no_page", "timeout" or "unreadable"."""

    def __init__(self, message: str, kind: str = "unreadable") -> None:
        self.kind = kind
        super().__init__(message)


def page_scale(width_pt: float, height_pt: float, max_px: int) -> float:
    """The render scale (pixels per PDF point) that fits the longer side into ``max_px``."""
    longest = max(width_pt, height_pt, 1.0)
    return max(0.05, min(MAX_SCALE, max_px / longest))


def _render_in_process(path: str, page_index: int, max_px: int, password: str | None) -> bytes:
    """The child's work: open, render one page, encode PNG."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(path, password=password or None)
    except pdfium.PdfiumError as e:
        if getattr(e, "err_code", None) == 4:  # FPDF_ERR_PASSWORD
            raise SystemExit(_EXIT_PASSWORD) from e
        raise SystemExit(_EXIT_UNREADABLE) from e
    try:
        if not 0 <= page_index < len(pdf):
            raise SystemExit(_EXIT_NO_PAGE)
        page = pdf[page_index]
        width, height = page.get_size()
        bitmap = page.render(scale=page_scale(width, height, max_px), may_draw_forms=True)
        image = bitmap.to_pil()
        image.thumbnail((max_px, max_px))  # rotation can swap sides; keep the bound exact
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False)
        return out.getvalue()
    finally:
        pdf.close()


def _limit_memory(memory_mb: int) -> None:
    try:
        import resource
    except ImportError:  # not on Windows; the timeout still applies
        return
    limit = memory_mb * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass


def render_page_png(
    path: Path | str,
    page_index: int,
    *,
    max_px: int = DEFAULT_MAX_PX,
    password: str | None = None,
    timeout_s: float = 20.0,
    memory_mb: int = 1536,
) -> bytes:
    """PNG bytes of page ``page_index`` (0-based) of the PDF at ``path``; PreviewError when it fails."""
    path = Path(path)
    if not path.is_file():
        raise PreviewError(f"the original file is not stored ({path.name})", "missing")
    max_px = max(64, min(int(max_px), 4000))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "rag.preview", str(path), str(int(page_index)), str(max_px), str(memory_mb)]
    try:
        done = subprocess.run(
            command,
            input=(password or "").encode("utf-8"),  # on stdin, never on the command line
            capture_output=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        message = f"rendering page {page_index + 1} took over {timeout_s:g} s and was stopped"
        raise PreviewError(message, "timeout") from e
    except OSError as e:
        raise PreviewError(f"could not start the page renderer: {e}") from e
    if done.returncode == 0 and done.stdout.startswith(_PNG_MAGIC):
        return done.stdout
    if done.returncode == _EXIT_PASSWORD:
        raise PreviewError("the PDF is password-protected: enter its password to preview it", "password_required")
    if done.returncode == _EXIT_NO_PAGE:
        raise PreviewError(f"the PDF has no page {page_index + 1}", "no_page")
    detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
    reason = detail[-1][:200] if detail else f"exit code {done.returncode}"
    raise PreviewError(f"page {page_index + 1} could not be rendered ({reason})")


def _main(argv: list[str]) -> int:
    path, page_index, max_px, memory_mb = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    password = sys.stdin.read()
    _limit_memory(memory_mb)
    try:
        png = _render_in_process(path, page_index, max_px, password)
    except MemoryError:
        print("rendering needed more memory than allowed", file=sys.stderr)
        return _EXIT_UNREADABLE
    sys.stdout.buffer.write(png)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
