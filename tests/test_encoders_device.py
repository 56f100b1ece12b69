"""--device: auto picks a GPU only when torch sees one; an unusable device is one error line."""

from __future__ import annotations

import pytest
import torch
from conftest import DEMO
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.indexer.encoders.device import resolve_device
from newsearch.indexer.errors import ModelError

HAS_CUDA = torch.cuda.is_available()


def test_cpu_and_auto():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if HAS_CUDA else "cpu")
    assert resolve_device("") == resolve_device("auto")


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "gpu"])
def test_unknown_device(name):
    with pytest.raises(ModelError, match="unknown device"):
        resolve_device(name)


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA GPU")
def test_cuda_without_gpu_is_a_user_error(tmp_path):
    with pytest.raises(ModelError, match="--device cuda"):
        resolve_device("cuda")
    result = CliRunner().invoke(
        app, ["index", str(DEMO / "sport"), "-i", str(tmp_path / "ix"), "--device", "cuda", "-q"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --device cuda") and "Traceback" not in result.output


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_cuda_index_builds(tmp_path):
    result = CliRunner().invoke(
        app, ["index", str(DEMO / "sport"), "-i", str(tmp_path / "ix"), "--device", "cuda"]
    )
    assert result.exit_code == 0, result.output


def test_cpu_device_builds(tmp_path):
    result = CliRunner().invoke(
        app, ["index", str(DEMO / "sport"), "-i", str(tmp_path / "ix"), "--device", "cpu", "-q"]
    )
    assert result.exit_code == 0, result.output
