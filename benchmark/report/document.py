"""A document of blocks rendered twice: Markdown with image links, and HTML with the images embedded."""
from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path

import pandas as pd

from benchmark.report.stats import number


class Document:
    """Blocks rendered twice: Markdown with image links, HTML with the images embedded (base64)."""

    def __init__(self, out: Path):
        self.out, self.blocks = out, []

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("heading", level, text))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("bullets", items))

    def table(self, frame: pd.DataFrame | None) -> None:
        if frame is not None and not frame.empty:
            self.blocks.append(("table", frame))

    def image(self, path: Path | None, alt: str) -> None:
        if path is not None:
            self.blocks.append(("image", path, alt))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def open_details(self, summary: str) -> None:
        """Start a collapsed part (``<details>``, which GitHub's Markdown renders too) until ``close_details``."""
        self.blocks.append(("open", summary))

    def close_details(self) -> None:
        self.blocks.append(("close",))

    def markdown(self) -> str:
        parts = []
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                parts.append("#" * block[1] + " " + block[2])
            elif kind == "text":
                parts.append(block[1])
            elif kind == "bullets":
                parts.append("\n".join(f"- {item}" for item in block[1]))
            elif kind == "table":
                parts.append(markdown_table(block[1]))
            elif kind == "image":
                parts.append(f"![{block[2]}]({block[1].relative_to(self.out).as_posix()})")
            elif kind == "code":
                parts.append("```\n" + block[1] + "\n```")
            elif kind == "open":
                parts.append(f"<details><summary>{html.escape(block[1])}</summary>")
            elif kind == "close":
                parts.append("</details>")
        return "\n\n".join(parts) + "\n"

    def html(self, title: str) -> str:
        parts = []
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                parts.append(f'<h{block[1]} id="{anchor(block[2])}">{_inline(block[2])}</h{block[1]}>')
            elif kind == "text":
                parts.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "bullets":
                parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block[1]) + "</ul>")
            elif kind == "table":
                parts.append(html_table(block[1]))
            elif kind == "image":
                mime = "image/gif" if block[1].suffix == ".gif" else "image/png"
                data = base64.b64encode(block[1].read_bytes()).decode()
                parts.append(f'<figure><img alt="{html.escape(block[2])}" src="data:{mime};base64,{data}">'
                             f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
            elif kind == "code":
                parts.append(f"<pre>{html.escape(block[1])}</pre>")
            elif kind == "open":
                parts.append(f"<details><summary>{html.escape(block[1])}</summary>")
            elif kind == "close":
                parts.append("</details>")
        style = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
                 "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
                 "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
                 "th{background:#f3f3f3}img{max-width:100%}pre{background:#f6f6f6;padding:8px;overflow:auto}"
                 "figure{margin:1em 0}figcaption{font-size:0.85em;color:#555}code{background:#f3f3f3}"
                 "details{margin:1em 0}summary{cursor:pointer;font-weight:600}")
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
                f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading (``Model `dcgan``` -> ``model-dcgan``), used as the HTML id too,
    so that one ``[link](#model-dcgan)`` works in both renderings."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def html_table(frame: pd.DataFrame) -> str:
    """A table whose cells keep their inline Markdown (code, bold, links) as HTML."""
    def cell(value) -> str:
        return _inline(markdown_cell(value).replace("\\|", "|"))

    header = "".join(f"<th>{cell(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="table"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', text)


def markdown_cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        value = number(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    cell = markdown_cell
    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
