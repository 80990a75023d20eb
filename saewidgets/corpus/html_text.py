"""HTML → plain text with the standard library's parser (for Python's docs and HTML e-mails)."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _HTMLText(HTMLParser):
    """HTML → plain text. Block elements become line breaks, <pre> keeps its layout, scripts,
    styles and Sphinx's ¶ permalinks are dropped. With main_only, only the text inside Sphinx's
    <div role="main"> is kept: no navigation bars, sidebars or footers."""

    VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "area", "base", "col", "source"}
    BLOCK = {"p", "div", "section", "pre", "li", "dt", "dd", "tr", "table", "ul", "ol", "dl",
             "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "title", "figure", "caption"}
    HIDDEN = {"script", "style", "head", "noscript"}
    HIDDEN_CLASSES = {"headerlink", "contents", "toctree-wrapper"}  # permalinks, tables of contents

    def __init__(self, main_only: bool = False):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, visible)
        self.main_only = main_only
        self.pre = 0
        self.in_h1 = False

    def _visible(self) -> bool:
        return self.stack[-1][1] if self.stack else not self.main_only

    def _newline(self) -> None:
        if self._visible() and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            if tag in ("br", "hr"):
                self._newline()
            return
        attrs = dict(attrs)
        opens_main = self.main_only and tag == "div" and attrs.get("role") == "main"
        classes = set((attrs.get("class") or "").split())
        hidden = tag in self.HIDDEN or bool(classes & self.HIDDEN_CLASSES)
        self.stack.append((tag, (self._visible() or opens_main) and not hidden))
        if tag in self.BLOCK:
            self._newline()
        self.pre += tag == "pre"
        self.in_h1 = self.in_h1 or (tag == "h1" and not self.title)

    def handle_endtag(self, tag):
        if tag in self.VOID or all(t != tag for t, _ in self.stack):
            return  # a stray end tag: ignore rather than unwind the stack
        if tag in self.BLOCK:
            self._newline()
        while self.stack:  # pop up to the matching start tag (closes unclosed children too)
            t, _ = self.stack.pop()
            self.pre -= t == "pre"
            if t == "h1":
                self.in_h1 = False
            if t == tag:
                break
        if tag in ("p", "pre", "h1", "h2", "h3", "h4", "section", "dl", "table"):
            self._newline()
            if self._visible():
                self.parts.append("\n")

    def handle_data(self, data):
        if self.in_h1:
            self.title.append(data)
        if not self._visible():
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
            if not self.parts or self.parts[-1].endswith("\n"):
                data = data.lstrip()
        if data:
            self.parts.append(data)

    def text(self) -> str:
        text = re.sub(r"[ \t]+\n", "\n", "".join(self.parts))
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(html: str, main_only: bool = False) -> tuple[str, str]:
    """(text, first <h1>) of an HTML page."""
    parser = _HTMLText(main_only)
    parser.feed(html)
    parser.close()
    return parser.text(), " ".join("".join(parser.title).split()).rstrip("¶ ")  # no permalink
