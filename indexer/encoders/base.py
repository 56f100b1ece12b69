"""What every encoder is: the ``Encoder`` protocol and the record of the model behind it.

An index and every query must be encoded in one embedding space: the same weights (by hash)
and the same precision. ``ModelInfo`` is what an index records about that space; an
``Encoder`` is anything that turns texts into unit-length float32 vectors of it
(sentence-transformers in ``sbert``, the ONNX graphs in ``onnx``), so the builder, an update
and the searcher never care which one runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

Progress = Callable[[int], None]

#: How an index's vectors were computed from the weights: ``fp32`` by sentence-transformers
#: (or its fp32 ONNX export, same vectors), ``int8`` by the export quantized to 8-bit weights
#: (``encoders/int8.py``). The two are different embedding spaces and never mix in one index.
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


class Encoder(Protocol):
    """What a build, an update and the searcher need from an encoder."""

    info: ModelInfo
    #: How many texts this encoder has encoded: tests and benchmarks read it.
    encoded_count: int

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...


def longest_first(texts: Sequence[str]) -> list[int]:
    """Indices of ``texts`` by length, longest first: batches of similar length pad little,
    and a worker pool given the long texts first finishes evenly."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
