"""A static HTML report: headings, tables, preformatted text and PNG plots saved beside ``report.html``.

Opened straight from disk, no server. A small inline script marks ``<body data-images-loaded="N/M">``
once the page has loaded, counting the images that decoded, so a headless browser (and a test) can
tell that every picture shows. Every file is written to a temporary name and renamed.
"""
from __future__ import annotations

import html
import io
import os
from typing import Callable

from layerwise.saving import atomic_write

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { border-bottom: 2px solid #444; padding-bottom: .3rem; } h2 { margin-top: 2.2rem; color: #1f4e79; }
table { border-collapse: collapse; margin: .8rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: .3rem .7rem; text-align: left; }
th { background: #eef3f8; } td.num { text-align: right; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: .9rem; } pre { background: #f6f8fa; padding: .8rem; overflow-x: auto;
white-space: pre-wrap; } .note { color: #8a5a00; } footer { margin-top: 3rem; color: #777; font-size: .85rem; }
"""

# Counts images that decoded (complete with a natural width) once everything has loaded.
_IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
});
</script>"""


class Report:
    """Collects the parts of one report; ``save()`` writes ``folder/report.html``."""

    def __init__(self, folder: str, title: str, intro: str | None = None):
        self.folder, self.title = folder, title
        self.parts: list[str] = []
        self.images: list[str] = []
        self._plots_missing = False
        os.makedirs(folder, exist_ok=True)
        if intro:
            self.paragraph(intro)

    def section(self, title: str, text: str | None = None) -> None:
        self.parts.append(f"<h2>{html.escape(title)}</h2>")
        if text:
            self.paragraph(text)

    def paragraph(self, text: str, note: bool = False) -> None:
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def preformatted(self, text: str) -> None:
        self.parts.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, header: list[str], rows: list[list], caption: str | None = None) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def figure(self, name: str, caption: str, make: Callable[[], object]) -> None:
        """Add the matplotlib figure that ``make()`` returns as ``folder/name.png``.

        Without matplotlib the report says how to get the plots instead of failing.
        """
        try:
            fig = make()
        except ImportError:
            if not self._plots_missing:
                self.paragraph("Plots are missing because matplotlib is not installed "
                               "(pip install 'layerwise[plots]').", note=True)
                self._plots_missing = True
            return
        file = f"{name}.png"
        save_png(fig, os.path.join(self.folder, file))
        self.images.append(file)
        self.parts.append(f'<figure><img src="{html.escape(file)}" alt="{html.escape(caption)}">'
                          f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def render(self) -> str:
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>\n"
                f"<body><h1>{html.escape(self.title)}</h1>\n" + "\n".join(self.parts) +
                "\n<footer>Made by layerwise. Static page: open it from disk, no server needed.</footer>\n"
                f"{_IMAGE_CHECK}\n</body></html>\n")

    def save(self) -> str:
        path = os.path.join(self.folder, "report.html")
        atomic_write(path, self.render().encode("utf-8"))
        return path


def save_png(fig, path: str) -> None:
    """Write a matplotlib figure to ``path`` as PNG, atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write(path, buffer.getvalue())


def _td(value) -> str:
    """A table cell; numbers (and numeric text) are right-aligned so that digits line up."""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    try:
        float(text)
        numeric = True
    except ValueError:
        numeric = False
    return f'<td class="num">{html.escape(text)}</td>' if numeric else f"<td>{html.escape(text)}</td>"
