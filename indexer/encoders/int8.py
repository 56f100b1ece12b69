"""The int8 graph: the fp32 ONNX export quantized to 8-bit weights, for documents and queries.

``newsearch index --int8`` trades a little retrieval quality for encoding speed on the CPU
(both measured in BENCHMARKS.md, "int8 encoder"). The fp32 export (``onnx``) is
quantized once by onnxruntime's dynamic quantizer (per-channel int8 weights, activations
quantized at run time), deterministically, into ``model.int8.onnx`` beside it, with
``int8.json`` recording what was made, its hash and a probe vector. Making the fp32 export
needs torch once; quantizing and encoding with the result need only onnxruntime and
tokenizers, so an int8 build whose exports exist never imports torch.

An int8 index is its own embedding space (cosine to the fp32 vectors ~0.99): the index meta
records ``precision="int8"``, the embedding cache keys its vectors apart, queries of an int8
index are encoded by the same int8 graph, and an update never mixes the two.

Every text, document or query, is encoded alone. Dynamic quantization scales activations by
the whole input tensor, so inside a padded batch a text's vector depends on its batch-mates
(measured: cosine ~0.993 between batched and single encodings, as large as the int8 error
itself). Alone, a text always gets the same vector, whether it is indexed in a build, in an
edit, or asked as a query. The cores are kept busy by encoding several texts at once on
one onnxruntime thread each, which measured at least as fast as padded batches on 2 cores.

This module makes the graph and reads its record; ``INT8`` is what ``onnx.OnnxEncoder`` needs
to run it (``OnnxEncoder(model, INT8)``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .base import ModelInfo
from .onnx import (
    CHECK_TEXTS,
    MODEL_FILE,
    PROBE_TEXT,
    TOKENIZER_FILE,
    Graph,
    OnnxEncoder,
    _sha256,
    export_onnx,
    open_checked,
)

log = logging.getLogger("newsearch")

INT8_MODEL_FILE = "model.int8.onnx"
INT8_INFO_FILE = "int8.json"
INT8_VERSION = 1
#: onnxruntime ``quantize_dynamic`` settings. Per-channel weight scales: one scale per
#: tensor gave cosine ~0.955 to fp32 against ~0.992 per channel. ``reduce_range`` (7-bit
#: weights) keeps the u8 x s8 products of AVX2 CPUs without VNNI from saturating: same mean
#: cosine, better worst case (0.986 vs 0.981 on 240 news and science paragraphs).
QUANTIZATION: dict[str, Any] = {"per_channel": True, "reduce_range": True, "weight_type": "QInt8"}
#: An int8 graph must agree this well with the fp32 export on ``CHECK_TEXTS`` to be published.
MIN_COSINE_TO_FP32 = 0.97
#: A published int8 graph must still give its recorded probe vector (it is deterministic).
MIN_PROBE_COSINE = 0.999


@dataclass(frozen=True)
class Int8Info:
    """What ``int8.json`` records about ``model.int8.onnx``; read back to check it."""

    model_sha256: str
    dim: int
    max_seq_length: int
    #: The fp32 graph it was quantized from (``onnx.json``'s graph_sha256).
    source_graph_sha256: str
    int8_bytes: int
    int8_sha256: str
    #: mtime of the file when it was hashed: the 23 MB are hashed again only if it moved.
    int8_mtime_ns: int
    probe: list[float]
    #: The worst cosine to the fp32 export over ``CHECK_TEXTS`` when it was made.
    min_cosine_to_fp32: float
    onnxruntime_version: str
    quantization: dict[str, Any] = field(default_factory=lambda: dict(QUANTIZATION))
    int8_version: int = INT8_VERSION


# -- making it ------------------------------------------------------------------------------


def export_int8(model: ModelInfo, root: Path | None = None, st_model: Any | None = None) -> Path:
    """Quantize ``model``'s fp32 ONNX export once; returns the export folder holding both.

    The fp32 export is made first if it is missing (that loads torch, once per weights). The
    int8 graph is checked against the fp32 one before it is renamed into place, so a
    published ``model.int8.onnx`` is always a good one.
    """
    folder = export_onnx(replace(model, precision="fp32"), st_model, root)
    if open_checked(model, folder, INT8, threads=1) is not None:
        return folder
    _remove_stale_temps(folder)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{INT8_MODEL_FILE}-", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp_info = tmp.with_suffix(".json.tmp")
    try:
        _quantize(folder / MODEL_FILE, tmp)
        tmp.chmod(0o644)  # mkstemp makes it private; queries may run as other users
        int8 = OnnxEncoder.load(folder, model, INT8, threads=1, file=tmp.name)
        fp32 = OnnxEncoder.load(folder, model, threads=1)
        got = np.stack([int8.encode_query(t) for t in CHECK_TEXTS])
        want = np.stack([fp32.encode_query(t) for t in CHECK_TEXTS])
        cosines = (got * want).sum(axis=1)
        if not float(cosines.min()) >= MIN_COSINE_TO_FP32:  # NaN fails too
            raise RuntimeError(f"int8 graph disagrees with fp32 (cosine {cosines.min():.4f})")
        import onnxruntime

        info = Int8Info(
            model_sha256=model.sha256,
            dim=model.dim,
            max_seq_length=model.max_seq_length,
            source_graph_sha256=_sha256(folder / MODEL_FILE),
            int8_bytes=tmp.stat().st_size,
            int8_sha256=_sha256(tmp),
            int8_mtime_ns=tmp.stat().st_mtime_ns,
            probe=[float(x) for x in got[CHECK_TEXTS.index(PROBE_TEXT)]],
            min_cosine_to_fp32=round(float(cosines.min()), 6),
            onnxruntime_version=str(onnxruntime.__version__),
        )
        tmp_info.write_text(json.dumps(asdict(info)), encoding="utf-8")
        tmp_info.chmod(0o644)
        # Graph first, record second: a reader between the two sees a record that does not
        # match the graph and makes it again (quantization is deterministic: same bytes).
        os.replace(tmp, folder / INT8_MODEL_FILE)
        os.replace(tmp_info, folder / INT8_INFO_FILE)
    finally:
        for leftover in (tmp, tmp_info):
            leftover.unlink(missing_ok=True)
    return folder


def _quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    settings = dict(QUANTIZATION)
    settings["weight_type"] = getattr(QuantType, settings["weight_type"])
    previous = logging.root.manager.disable
    # The quantizer advises "pre-processing" on the root logger; it changes nothing here.
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(src, dst, **settings)
    finally:
        logging.disable(previous)


def _remove_stale_temps(folder: Path, older_than_s: float = 3600) -> None:
    """Half-written int8 graphs of killed processes (23 MB each); recent ones may be live."""
    for tmp in folder.glob(f".{INT8_MODEL_FILE}-*"):
        try:
            if time.time() - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()
        except OSError:
            pass


# -- reading it -----------------------------------------------------------------------------


def load_int8_info(folder: Path, model_sha256: str) -> Int8Info | None:
    """The int8 graph's record if it is complete, unchanged and for these weights."""
    try:
        info = Int8Info(**json.loads((folder / INT8_INFO_FILE).read_text(encoding="utf-8")))
        graph = folder / INT8_MODEL_FILE
        st = graph.stat()
        if (
            info.model_sha256 != model_sha256
            or info.int8_version != INT8_VERSION
            or info.quantization != QUANTIZATION
            or st.st_size != info.int8_bytes
            or not (folder / TOKENIZER_FILE).is_file()
        ):
            return None
        if st.st_mtime_ns != info.int8_mtime_ns and _sha256(graph) != info.int8_sha256:
            return None
    except (OSError, ValueError, TypeError):
        return None
    return info


INT8 = Graph(
    precision="int8",
    file=INT8_MODEL_FILE,
    marker=INT8_MODEL_FILE,
    record=load_int8_info,
    make=export_int8,
    min_probe_cosine=MIN_PROBE_COSINE,
    batched=False,
    fallback=False,
    what="--int8",
    device_hint="; drop one of the two",
    unusable="warning: the int8 encoder for model %s %s; making it again from the fp32 export",
    check_failed="the int8 encoder made in {} fails its check",
)
