"""The sentence-transformers encoder on the real packaged model."""

import numpy as np


def test_embeddings_are_unit_length_and_semantic(embedder):
    vecs = embedder.encode(
        ["The central bank raised interest rates.", "Borrowing costs went up.", "A cat sat."]
    )
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2


def test_encode_keeps_input_order_despite_length_sorting(embedder):
    texts = ["short", "a much longer text about elections and voters " * 5, "medium length text"]
    together = embedder.encode(texts)
    for i, t in enumerate(texts):
        assert np.allclose(together[i], embedder.encode([t])[0], atol=1e-5)
