"""Cutting long texts into the token windows the model can see whole.

A paragraph longer than the model's input would be truncated by it; instead it is embedded as
overlapping windows, each its own vector. Uses the model's own fast tokenizer (no torch) so
that window borders are real token borders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .base import ModelInfo

#: Tokens per embedding window; with a headline prefix this stays inside MiniLM's 256.
WINDOW_TOKENS = 200
WINDOW_OVERLAP = 50
#: A paragraph longer than this many windows is embedded by its first windows only (it stays
#: fully searchable by keywords); 64 windows is ~9,000 words.
MAX_WINDOWS = 64
#: An article gets at most this many windows in all (~48,000 tokens, ~35,000 words): past them
#: its paragraphs are found by keywords only. Bounds the model time one huge file can take
#: (a 50 MB file would otherwise need ~80,000 windows). No article of the shared corpora
#: reaches it: the longest need 260 windows (Reuters-21578), 73 (BBC), 13 (SciFact).
MAX_ARTICLE_WINDOWS = 320
_WORD = re.compile(r"\S+")


class WindowSplitter:
    """Cuts long texts into overlapping token windows the model can see whole.

    Uses the model's own fast tokenizer (no torch) so that window borders are real token
    borders; falls back to words when the folder has no ``tokenizer.json``.
    """

    def __init__(
        self, model: ModelInfo, window: int = WINDOW_TOKENS, overlap: int = WINDOW_OVERLAP
    ) -> None:
        self.window = max(16, min(window, model.max_seq_length - 2))
        self.step = max(1, self.window - max(0, min(overlap, self.window // 2)))
        self._tokenizer = None
        tok_file = Path(model.path) / "tokenizer.json"
        if tok_file.is_file():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(tok_file))
            tok.no_truncation()
            tok.no_padding()
            self._tokenizer = tok

    def _spans(self, text: str, offsets: Sequence[tuple[int, int]]) -> list[str]:
        if len(offsets) <= self.window:
            return [text]
        out = []
        for start in range(0, len(offsets), self.step):
            end = min(start + self.window, len(offsets))
            out.append(text[offsets[start][0] : offsets[end - 1][1]])
            if end == len(offsets) or len(out) == MAX_WINDOWS:
                break
        return out

    def split_budget(self, texts: Sequence[str], budget: int) -> list[list[str]]:
        """Windows for each text in order, at most ``budget`` in all: texts past the budget get
        none and are not even tokenized."""
        out: list[list[str]] = []
        used = 0
        for start in range(0, len(texts), 16):
            if used >= budget:
                out.extend([] for _ in texts[start:])
                break
            for wins in self.split_many(texts[start : start + 16]):
                wins = wins[: max(0, budget - used)]
                used += len(wins)
                out.append(wins)
        return out

    def split_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Windows for each text; a text that fits is its own single window."""
        if self._tokenizer is None:
            result = []
            for text in texts:
                words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
                result.append(self._spans(text, words) if words else [text])
            return result
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [
            self._spans(t, e.offsets) if e.offsets else [t]
            for t, e in zip(texts, encodings, strict=True)
        ]
