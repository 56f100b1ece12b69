"""Encoding without torch: the model exported once to ONNX, run by onnxruntime.

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

``OnnxEncoder`` runs one graph of an export folder (``FP32``, or ``INT8`` from ``int8``) and
serves documents and queries:

- **Documents** (``encode``): each text runs alone, unpadded, through one shared session on
  one thread per core, longest first so the workers finish together. On the 2-core machine
  this encoded BBC paragraphs ~2x faster than sentence-transformers' padded batches on
  torch's thread pool with another job on the machine (37 vs 18 texts/s; BENCHMARKS.md), a
  build whose export exists never imports torch (8-9 s here), and a text always gets the same
  vector, whatever else is in the build (in a padded batch its vector depends slightly on its
  batch-mates). The fp32 vectors are sentence-transformers' (cosine >= 0.9999 on news
  paragraphs, tested): same embedding space, shared embedding cache. If the model cannot be
  exported, the fp32 encoder says so once and falls back to sentence-transformers.
- **Queries** (``encode_query``, ``encode_batch``): a padded batch in one run on a session
  using every core, on the optimised graph saved beside the fp32 export. The int8 graph runs
  every text alone (``int8``'s docstring says why).
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, NewsearchError
from .base import ModelInfo, Progress, longest_first
from .sbert import Embedder

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
        if open_checked(model, final) is not None:
            return final
        shutil.rmtree(final, ignore_errors=True)  # damaged or from another version
    import torch

    if st_model is None:
        from .sbert import _load_sentence_transformer

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
        onnx = OnnxEncoder.load(tmp, model, threads=1)
        got = onnx.encode_batch(list(CHECK_TEXTS))
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
            if open_checked(model, final) is None:
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


# -- the encoder ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Graph:
    """One kind of graph in an export folder, and what an encoder on it does differently."""

    #: The vectors it makes (``ModelInfo.precision``).
    precision: str
    #: The graph file in the export folder.
    file: str
    #: What must exist for the graph to count as there ("": the export folder itself).
    marker: str
    #: The graph's record if it is complete, unchanged and for these weights (it has
    #: ``max_seq_length``, ``dim`` and the ``probe`` vector), else None.
    record: Callable[[Path, str], Any]
    #: Makes the graph for a model (once per weights); returns the export folder.
    make: Callable[[ModelInfo], Path]
    #: A published graph must still encode the probe text this close to its recorded vector.
    min_probe_cosine: float
    #: Texts may share one padded run (fp32); else every text runs alone (int8).
    batched: bool
    #: Without a good graph, documents are encoded by sentence-transformers (fp32 only: no
    #: other encoder makes int8 vectors).
    fallback: bool
    #: Printed in errors: which option put the encoder on the CPU, and what to do.
    what: str
    device_hint: str
    #: Logged when no good graph is found for a query: (weights hash, "is missing" or
    #: "is damaged (...)").
    unusable: str
    #: The error when a graph just made fails its check; ``{}`` is the folder.
    check_failed: str


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class OnnxEncoder:
    """Unit-length float32 vectors from one graph of an ONNX export, with no torch.

    Built from a ``ModelInfo`` (a build's document encoder), it opens the graph in the user
    cache on first use, making it if missing, on one onnxruntime thread per worker;
    ``progress`` hears of every ``batch_size`` texts done. ``load`` and ``open_encoder``
    open a graph in a given folder now (queries, and the checks of a graph being made).
    """

    def __init__(
        self,
        model: ModelInfo,
        graph: Graph | None = None,
        batch_size: int = 32,
        device: str = "auto",
        workers: int | None = None,
    ) -> None:
        graph = graph or FP32
        if (device or "auto").strip().lower() not in ("auto", "cpu"):
            raise ModelError(
                f"{graph.what} encodes on the CPU with onnxruntime: it cannot use --device "
                f"{device}{graph.device_hint}"
            )
        self.graph = graph
        self.info = replace(model, precision=graph.precision)
        self.batch_size = max(1, batch_size)
        self.workers = workers or usable_cores()
        #: How many texts this encoder has encoded: tests and benchmarks read it.
        self.encoded_count = 0
        #: The export folder in use, and whether its saved optimised graph was loaded.
        self.folder: Path | None = None
        self.optimized = False
        self._session: Any = None
        self._tokenizer: Any = None
        self._fallback: Embedder | None = None
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        folder: Path,
        model: ModelInfo,
        graph: Graph | None = None,
        *,
        threads: int | None = None,
        max_seq_length: int | None = None,
        file: str | None = None,
        optimized: bool = True,
    ) -> OnnxEncoder:
        """An encoder on ``file`` (default: the graph's) in ``folder``, opened now; raises if
        it does not load. ``threads``: intra-op threads (default: every core). For the fp32
        export, ``optimized`` uses (or, when missing, saves) ``OPTIMIZED_FILE``."""
        encoder = cls(model, graph)
        encoder._attach(
            folder,
            max_seq_length or model.max_seq_length,
            threads,
            file or encoder.graph.file,
            optimized,
        )
        return encoder

    def _attach(
        self, folder: Path, max_seq_length: int, threads: int | None, file: str, optimized: bool
    ) -> None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tok.enable_truncation(max_length=max_seq_length)
        tok.no_padding()  # tokenizer.json pads to 128 otherwise; batches are padded here
        saved = folder / OPTIMIZED_FILE
        optimizable = file == MODEL_FILE
        self.optimized = optimized and optimizable and saved.is_file()
        partial: Path | None = None
        if self.optimized:
            session = make_session(saved, threads, optimize=False)
        else:
            if optimizable and os.access(folder, os.W_OK):
                partial = folder / f".{OPTIMIZED_FILE}.{os.getpid()}.{threading.get_ident()}"
            session = make_session(folder / file, threads, save_optimized=partial)
        if partial is not None:
            try:
                os.replace(partial, saved)  # atomic: readers see no file or a whole one
            except OSError:
                partial.unlink(missing_ok=True)
        self.folder, self._tokenizer, self._session = folder, tok, session

    @property
    def session(self) -> Any:
        """The onnxruntime session (``run`` may be called from several threads at once)."""
        return self._session

    def _open(self) -> None:
        """The graph in the user cache, made now if missing (the fp32 export needs torch
        once); the session that passed the probe check is the one used (opening the export
        again would cost a new process ~0.15 s)."""
        folder = export_dir(self.info.sha256)
        checked = None
        if (folder / self.graph.marker).exists():
            checked = open_checked(self.info, folder, self.graph, threads=1)
        if checked is None:
            folder = self.graph.make(self.info)
            checked = open_checked(self.info, folder, self.graph, threads=1)
            if checked is None:
                error = RuntimeError if self.graph.fallback else ModelError
                raise error(self.graph.check_failed.format(folder))
        self.folder, self.optimized = checked.folder, checked.optimized
        self._tokenizer, self._session = checked._tokenizer, checked._session

    def _load(self) -> None:
        if self._session is not None or self._fallback is not None:
            return
        try:
            self._open()
        except NewsearchError:  # a model, storage or lock problem says so itself
            raise
        except Exception as exc:  # an architecture the exporter cannot trace, a full cache
            if not self.graph.fallback:
                raise ModelError(f"cannot make the {self.info.precision} encoder: {exc}") from exc
            log.warning(
                "warning: could not export the model to ONNX (%s); encoding with "
                "sentence-transformers",
                exc,
            )
            self._fallback = Embedder(self.info, device="cpu", batch_size=self.batch_size)

    def _run(self, ids: list[int]) -> np.ndarray:
        input_ids = np.asarray([ids], dtype=np.int64)
        feed = {
            "input_ids": input_ids,
            "attention_mask": np.ones_like(input_ids),
            "token_type_ids": np.zeros_like(input_ids),
        }
        return self._session.run(None, feed)[0][0]

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Documents: each text alone, on ``workers`` threads, longest first."""
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

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` in one padded run (fp32: what a query and the export check
        do); a graph that is not ``batched`` (int8) runs each text alone."""
        if not len(texts):
            return np.zeros((0, self.info.dim), dtype=np.float32)
        with self._lock:  # one run at a time: a query session already uses every core
            self._load()
            if self._fallback is not None:
                vecs = self._fallback.encode(texts)
                self.encoded_count += len(texts)
                return vecs
            encodings = self._tokenizer.encode_batch(list(texts))
            self.encoded_count += len(texts)
            if not self.graph.batched:
                return np.stack([self._run(e.ids) for e in encodings]).astype(np.float32)
            ids = np.zeros((len(encodings), max(len(e.ids) for e in encodings)), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, e in enumerate(encodings):  # pad on the right with [PAD] = 0
                ids[row, : len(e.ids)] = e.ids
                mask[row, : len(e.ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out = self._session.run(None, feed)[0]
        return np.asarray(out, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_batch([text])[0]


def open_checked(
    model: ModelInfo, folder: Path, graph: Graph | None = None, threads: int | None = None
) -> OnnxEncoder | None:
    """An encoder for ``graph`` in ``folder`` if it is complete and still gives the probe
    vector it gave when it was made (a damaged file loads badly or encodes differently)."""
    graph = graph or FP32
    record = graph.record(folder, model.sha256)
    if record is None:
        return None
    encoder = _probed(model, folder, graph, record, threads)
    saved = folder / OPTIMIZED_FILE
    if encoder is None and graph.file == MODEL_FILE and saved.exists():
        # The saved optimised graph may be the damaged file: drop it, retry from the export.
        with contextlib.suppress(OSError):
            saved.unlink()
        encoder = _probed(model, folder, graph, record, threads, optimized=False)
    return encoder


def _probed(
    model: ModelInfo,
    folder: Path,
    graph: Graph,
    record: Any,
    threads: int | None,
    optimized: bool = True,
) -> OnnxEncoder | None:
    try:
        encoder = OnnxEncoder.load(
            folder,
            model,
            graph,
            threads=threads,
            max_seq_length=record.max_seq_length,
            optimized=optimized,
        )
        got = encoder.encode_query(PROBE_TEXT)
    except Exception:  # onnxruntime and protobuf fail in many ways on a bad file
        return None
    encoder.encoded_count = 0  # the probe is not the caller's text
    want = np.asarray(record.probe)
    if (
        got.shape != (record.dim,)
        or want.shape != got.shape
        or not float(got @ want) >= graph.min_probe_cosine
    ):
        return None
    return encoder


def open_encoder(
    model: ModelInfo,
    index_dir: str | os.PathLike[str] | None = None,
    graph: Graph | None = None,
) -> OnnxEncoder | None:
    """The first good ``graph`` for ``model``'s weights (the index's own export first), on
    every core, or None after a one-line warning."""
    graph = graph or FP32
    damaged = []
    for folder in candidate_dirs(model.sha256, index_dir):
        marker = folder / graph.marker
        if not marker.exists():
            continue
        encoder = open_checked(model, folder, graph)
        if encoder is not None:
            return encoder
        damaged.append(str(marker))
    what = f"is damaged ({', '.join(damaged)})" if damaged else "is missing"
    log.warning(graph.unusable, model.sha256[:12], what)
    return None


FP32 = Graph(
    precision="fp32",
    file=MODEL_FILE,
    marker="",
    record=load_info,
    make=export_onnx,
    min_probe_cosine=MIN_COSINE,
    batched=True,
    fallback=True,
    what="the ONNX encoder",
    device_hint="",
    unusable="warning: the ONNX query encoder for model %s %s; using sentence-transformers "
    "(slow start) and exporting it for the next queries",
    check_failed="the ONNX export in {} fails its check",
)
