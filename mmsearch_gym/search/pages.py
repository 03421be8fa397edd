"""Pages for ``visit``: split into passages, rank them against a goal (BM25), paginate.

Also the HTML-to-text conversion used for pages fetched from the web.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from html.parser import HTMLParser

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "with",
    ]
)


def tokens(text: str) -> list[str]:
    """Lower-cased words without stop words, with a light plural strip (``fields`` → ``field``)."""
    out = []
    for w in _TOKEN.findall(text.lower()):
        if w in _STOP:
            continue
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return out


def split_passages(text: str, max_chars: int = 400) -> list[str]:
    """Paragraphs, with long ones cut at sentence ends into pieces of at most ~``max_chars``."""
    passages = []
    for para in re.split(r"\n\s*\n|\n(?=[A-Z][^:\n]{0,40}: )", text):
        para = " ".join(para.split())
        if not para:
            continue
        current = ""
        for sentence in re.split(r"(?<=[.!?])\s+", para):
            if current and len(current) + len(sentence) + 1 > max_chars:
                passages.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}".strip()
        if current:
            passages.append(current)
    return passages


def rank_passages(passages: list[str], goal: str, k1: float = 1.2, b: float = 0.75) -> list[tuple[int, float]]:
    """``(passage index, BM25 score)`` for passages sharing a word with ``goal``, best first."""
    query = set(tokens(goal))
    if not query or not passages:
        return []
    docs = [Counter(tokens(p)) for p in passages]
    avg = sum(sum(d.values()) for d in docs) / len(docs) or 1.0
    df = Counter(t for d in docs for t in query if t in d)
    n = len(docs)
    scored = []
    for i, d in enumerate(docs):
        length = sum(d.values())
        score = 0.0
        for t in query:
            if t in d:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                score += idf * d[t] * (k1 + 1) / (d[t] + k1 * (1 - b + b * length / avg))
        if score > 0:
            scored.append((i, round(score, 6)))
    scored.sort(key=lambda x: (-x[1], x[0]))
    return scored


def paginate(text: str, page_chars: int) -> list[str]:
    """``text`` cut into pages of at most ``page_chars`` characters, at line or word breaks."""
    pages, rest = [], text.strip()
    while rest:
        if len(rest) <= page_chars:
            pages.append(rest)
            break
        cut = rest.rfind("\n", 0, page_chars)
        if cut < page_chars // 2:
            cut = rest.rfind(" ", 0, page_chars)
        if cut < page_chars // 2:
            cut = page_chars
        pages.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return pages or [""]


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "svg", "head", "template"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table", "ul", "ol"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """``(title, text)`` of an HTML page: scripts and styles dropped, blocks on their own lines."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n\n".join(line for line in lines if line)
    return " ".join(parser.title.split()), text
