"""Encoders: texts -> unit-length float32 vectors, and which encoder runs where.

- ``base``: the ``Encoder`` protocol, ``ModelInfo`` (what an index records about its model)
- ``model``: model identity (weights by sha256), resolution, "which model built this index"
- ``windows``: long texts cut into token windows the model sees whole
- ``device``: ``--device`` (CPU or a CUDA GPU)
- ``sbert``: sentence-transformers (torch), the reference and the GPU encoder
- ``onnx``: the fp32 ONNX export and ``OnnxEncoder``, which runs one graph of it
- ``int8``: the int8 quantization of that export (``--int8``)

This module is the factory the builder, updates, watch and the searcher call:
``document_encoder`` and ``query_encoder``. Names are loaded on first use (PEP 562): a
``newsearch query`` must not import torch or sentence-transformers (seconds) by touching it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .base import PRECISIONS, Encoder, ModelInfo, Progress, longest_first
    from .device import encodes_on_cpu, resolve_device
    from .int8 import INT8, export_int8
    from .model import (
        DEFAULT_MODEL_SHA256,
        built_model,
        check_same_model,
        default_model_path,
        file_sha256,
        resolve_model,
    )
    from .onnx import FP32, OnnxEncoder, export_dir, export_onnx, open_encoder
    from .sbert import Embedder
    from .windows import (
        MAX_ARTICLE_WINDOWS,
        MAX_WINDOWS,
        WINDOW_OVERLAP,
        WINDOW_TOKENS,
        WindowSplitter,
    )

log = logging.getLogger("newsearch")

#: Where each re-exported name lives.
_WHERE = {
    **dict.fromkeys(("PRECISIONS", "Encoder", "ModelInfo", "Progress", "longest_first"), "base"),
    **dict.fromkeys(("encodes_on_cpu", "resolve_device"), "device"),
    **dict.fromkeys(("INT8", "export_int8"), "int8"),
    **dict.fromkeys(
        (
            "DEFAULT_MODEL_SHA256",
            "built_model",
            "check_same_model",
            "default_model_path",
            "file_sha256",
            "resolve_model",
        ),
        "model",
    ),
    **dict.fromkeys(("FP32", "OnnxEncoder", "export_dir", "export_onnx", "open_encoder"), "onnx"),
    "Embedder": "sbert",
    **dict.fromkeys(
        ("MAX_ARTICLE_WINDOWS", "MAX_WINDOWS", "WINDOW_OVERLAP", "WINDOW_TOKENS", "WindowSplitter"),
        "windows",
    ),
}


__getattr__ = lazy_attributes(__name__, {k: f".{v}" for k, v in _WHERE.items()}, globals())


def document_encoder(
    model: ModelInfo, device: str = "auto", batch_size: int = 32, int8: bool = False
) -> Encoder:
    """The encoder a build or an update runs: on the CPU the ONNX export (fp32, or its int8
    quantization with ``int8``; no torch once the exports exist), on a GPU
    sentence-transformers (fp32 vectors, whatever ``model`` records)."""
    from .onnx import OnnxEncoder

    if int8:
        from .int8 import INT8

        return OnnxEncoder(model, INT8, batch_size=batch_size, device=device)
    from .device import encodes_on_cpu

    if encodes_on_cpu(device):
        return OnnxEncoder(model, batch_size=batch_size)
    from .sbert import Embedder

    return Embedder(replace(model, precision="fp32"), device=device, batch_size=batch_size)


def query_encoder(
    built: ModelInfo,
    index_dir: str | os.PathLike[str] | None = None,
    model_path: str | os.PathLike[str] | None = None,
) -> Encoder:
    """The encoder for queries of an index whose meta records ``built``.

    fp32: the ONNX export (no torch in the process, so a one-off query starts fast), the
    index's own first; else sentence-transformers, which also re-exports the ONNX graph so the
    next query is fast (a failed re-export is only logged: it never fails the query).
    int8: the int8 graph, made again if it is missing (deterministic, so it gives the vectors
    the index was built with); there is no other encoder for that space, so failing to make
    it is an error. ``model_path``: the weights to use, checked against ``built``.
    """
    from ..errors import ModelError, NewsearchError
    from .model import built_model
    from .onnx import open_checked, open_encoder

    recorded = built
    if model_path is not None:
        built = built_model(recorded, model_path)
    if built.precision == "int8":  # its own embedding space, its own encoder
        from .int8 import INT8, export_int8

        encoder = open_encoder(built, index_dir, INT8)
        if encoder is not None:
            return encoder
        try:
            folder = export_int8(built_model(recorded, model_path))
            encoder = open_checked(built, folder, INT8)
        except NewsearchError:
            raise
        except Exception as exc:
            raise ModelError(
                f"cannot make the int8 encoder this index needs ({exc}); rebuild it in fp32 "
                "with `newsearch index PATH --rebuild --fp32`"
            ) from exc
        if encoder is None:
            raise ModelError(
                f"the int8 encoder made in {folder} fails its check; rebuild the index in fp32 "
                "with `newsearch index PATH --rebuild --fp32`"
            )
        return encoder
    encoder = open_encoder(built, index_dir)
    if encoder is not None:
        return encoder
    from .onnx import export_onnx
    from .sbert import Embedder

    embedder = Embedder(built_model(recorded, model_path))
    try:
        export_onnx(embedder.info, embedder.model)
    except Exception as exc:  # read-only cache, exporter missing: the query still works
        log.warning("warning: could not export the ONNX query encoder: %s", exc)
    return embedder


def export_query_encoder(model: ModelInfo) -> Path:
    """Make the graph queries of an index encoded by ``model`` run on (int8: also the
    quantization); it loads the model only when there is no good export yet."""
    if model.precision == "int8":
        from .int8 import export_int8

        return export_int8(model)
    from .onnx import export_onnx

    return export_onnx(model)


__all__ = [
    "DEFAULT_MODEL_SHA256",
    "FP32",
    "INT8",
    "MAX_ARTICLE_WINDOWS",
    "MAX_WINDOWS",
    "PRECISIONS",
    "WINDOW_OVERLAP",
    "WINDOW_TOKENS",
    "Embedder",
    "Encoder",
    "ModelInfo",
    "OnnxEncoder",
    "Progress",
    "WindowSplitter",
    "built_model",
    "check_same_model",
    "default_model_path",
    "document_encoder",
    "encodes_on_cpu",
    "export_dir",
    "export_int8",
    "export_onnx",
    "export_query_encoder",
    "file_sha256",
    "longest_first",
    "open_encoder",
    "query_encoder",
    "resolve_device",
    "resolve_model",
]
