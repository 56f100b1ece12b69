"""``cluster.json``: what a cluster directory holds, so a searcher can open it as one index.

The shards are complete newsearch index directories under ``shards/``. BM25 statistics are
not stored: a query asks each shard for its document frequencies and field lengths and adds
them up (dfs_query_then_fetch), so the figures are always those of the shards as they are.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from newsearch.indexer.errors import IndexNotFoundError

MANIFEST_FILE = "cluster.json"
FORMAT = 1
GLOBAL_STATS = "computed per query from the shards (dfs_query_then_fetch)"


@dataclass
class ShardEntry:
    path: str  #: relative to the cluster directory
    articles: int
    paragraphs: int
    node: str = ""  #: the Ray node that built it ('' for a local build)
    seconds: float = 0.0


@dataclass
class ClusterManifest:
    shards: list[ShardEntry]
    partition: str
    sources: list[str]
    global_stats: str = GLOBAL_STATS
    stories: int = 0
    built_at: str = ""
    format: int = FORMAT
    ray: dict[str, object] = field(default_factory=dict)

    def shard_dirs(self, root: Path) -> list[Path]:
        return [root / s.path for s in self.shards]

    def save(self, root: Path) -> Path:
        path = root / MANIFEST_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, root: str | os.PathLike[str]) -> ClusterManifest:
        path = Path(root) / MANIFEST_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexNotFoundError(
                f"no cluster at {root}: build one with `newsearch index PATH --shards N`"
            ) from None
        shards = [ShardEntry(**s) for s in raw.pop("shards")]
        return cls(shards=shards, **raw)


def is_cluster(root: str | os.PathLike[str]) -> bool:
    return (Path(root) / MANIFEST_FILE).is_file()
