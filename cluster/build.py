"""The distributed build: one read of the corpus, N shard indexes built as Ray tasks.

The driver reads the articles once (the walk and the parse are cheap beside embedding),
partitions them by story (``partition.py``) and hands each shard's articles to a task that
runs the ordinary ``build_index`` on them: the ONNX document encoder in that worker, the
shard's own embedding cache (seeded from ``seed_cache`` when given), the same stores. So a
shard is a complete newsearch index, and re-running the build with the same shard count
embeds nothing that was embedded before. The shard folders must be on storage every node
sees (one machine, or a shared file system on a real cluster).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from newsearch.indexer.builder import BuildOptions, build_index
from newsearch.indexer.corpus import ReadReport, read_articles
from newsearch.indexer.errors import EmptyCorpusError
from newsearch.indexer.layout import CACHE_FILE, utc_now

from .manifest import ClusterManifest, ShardEntry
from .partition import RULE, first_pids, partition
from .runtime import ClusterError, connected

SHARDS_DIR = "shards"


@dataclass
class ShardReport:
    shard: int
    articles: int
    paragraphs: int
    embedded: int
    reused: int
    stories: int
    seconds: float
    node: str = ""


@dataclass
class ClusterBuildReport:
    cluster_dir: str
    shards: list[ShardReport]
    articles: int
    paragraphs: int
    seconds: float
    ray: str = ""
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def embedded(self) -> int:
        return sum(s.embedded for s in self.shards)

    @property
    def reused(self) -> int:
        return sum(s.reused for s in self.shards)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["embedded"] = self.embedded
        out["reused"] = self.reused
        return out


def shard_read(read: ReadReport, ids: set[str]) -> ReadReport:
    """The part of one read that a shard holds: its articles, and the files they came from
    (with their stat and digest, for the shard's manifest)."""
    articles = [a for a in read.articles if a.id in ids]
    files = {a.source_path for a in articles}
    return ReadReport(
        articles=articles,
        sources=[f for f in read.sources if f.key in files],
        digests={k: v for k, v in read.digests.items() if k in files},
        parsed=[a for a in read.parsed if a.id in ids],
        files_read=len(files),
    )


def build_shard(
    paths: Sequence[str],
    shard_dir: str,
    options: BuildOptions,
    read: ReadReport,
    pids: Mapping[str, int],
    shard: int,
) -> ShardReport:
    """Build one shard index (in a Ray worker, or in this process)."""
    started = time.perf_counter()
    report = build_index(list(paths), shard_dir, options, read=read, first_pids=pids)
    node = ""
    try:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return ShardReport(
        shard=shard,
        articles=report.articles,
        paragraphs=report.paragraphs,
        embedded=report.embedded + report.story_embedded,
        reused=report.reused,
        stories=report.stories,
        seconds=round(time.perf_counter() - started, 2),
        node=node,
    )


def build_cluster(
    paths: Sequence[str | os.PathLike[str]],
    cluster_dir: str | os.PathLike[str],
    shards: int,
    options: BuildOptions | None = None,
    ray_address: str | None = None,
    seed_cache: str | os.PathLike[str] | None = None,
) -> ClusterBuildReport:
    """Build ``shards`` shard indexes of ``paths`` in ``cluster_dir`` and write cluster.json.

    ``ray_address``: run the shard builds as Ray tasks there (``auto``: a local Ray
    instance); None builds them one after another in this process. ``seed_cache``: an
    embedding cache (``embeddings.sqlite``) copied into each shard that has none yet.
    """
    if shards < 1:
        raise ClusterError(f"--shards must be at least 1, got {shards}")
    options = options or BuildOptions()
    started = time.perf_counter()
    root = Path(cluster_dir)
    read = read_articles(paths)
    if not read.articles:
        raise EmptyCorpusError("no articles found under " + ", ".join(str(p) for p in paths))
    part = partition(read.articles, shards)
    pids = first_pids(read.articles)
    src = [str(Path(p).resolve()) for p in paths]
    jobs = []
    for s in range(shards):
        members = [read.articles[i] for i in part.members(s)]
        if not members:
            continue
        shard_dir = root / SHARDS_DIR / f"shard-{s:03d}"
        shard_dir.mkdir(parents=True, exist_ok=True)
        if seed_cache is not None and not (shard_dir / CACHE_FILE).exists():
            shutil.copyfile(seed_cache, shard_dir / CACHE_FILE)
        ids = {a.id for a in members}
        jobs.append(
            (src, str(shard_dir), options, shard_read(read, ids), {i: pids[i] for i in ids}, s)
        )
    if ray_address is None:
        reports = [build_shard(*job) for job in jobs]
    else:
        with connected(ray_address) as ray:
            # One CPU per shard build (and one GPU with --device cuda: Ray hides the GPUs from
            # a task that did not ask for one); SPREAD puts the tasks on different nodes.
            gpus = 1 if options.device.startswith("cuda") else 0
            task = ray.remote(
                num_cpus=1, num_gpus=gpus, scheduling_strategy="SPREAD", max_retries=1
            )(build_shard)
            refs = [task.remote(*job) for job in jobs]
            try:
                reports = ray.get(refs)
            except ray.exceptions.RayError as exc:
                raise ClusterError(f"a shard build failed on the cluster: {exc}") from None
    by_shard = {r.shard: r for r in reports}
    manifest = ClusterManifest(
        shards=[
            ShardEntry(
                path=str(Path(SHARDS_DIR) / f"shard-{r.shard:03d}"),
                articles=r.articles,
                paragraphs=r.paragraphs,
                node=r.node,
                seconds=r.seconds,
            )
            for r in sorted(by_shard.values(), key=lambda r: r.shard)
        ],
        partition=RULE,
        sources=src,
        stories=sum(r.stories for r in reports),
        built_at=utc_now(),
        ray={"address": ray_address or "", "shards_requested": shards},
    )
    manifest.save(root)
    return ClusterBuildReport(
        cluster_dir=str(root),
        shards=sorted(reports, key=lambda r: r.shard),
        articles=len(read.articles),
        paragraphs=sum(r.paragraphs for r in reports),
        seconds=round(time.perf_counter() - started, 2),
        ray=ray_address or "",
        warnings=list(read.warnings),
        skipped=[str(s) for s in read.skipped],
    )
