"""Build an index whose paragraph vectors are random, for query-latency benchmarks only.

    .venv/bin/python bench/random_vectors_index.py INDEX_DIR CORPUS...

Everything but the vectors is built as ``newsearch index`` builds it (docstore, Whoosh and its
postings arrays, stories, FAISS). Each distinct text gets a unit vector drawn from a generator
seeded by the text's hash (copies share one), recorded under the real model's ModelInfo, so
queries are encoded by the real ONNX query encoder. Latency of exact vector search, fusion and
page building depends on the number of vectors and candidates, not on their values, so this
measures speed where a full embedding run is not possible (on two shared cores Reuters-21578
takes ~30-60 min to embed); it says nothing about quality, and story clusters formed from random
vectors are not the corpus's real ones.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from newsearch.indexer import BuildOptions, build_index
from newsearch.indexer.encoders.model import resolve_model


class RandomEncoder:
    """The ``Encoder`` protocol with hash-seeded random unit vectors."""

    def __init__(self, info) -> None:
        self.info = info
        self.encoded_count = 0

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:
        out = np.empty((len(texts), self.info.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest())
            v = np.random.default_rng(seed).standard_normal(self.info.dim)
            out[i] = v / np.linalg.norm(v)
        self.encoded_count += len(texts)
        if progress is not None:
            progress(len(texts))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def main() -> None:
    index_dir, corpus = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    model = resolve_model()
    encoder = RandomEncoder(model)
    report = build_index(corpus, index_dir, BuildOptions(), embedder=encoder)
    print(report)


if __name__ == "__main__":
    main()
