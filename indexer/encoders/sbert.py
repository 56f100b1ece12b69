"""The sentence-transformers encoder (torch): the reference vectors, and the encoder on a GPU.

torch and sentence-transformers cost seconds to import, so they are imported only when
something is actually encoded; a CPU build and every query use the ONNX export (``onnx``)
instead, which gives the same vectors.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ModelError
from .base import ModelInfo, Progress, longest_first


def batches(order: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield list(order[start : start + size])


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
