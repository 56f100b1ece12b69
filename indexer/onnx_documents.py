"""Document encoding on the CPU with the ONNX export: the indexer's default encoder.

The fp32 export (``onnx_encoder``) gives the vectors sentence-transformers gives (cosine
>= 0.9999 on news paragraphs, tested), so an index built this way is the same embedding space
and shares the embedding cache with one built by torch. Two reasons to prefer it on a CPU:

- **Start-up**: a build whose export exists never imports torch (8-9 s here), so a
  ``newsearch index`` that re-embeds one edited paragraph takes about a second, not ten.
- **Throughput**: each text runs alone, unpadded, through one shared onnxruntime session on
  one thread per core, longest first so the workers finish together. On the 2-core machine
  this encoded BBC paragraphs ~2x faster than sentence-transformers' padded batches on
  torch's thread pool with another job on the machine (37 vs 18 texts/s; BENCHMARKS.md).

Alone, a text also always gets the same vector, whatever else is in the build (in a padded
batch its vector depends slightly on its batch-mates). The first build on a machine still
needs torch once, to make the export; if the model cannot be exported, the encoder says so
once and falls back to sentence-transformers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .embedder import Embedder, ModelInfo, Progress, longest_first
from .errors import ModelError, NewsearchError

log = logging.getLogger("newsearch")


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class OnnxDocumentEncoder:
    """Encodes documents (and queries) into unit-length float32 vectors with onnxruntime.

    Same interface as ``Embedder``. ``progress`` hears of every ``batch_size`` texts done.
    Subclasses pick the graph (``Int8Encoder``: the int8 quantization) by overriding
    ``_open``.
    """

    #: The vectors this encoder makes (``ModelInfo.precision``).
    precision = "fp32"
    #: Printed in errors: which option put the encoder on the CPU, and what to do.
    what = "the ONNX encoder"
    device_hint = ""

    def __init__(
        self,
        model: ModelInfo,
        batch_size: int = 32,
        device: str = "auto",
        workers: int | None = None,
    ) -> None:
        if (device or "auto").strip().lower() not in ("auto", "cpu"):
            raise ModelError(
                f"{self.what} encodes on the CPU with onnxruntime: it cannot use --device "
                f"{device}{self.device_hint}"
            )
        self.info = replace(model, precision=self.precision)
        self.batch_size = max(1, batch_size)
        self.workers = workers or usable_cores()
        #: How many texts this encoder has encoded: tests and benchmarks read it.
        self.encoded_count = 0
        self._session: Any = None
        self._tokenizer: Any = None
        self._fallback: Embedder | None = None
        self._lock = threading.Lock()

    def _open(self) -> tuple[Path, Any]:
        """(export folder, onnxruntime session on one thread) for the fp32 export, made now
        if missing (that once imports torch). Raises if the model cannot be exported."""
        from .onnx_encoder import checked_export

        encoder = checked_export(self.info, threads=1)
        return encoder.folder, encoder.session

    def _load(self) -> None:
        if self._session is not None or self._fallback is not None:
            return
        from tokenizers import Tokenizer

        from .onnx_encoder import TOKENIZER_FILE

        try:
            folder, session = self._open()
        except NewsearchError:  # a model, storage or lock problem says so itself
            raise
        except Exception as exc:  # an architecture the exporter cannot trace, a full cache
            if self.info.precision != "fp32":
                raise ModelError(f"cannot make the {self.info.precision} encoder: {exc}") from exc
            log.warning(
                "warning: could not export the model to ONNX (%s); encoding with "
                "sentence-transformers",
                exc,
            )
            self._fallback = Embedder(self.info, device="cpu", batch_size=self.batch_size)
            return
        tok = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tok.enable_truncation(max_length=self.info.max_seq_length)
        tok.no_padding()
        self._tokenizer = tok
        self._session = session

    def _run(self, ids: list[int]) -> np.ndarray:
        input_ids = np.asarray([ids], dtype=np.int64)
        feed = {
            "input_ids": input_ids,
            "attention_mask": np.ones_like(input_ids),
            "token_type_ids": np.zeros_like(input_ids),
        }
        return self._session.run(None, feed)[0][0]

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        if not len(texts):
            return out
        with self._lock:
            self._load()
            if self._fallback is not None:
                vecs = self._fallback.encode(texts, progress=progress)
                self.encoded_count += len(texts)
                return vecs
            order = longest_first(texts)
            encodings = self._tokenizer.encode_batch([texts[i] for i in order])
            ids = [e.ids for e in encodings]
            pending = 0
            # onnxruntime allows concurrent run() calls on one session; each uses one thread.
            with ThreadPoolExecutor(max_workers=min(self.workers, len(ids))) as pool:
                for row, vec in zip(order, pool.map(self._run, ids), strict=True):
                    out[row] = vec
                    self.encoded_count += 1
                    pending += 1
                    if pending == self.batch_size:
                        if progress:
                            progress(pending)
                        pending = 0
            if pending and progress:
                progress(pending)
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
