"""Query encoding without torch: the model exported once to ONNX, run by onnxruntime.

``import sentence_transformers`` costs seconds (it pulls in torch and transformers), which a
one-off ``newsearch query`` cannot afford. The same weights, exported to ONNX with the
sentence-transformers pooling (mean over the attention mask, then L2 norm) inside the graph,
give the same vectors (cosine >= 0.999, tested) from ``onnxruntime`` + ``tokenizers``, which
load in a fraction of a second.

An export is identified by the sha256 of the weights it was made from, so a folder can never
be used for another model. It lives in a per-user cache (``$NEWSEARCH_CACHE_DIR``, else
``$XDG_CACHE_HOME/newsearch``, else ``~/.cache/newsearch``), ``onnx/<sha256>/``, holding
``model.onnx``, the model's ``tokenizer.json`` and ``onnx.json`` (what was exported, the file
size and a probe vector). The indexer writes it while it has torch loaded anyway; readers
also look in ``<index_dir>/onnx/<sha256>/`` so an index can ship its own encoder.

A missing or damaged export is never an error: callers fall back to sentence-transformers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .embedder import Embedder, ModelInfo

log = logging.getLogger("newsearch")

ONNX_DIR = "onnx"
MODEL_FILE = "model.onnx"
#: Weights beside the graph: onnxruntime maps them instead of parsing them out of the
#: protobuf, which halves session start-up (~0.35 s instead of ~0.8 s here).
WEIGHTS_FILE = "model.onnx.data"
#: The graph as onnxruntime optimises it (fused attention and layer norms), saved by the
#: first session that opens an export so that later ones skip the optimisation passes: ~0.1 s
#: of every new query process. Extended level, not "all": those add hardware-specific layouts.
OPTIMIZED_FILE = "model.opt.onnx"
TOKENIZER_FILE = "tokenizer.json"
INFO_FILE = "onnx.json"
EXPORT_VERSION = 1
#: Encoded at export and again when an export is opened: a damaged file gives another vector.
PROBE_TEXT = "Probe: the central bank raised interest rates by 0.25% on Tuesday, 3 June."
#: Texts the export is checked on before it is published (padding, truncation, unicode).
CHECK_TEXTS = (
    "a",
    "Ünïcödé — naïve café, 北京, emoji 🎉",
    "Shares in the company fell sharply after the chairman resigned. " * 40,
    PROBE_TEXT,
)
MIN_COSINE = 0.999
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class ExportInfo:
    """What ``onnx.json`` records about an export; read back to check it."""

    model_sha256: str
    model_name: str
    dim: int
    max_seq_length: int
    onnx_bytes: int
    #: sha256 of the graph and of the weights file, and the weights' mtime when it was
    #: hashed: hashing 90 MB costs ~0.15 s, so it is redone only when the mtime changed.
    graph_sha256: str
    weights_sha256: str
    weights_mtime_ns: int
    probe: list[float]
    exporter: str
    torch_version: str
    export_version: int = EXPORT_VERSION


def cache_dir() -> Path:
    """The per-user cache root for derived artefacts (not the index's embedding cache)."""
    env = os.environ.get("NEWSEARCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "newsearch"


def export_dir(model_sha256: str, root: Path | None = None) -> Path:
    return (root if root is not None else cache_dir() / ONNX_DIR) / model_sha256


def candidate_dirs(model_sha256: str, index_dir: str | os.PathLike[str] | None) -> list[Path]:
    """Where an export for these weights may be, in the order they are tried."""
    dirs = []
    if index_dir is not None:
        dirs.append(Path(index_dir) / ONNX_DIR / model_sha256)
    dirs.append(export_dir(model_sha256))
    return dirs


# -- export (needs torch; only the indexer calls it) --------------------------------------


def export_onnx(model: ModelInfo, st_model: Any | None = None, root: Path | None = None) -> Path:
    """Export ``model`` to ONNX once; returns the export folder (existing or new).

    The export is checked against the torch model on :data:`CHECK_TEXTS` before it is moved
    into place (atomic rename), so a published folder is always a good one.
    """
    final = export_dir(model.sha256, root)
    if final.exists():
        if _open_checked(final, model.sha256) is not None:
            return final
        shutil.rmtree(final, ignore_errors=True)  # damaged or from another version
    import torch

    if st_model is None:
        from .embedder import _load_sentence_transformer

        st_model = _load_sentence_transformer(model.path, "cpu")
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_exports(final.parent, model.sha256)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model.sha256[:12]}-", dir=final.parent))
    try:
        module = _pooled_encoder(st_model[0].auto_model).eval().to("cpu")
        exporter = _export(torch, module, tmp / MODEL_FILE)
        shutil.copyfile(Path(model.path) / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        reference = st_model.encode(
            list(CHECK_TEXTS), normalize_embeddings=True, convert_to_numpy=True, batch_size=8
        )
        onnx = OnnxQueryEncoder(tmp, model.max_seq_length, threads=1)
        got = onnx.encode(list(CHECK_TEXTS))
        cosines = (got * reference).sum(axis=1)
        if not float(cosines.min()) >= MIN_COSINE:  # NaN fails too
            raise RuntimeError(f"ONNX export disagrees with torch (cosine {cosines.min():.4f})")
        info = ExportInfo(
            model_sha256=model.sha256,
            model_name=model.name,
            dim=model.dim,
            max_seq_length=model.max_seq_length,
            onnx_bytes=_export_bytes(tmp),
            graph_sha256=_sha256(tmp / MODEL_FILE),
            weights_sha256=_sha256(tmp / WEIGHTS_FILE),
            weights_mtime_ns=(tmp / WEIGHTS_FILE).stat().st_mtime_ns,
            probe=[float(x) for x in got[CHECK_TEXTS.index(PROBE_TEXT)]],
            exporter=exporter,
            torch_version=str(torch.__version__),
        )
        (tmp / INFO_FILE).write_text(json.dumps(asdict(info)), encoding="utf-8")
        for item in (tmp, *tmp.iterdir()):  # mkdtemp makes it private; readers may be others
            item.chmod(0o755 if item.is_dir() else 0o644)
        try:
            tmp.rename(final)
        except OSError:  # another process published it first: theirs is as good as ours
            if _open_checked(final, model.sha256) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _remove_stale_exports(parent: Path, model_sha256: str, older_than_s: float = 3600) -> None:
    """Half-written exports of killed processes (90 MB each); recent ones may be live."""
    for tmp in parent.glob(f".{model_sha256[:12]}-*"):
        try:
            if time.time() - tmp.stat().st_mtime > older_than_s:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def _export(torch: Any, module: Any, path: Path) -> str:
    """TorchScript exporter (fast, needs only ``onnx``), weights saved as external data;
    names the exporter used."""
    import warnings

    import onnx

    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    axes["sentence_embedding"] = {0: "batch"}
    raw = path.with_name("raw.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes that are dynamic axes
        torch.onnx.export(
            module,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(raw),
            dynamo=False,
            input_names=list(_INPUTS),
            output_names=["sentence_embedding"],
            dynamic_axes=axes,
            opset_version=17,
        )
    graph = onnx.load(str(raw))
    onnx.save_model(
        graph,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=WEIGHTS_FILE,
        size_threshold=1024,
    )
    raw.unlink()
    return "torch.onnx.export(dynamo=False)"


def _pooled_encoder_class() -> type:
    import torch

    class PooledEncoder(torch.nn.Module):
        """The transformer plus sentence-transformers' mean pooling and L2 normalisation."""

        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            mean = summed / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    return PooledEncoder


def _pooled_encoder(transformer: Any) -> Any:
    return _pooled_encoder_class()(transformer)


# -- reading ------------------------------------------------------------------------------


def _export_bytes(folder: Path) -> int:
    return (folder / MODEL_FILE).stat().st_size + (folder / WEIGHTS_FILE).stat().st_size


def load_info(folder: Path, model_sha256: str) -> ExportInfo | None:
    """The export's record if the folder is complete, unchanged and for these weights."""
    try:
        data = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        info = ExportInfo(**data)
        size = _export_bytes(folder)
        if (
            info.model_sha256 != model_sha256
            or info.export_version != EXPORT_VERSION
            or size != info.onnx_bytes
            or not (folder / TOKENIZER_FILE).is_file()
            or _sha256(folder / MODEL_FILE) != info.graph_sha256
        ):
            return None
        weights = folder / WEIGHTS_FILE
        changed = weights.stat().st_mtime_ns != info.weights_mtime_ns  # rewritten or copied
        if changed and _sha256(weights) != info.weights_sha256:
            return None
    except (OSError, ValueError, TypeError):
        return None
    return info


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_session(
    path: Path,
    threads: int | None = None,
    optimize: bool = True,
    save_optimized: Path | None = None,
) -> Any:
    """An onnxruntime CPU session on ``threads`` intra-op threads (default: every core).

    ``optimize`` False loads a graph saved already optimised (``save_optimized`` of an
    earlier session) without running the optimisation passes again.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    # Spinning worker threads wait for work by burning a core: on a shared machine that
    # doubles a query's latency (measured under load), and one query is short anyway.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    elif save_optimized is not None:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(save_optimized)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxQueryEncoder:
    """Unit-length sentence vectors from an export folder, with no torch in the process.

    ``model_file`` picks the graph in the folder: the fp32 export, or its int8 quantization.
    For the fp32 export, ``optimized`` uses (or, when missing, saves) ``OPTIMIZED_FILE``.
    """

    def __init__(
        self,
        folder: Path,
        max_seq_length: int,
        threads: int | None = None,
        model_file: str = MODEL_FILE,
        optimized: bool = True,
    ) -> None:
        from tokenizers import Tokenizer

        self.folder = folder
        tok = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tok.enable_truncation(max_length=max_seq_length)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")  # tokenizer.json pads to 128 otherwise
        self._tokenizer = tok
        saved = folder / OPTIMIZED_FILE
        self.optimized = optimized and model_file == MODEL_FILE and saved.is_file()
        partial: Path | None = None
        if self.optimized:
            self._session = make_session(saved, threads, optimize=False)
        else:
            if model_file == MODEL_FILE and os.access(folder, os.W_OK):
                partial = folder / f".{OPTIMIZED_FILE}.{os.getpid()}.{threading.get_ident()}"
            self._session = make_session(folder / model_file, threads, save_optimized=partial)
        if partial is not None:
            try:
                os.replace(partial, saved)  # atomic: readers see no file or a whole one
            except OSError:
                partial.unlink(missing_ok=True)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` (float32, one row each, L2-normalised)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        with self._lock:  # one run at a time: the session already uses every core
            out = self._session.run(None, feed)[0]
        return np.asarray(out, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    @property
    def session(self) -> Any:
        """The onnxruntime session (``run`` may be called from several threads at once)."""
        return self._session


def _open_checked(
    folder: Path, model_sha256: str, threads: int | None = None
) -> OnnxQueryEncoder | None:
    """An encoder for the export in ``folder`` if it is complete and still gives the probe
    vector it gave when it was made (a damaged file loads badly or encodes differently)."""
    info = load_info(folder, model_sha256)
    if info is None:
        return None
    dims = (folder, info.max_seq_length, info.dim, info.probe)
    encoder = probed_encoder(*dims, threads=threads)
    saved = folder / OPTIMIZED_FILE
    if encoder is None and saved.exists():
        # The saved optimised graph may be the damaged file: drop it, retry from the export.
        with contextlib.suppress(OSError):
            saved.unlink()
        encoder = probed_encoder(*dims, threads=threads, optimized=False)
    return encoder


def checked_export(model: ModelInfo, threads: int | None = None) -> OnnxQueryEncoder:
    """An encoder on ``model``'s export in the user cache (made now if missing, which needs
    torch once) that has passed the probe check: the session that checked it is the one
    returned, not opened a second time (a new process indexing one edit pays for one)."""
    folder = export_dir(model.sha256)
    encoder = _open_checked(folder, model.sha256, threads) if folder.exists() else None
    if encoder is None:
        export_onnx(model)
        encoder = _open_checked(folder, model.sha256, threads)
        if encoder is None:
            raise RuntimeError(f"the ONNX export in {folder} fails its check")
    return encoder


def probed_encoder(
    folder: Path,
    max_seq_length: int,
    dim: int,
    probe: Sequence[float],
    *,
    min_cosine: float = MIN_COSINE,
    threads: int | None = None,
    model_file: str = MODEL_FILE,
    optimized: bool = True,
) -> OnnxQueryEncoder | None:
    """An encoder for ``model_file`` in ``folder`` if it loads and still encodes the probe
    text as ``probe`` (the vector recorded when the graph was made); else None."""
    try:
        encoder = OnnxQueryEncoder(
            folder, max_seq_length, threads=threads, model_file=model_file, optimized=optimized
        )
        got = encoder.encode_query(PROBE_TEXT)
    except Exception:  # onnxruntime and protobuf fail in many ways on a bad file
        return None
    want = np.asarray(probe)
    if got.shape != (dim,) or want.shape != got.shape or not float(got @ want) >= min_cosine:
        return None
    return encoder


def open_encoder(
    model: ModelInfo, index_dir: str | os.PathLike[str] | None = None
) -> OnnxQueryEncoder | None:
    """The first good export for ``model``'s weights, or None after a one-line warning."""
    damaged = []
    for folder in candidate_dirs(model.sha256, index_dir):
        if not folder.exists():
            continue
        encoder = _open_checked(folder, model.sha256)
        if encoder is not None:
            return encoder
        damaged.append(str(folder))
    what = f"is damaged ({', '.join(damaged)})" if damaged else "is missing"
    log.warning(
        "warning: the ONNX query encoder for model %s %s; using sentence-transformers "
        "(slow start) and exporting it for the next queries",
        model.sha256[:12],
        what,
    )
    return None


class QueryEncoder(Protocol):
    def encode_query(self, text: str) -> np.ndarray: ...


def query_encoder(
    built: ModelInfo,
    index_dir: str | os.PathLike[str] | None,
    fallback: Callable[[], Embedder],
) -> QueryEncoder:
    """The fast ONNX encoder for the weights an index was built with; else ``fallback()``
    (sentence-transformers), which also re-exports the ONNX file so the next query is fast.
    A failed re-export is only logged: it never fails the query."""
    encoder = open_encoder(built, index_dir)
    if encoder is not None:
        return encoder
    embedder = fallback()
    try:
        export_onnx(embedder.info, embedder.model)
    except Exception as exc:  # read-only cache, exporter missing: the query still works
        log.warning("warning: could not export the ONNX query encoder: %s", exc)
    return embedder
