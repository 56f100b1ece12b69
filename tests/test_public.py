"""The public face: what an embedding application imports, and where it catches errors."""

import subprocess
import sys

import newsearch
import newsearch.errors
from newsearch.indexer import errors as indexer_errors


def test_every_public_name_resolves_to_its_defining_module():
    for name in newsearch.__all__:
        value = getattr(newsearch, name)
        assert value.__name__ == name
        assert value.__module__.startswith(
            ("newsearch.search.", "newsearch.indexer.", "newsearch.cluster.")
        )
    assert sorted(newsearch.__all__) == sorted(newsearch._WHERE)


def test_one_error_module_catches_every_layer():
    assert newsearch.errors.NewsearchError is indexer_errors.NewsearchError
    for name in newsearch.errors.__all__:
        value = getattr(newsearch.errors, name)
        if isinstance(value, type):
            assert issubclass(value, newsearch.errors.NewsearchError)


def test_importing_the_package_imports_no_engine():
    code = "import sys, newsearch, newsearch.errors; print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout
    for heavy in ("whoosh", "faiss", "torch", "onnxruntime", "sentence_transformers"):
        assert f"'{heavy}'" not in loaded, heavy
