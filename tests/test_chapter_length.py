"""Chapter length: no chapter of the book runs over about 6,000 words of prose (GUIDE)."""

from __future__ import annotations

import re

import pytest

from tests.test_notebook_checks import toc_files

#: The most words of prose one chapter may have (code cells and the YAML header excluded).
MAX_PROSE_WORDS = 6000

_HEADER = re.compile(r"\A---\n.*?\n---\n", re.S)
_CODE_CELL = re.compile(r"^(`{3,}|:{3,})\{code-cell\}.*?^\1[ \t]*$", re.S | re.M)


def prose_words(text: str) -> int:
    """Whitespace-separated tokens outside the YAML header and the code cells (math counts)."""
    return len(_CODE_CELL.sub("", _HEADER.sub("", text)).split())


CHAPTERS = [p for p in toc_files() if p.name.startswith("ch")]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_prose_is_at_most_6000_words(path):
    words = prose_words(path.read_text())
    assert words <= MAX_PROSE_WORDS, f"{path.name}: {words} words of prose (> {MAX_PROSE_WORDS})"


def test_the_count_skips_code_and_header_but_can_fail():
    prose = " ".join(["word"] * 10)
    code = "```{code-cell} ipython3\n" + "x = 1\n" * 50 + "```\n"
    text = "---\njupytext: {}\n---\n" + prose + "\n" + code + prose + "\n"
    assert prose_words(text) == 20
    long_text = "---\na: 1\n---\n" + " ".join(["word"] * (MAX_PROSE_WORDS + 1))
    assert prose_words(long_text) > MAX_PROSE_WORDS  # the chapter check would fail on it


def test_every_chapter_is_checked():
    assert len(CHAPTERS) >= 9, [p.name for p in CHAPTERS]
