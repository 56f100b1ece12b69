"""Which device the indexer's encoder runs on: ``auto`` takes a CUDA GPU when torch sees one.

Queries always run on the CPU (one short text through the ONNX export: a GPU would cost more
to start than it saves). Indexing is where a GPU pays: it is ~all encoder time.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError

DEVICES = ("auto", "cpu", "cuda", "cuda:N")


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` or ``cpu``; a CUDA device that torch cannot see is a user error.

    Imports torch, so it is called only when something is about to be encoded.
    """
    name = (name or "auto").strip().lower()
    if name == "cpu":
        return name
    if name != "auto" and name != "cuda" and not _is_cuda_index(name):
        raise ModelError(f"unknown device {name!r}: use one of {', '.join(DEVICES)}")
    import torch

    available = torch.cuda.is_available()
    if name == "auto":
        return "cuda" if available else "cpu"
    if not available:
        why = "torch was built without CUDA" if torch.version.cuda is None else "no GPU visible"
        raise ModelError(f"--device {name}: {why} (torch {torch.__version__}); use --device cpu")
    if ":" in name and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise ModelError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    return name


def _is_cuda_index(name: str) -> bool:
    prefix, _, index = name.partition(":")
    return prefix == "cuda" and index.isdigit()


def encodes_on_cpu(name: str) -> bool:
    """Whether a build asked to run on ``name`` encodes on the CPU (with the ONNX export).

    Decided without importing torch (seconds) where the operating system shows no NVIDIA GPU:
    then ``auto`` can only mean the CPU. Elsewhere torch decides, as for ``resolve_device``.
    """
    name = (name or "auto").strip().lower()
    if name == "cpu" or (name == "auto" and not nvidia_gpu_visible()):
        return True
    return resolve_device(name) == "cpu"


def nvidia_gpu_visible() -> bool:
    """An NVIDIA driver with at least one GPU: the only kind torch's CUDA can use."""
    gpus = Path("/proc") / "driver" / "nvidia" / "gpus"  # the Linux driver's list (if any)
    try:
        return (gpus.is_dir() and any(gpus.iterdir())) or any(Path("/dev").glob("nvidia[0-9]*"))
    except OSError:
        return True  # cannot tell: let torch decide
