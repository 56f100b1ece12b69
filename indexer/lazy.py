"""Package attributes loaded on first use (PEP 562), for the packages that re-export names.

``newsearch query`` must not pay for torch, Whoosh or FAISS because it touched a package that
re-exports something from a module that imports them; so the public packages (``newsearch``,
``newsearch.indexer``, ``newsearch.indexer.encoders``) map each name to its module and import
that module only when the name is first read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(
    package: str, where: dict[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps a name to the module defining
    it (relative to ``package`` when it starts with a dot); a loaded name is cached in
    ``namespace`` (the package's globals), so it is looked up once."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__
