"""Scoring on Ray Data: per-report statistics computed by an actor pool, aggregated once on the driver.

Installed with ``pip install 'rrg-eval[ray]'``. The distributed path changes *where* ``compute_stats`` runs, never
*what* is computed: the pairs are cut into contiguous blocks, ``Dataset.map_batches`` sends each block to an
actor that holds one instance of every selected metric (so one model per actor), the actor returns the block's
statistics, and the driver concatenates them in row order (:func:`rrg_eval.stats.concat`) and calls the same
``aggregate``, ``per_report`` and signature code as a local run (:func:`rrg_eval.api.score_pairs`). Numbers are
therefore those of a local run for any number of blocks, as long as a metric's per-report statistics do not
depend on the other rows of the call (every metric's split-invariance test checks that).

Use it from Python::

    from rrg_eval.distributed import RayEngine
    rrg_eval.score(predictions="p.jsonl", references="r.jsonl", metrics=["bleu", "bertscore"],
                   engine=RayEngine(workers=8))

or ``rrg-eval score p.jsonl r.jsonl --engine ray --workers 8 [--ray-address ADDR]``; ``compare`` the same.
A Ray ``Dataset`` with id, prediction and reference columns is scored by :func:`score_dataset`.

The cluster: with ``address`` the engine connects to that cluster (``ray start --head`` on the head node) and
only disconnects at the end. Without one, and when this process is not already connected to Ray, it starts a
local cluster whose servers listen on 127.0.0.1 only (Ray would otherwise bind every interface), with no
dashboard, its session files under ``$RAY_TMPDIR`` when set (Ray reads that variable itself), and stops it at the
end. When this process is already connected (``ray.init`` called by the user), that connection is used and left
alone.

Fault tolerance: Ray Data restarts a dead actor and retries its block (``max_restarts=-1`` and
``max_task_retries=-1`` are Ray Data's defaults for actor pools). Every block's output carries its first row
index and its ids; the driver keeps one output per block and checks that the blocks cover every row exactly
once, so a retried block can never be counted twice.

Caches: each actor opens the annotation cache at ``cache_dir`` on the node it runs on (``--cache-dir``, default
``~/.cache/rrg-eval`` of the user running the node), so caches are per node; ``--no-cache`` turns them off.
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputError, MetricError, MetricUnavailable, RrgEvalError
from .inputs import Pairs
from .metrics.base import Metric, RunContext, compute_once
from .stats import Stats, concat

#: environment variables forwarded to the actors (model folder, offline switches of the hub libraries)
FORWARDED_ENV_PREFIXES = ("RRG_EVAL_",)
FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME")
#: the variable that makes Ray resolve "this node's address" to the loopback address (Ray's own switch; the
#: servers of a cluster started on 127.0.0.1 then listen there and nowhere else)
_LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
DEFAULT_ROWS_PER_BLOCK = 2048


def ray_unavailable_reason() -> str | None:
    """None when Ray Data can be imported, else how to install it."""
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:
        return f"the Ray engine needs Ray Data ({exc}); pip install 'rrg-eval[ray]'"
    return None


@dataclass(frozen=True)
class RayEngine:
    """How to run the statistics on Ray: the cluster, the actor pool and the blocks.

    ``address``: a running cluster (``"ray://host:10001"`` or ``"host:6379"``); None starts a local cluster on
    127.0.0.1 (or uses this process's existing Ray connection). ``workers``: actors in the pool; each holds one
    instance of every selected metric (one model). ``blocks``: how many blocks the pairs are cut into (default:
    one per ``rows_per_block`` rows, at least ``workers``). ``cpus_per_worker``: CPUs reserved per actor,
    fractional so that a pool never holds every CPU of a small machine (which leaves Ray Data nothing to
    schedule its own tasks with). ``gpus_per_worker``: GPUs per actor; None gives each actor ``GPUs / workers``
    (at most 1) when the cluster has GPUs and a selected metric runs a model, else 0. ``num_cpus``: CPUs of a
    local cluster (default: this machine's). ``env``: extra environment variables for the actors (the driver's
    ``RRG_EVAL_*`` and hub offline variables are forwarded by default).
    """

    address: str | None = None
    workers: int = 2
    blocks: int | None = None
    rows_per_block: int = DEFAULT_ROWS_PER_BLOCK
    cpus_per_worker: float = 0.5
    gpus_per_worker: float | None = None
    num_cpus: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if int(self.workers) < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.blocks is not None and int(self.blocks) < 1:
            raise ConfigError(f"blocks must be at least 1, got {self.blocks}")
        if self.rows_per_block < 1:
            raise ConfigError(f"rows_per_block must be at least 1, got {self.rows_per_block}")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"cpus_per_worker must be positive, got {self.cpus_per_worker}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise ConfigError(f"gpus_per_worker must not be negative, got {self.gpus_per_worker}")

    def open(self) -> RaySession:
        """Connect to (or start) the cluster; close the returned session to disconnect (and stop what it started)."""
        return RaySession(self)

    def block_count(self, n: int) -> int:
        """Blocks for ``n`` rows: ``blocks`` if set, else one per ``rows_per_block`` rows and at least ``workers``."""
        if n == 0:
            return 0
        wanted = self.blocks if self.blocks is not None else max(int(self.workers),
                                                                 math.ceil(n / self.rows_per_block))
        return max(1, min(int(wanted), n))


def block_bounds(n: int, blocks: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` row ranges of ``blocks`` nearly equal blocks (as ``numpy.array_split``)."""
    if blocks <= 0:
        return []
    size, extra = divmod(n, blocks)
    bounds: list[tuple[int, int]] = []
    start = 0
    for b in range(blocks):
        stop = start + size + (1 if b < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


# -- the actor ----------------------------------------------------------------------------------------------------

def _encode_error(exc: BaseException) -> BaseException:
    """The exception itself when it pickles (typed errors keep their class), else a MetricError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return MetricError(f"{type(exc).__name__}: {exc}")


def blocks_reason(metric: Metric) -> str | None:
    """Why ``metric``'s per-report statistics cannot be computed block by block (they depend on other rows, e.g.
    BERTScore's idf weights), from the metric's optional ``blocks_reason()`` hook; None when they can."""
    hook = getattr(metric, "blocks_reason", None)
    return hook() if callable(hook) else None


def signature_state(metric: Metric) -> dict[str, Any]:
    """What the signature learns while computing: the back-end versions (weights digests) and a metric's own
    ``signature_state()`` (e.g. the JSON schemas ``json_overlap`` read)."""
    own = getattr(metric, "signature_state", None)
    return {"versions": metric.backend_versions(), "own": own() if callable(own) else None}


def absorb_states(metric: Metric, states: Sequence[dict[str, Any]]) -> None:
    """Give the driver's ``metric`` what the actors' instances learned, so that its signature is a local run's.

    The actors' back-end versions must agree (nodes with other weights would mix numbers: an error); when they
    differ from this machine's (weights only on the workers), the signature names the workers'.
    """
    if not states:
        return
    versions = {tuple(sorted(s["versions"].items())) for s in states}
    if len(versions) > 1:
        raise MetricError(f"{metric.name}: the Ray workers run different back-ends "
                          f"({'; '.join(sorted(str(dict(v)) for v in versions))}): give every node the same weights")
    workers = dict(next(iter(versions)))
    if workers != metric.backend_versions():
        metric.backend_versions = lambda: dict(workers)  # type: ignore[method-assign]
    absorb = getattr(metric, "absorb_signature_state", None)
    if callable(absorb):
        for s in states:
            if s["own"] is not None:
                absorb(s["own"])


class StatsWorker:
    """One actor of the pool: every selected metric, built once, computing one block's statistics per call.

    ``specs`` are (metric class, config) pairs, rebuilt here so that nothing loaded on the driver travels;
    ``cache_dir`` is opened on this actor's node (None: no cache).
    """

    def __init__(self, specs: Sequence[tuple[type[Metric], Any]], cache_dir: str | None) -> None:
        self.metrics = [cls(config) for cls, config in specs]
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        import numpy as np

        ids = [str(x) for x in batch["id"]]
        predictions = [str(x) for x in batch["prediction"]]
        references = [str(x) for x in batch["reference"]]
        context = RunContext(cache_dir=self.cache_dir)
        out: dict[str, tuple[str, Any, list[str]]] = {}
        state: dict[str, dict[str, Any]] = {}
        for metric in self.metrics:
            before = len(context.warnings)
            try:
                stats = compute_once(metric, predictions=predictions, references=references, ids=ids,
                                     context=context)
                out[metric.name] = ("ok", stats, context.warnings[before:])
                state[metric.name] = signature_state(metric)
            except Exception as exc:  # recorded per metric, as a local run records it; the others still run
                out[metric.name] = ("error", _encode_error(exc), context.warnings[before:])
        start = int(batch["row"][0]) if len(batch["row"]) else -1
        payload = pickle.dumps({"start": start, "ids": ids, "predictions": predictions, "references": references,
                                "metrics": out, "state": state}, protocol=pickle.HIGHEST_PROTOCOL)
        return {"start": np.array([start], dtype=np.int64), "payload": np.array([payload], dtype=object)}


def bound_worker(specs: Sequence[tuple[type[Metric], Any]], cache_dir: str | None) -> type[StatsWorker]:
    """A :class:`StatsWorker` with its arguments inside the class (shipped with it), so that a restarted actor
    never depends on constructor arguments kept in the object store."""
    specs = list(specs)

    class BoundStatsWorker(StatsWorker):
        def __init__(self) -> None:
            super().__init__(specs, cache_dir)

    return BoundStatsWorker


# -- the driver ---------------------------------------------------------------------------------------------------

@dataclass
class BlockOutput:
    """What one block sent back: its first row, its rows, and per metric (status, stats or error, warnings)."""

    start: int
    ids: list[str]
    predictions: list[str]
    references: list[str]
    metrics: dict[str, tuple[str, Any, list[str]]]
    state: dict[str, dict[str, Any]] = field(default_factory=dict)


def merge_blocks(outputs: Sequence[BlockOutput], names: Sequence[str],
                 ) -> dict[str, tuple[Stats | None, BaseException | None, list[str]]]:
    """Per metric: (statistics of every row in block order, or None and the first block's error; warnings).

    Warnings identical in several blocks are given once with the number of blocks; the others once each,
    naming the rows of their block (counts inside a block's warning are that block's).
    """
    merged: dict[str, tuple[Stats | None, BaseException | None, list[str]]] = {}
    many = len(outputs) > 1
    for name in names:
        stats: Stats | None = None
        error: BaseException | None = None
        seen: dict[str, list[str]] = {}
        for block in outputs:
            status, value, warnings = block.metrics[name]
            where = f"rows {block.start}-{block.start + len(block.ids) - 1}"
            for w in warnings:
                seen.setdefault(w, []).append(where)
            if error is not None:
                continue
            if status != "ok":
                error, stats = value, None
                continue
            stats = value if stats is None else concat(stats, value)
        warnings_out = []
        for text, places in seen.items():
            if not many:
                warnings_out.append(text)
            elif len(places) == 1:
                warnings_out.append(f"{text} [{places[0]}]")
            else:
                warnings_out.append(f"{text} [in {len(places)} blocks]")
        merged[name] = (stats, error, warnings_out)
    return merged


def check_coverage(outputs: Sequence[BlockOutput], n: int) -> list[BlockOutput]:
    """One output per block, in row order, covering rows ``0..n-1`` exactly once (a retried block's repeat is
    dropped); anything else is an error (never a silently double-counted or missing row)."""
    by_start: dict[int, BlockOutput] = {}
    for out in outputs:
        kept = by_start.get(out.start)
        if kept is not None and kept.ids != out.ids:
            raise MetricError(f"two different outputs for the block starting at row {out.start}")
        by_start.setdefault(out.start, out)
    ordered = [by_start[s] for s in sorted(by_start)]
    row = 0
    for out in ordered:
        if out.start != row:
            raise MetricError(f"the Ray outputs do not cover rows {row}-{out.start - 1} (or cover them twice)")
        row += len(out.ids)
    if row != n:
        raise MetricError(f"the Ray outputs cover {row} rows, expected {n}")
    return ordered


def _wants_gpu(metrics: Sequence[Metric]) -> bool:
    from .option_spec import to_dict

    for metric in metrics:
        device = to_dict(metric.config).get("device")
        if device is not None and device != "cpu":
            return True
    return False


def _forwarded_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES) or k in FORWARDED_ENV}
    env.update({str(k): str(v) for k, v in extra.items()})
    return env


class RaySession:
    """A connection to a Ray cluster for one ``score`` or ``compare`` call: computes statistics on an actor pool.

    :meth:`prepare` is the hook :func:`rrg_eval.api.score_pairs` calls: it runs one pass over the pairs for every
    metric and returns a function with the signature of :func:`rrg_eval.metrics.base.compute_once` that hands
    out each metric's statistics (and records that metric's warnings, or raises its error, as a local run
    would).
    """

    def __init__(self, engine: RayEngine) -> None:
        reason = ray_unavailable_reason()
        if reason is not None:
            raise MetricUnavailable(reason)
        import ray

        self.engine = engine
        self.started = False  # a local cluster this session started (stopped at close)
        self.connected = False  # a connection this session made (dropped at close)
        self.blocks_run = 0
        self._saved: tuple[Any, ...] | None = None
        if ray.is_initialized():
            if engine.address is not None:
                raise ConfigError("this process is already connected to Ray; leave out --ray-address or call "
                                  "ray.shutdown() first")
        elif engine.address is not None:
            ray.init(address=engine.address, log_to_driver=False, logging_level="WARNING",
                     configure_logging=False)
            self.connected = True
        else:
            start_local_cluster(num_cpus=engine.num_cpus)
            self.started = self.connected = True
        self._quiet_data()

    def _quiet_data(self) -> None:
        """Rows in order, no progress bars or progress logs (only the CLI prints); undone at close. Datasets copy
        the context when they are created, so this holds for the whole session."""
        import logging

        import ray.data

        context = ray.data.DataContext.get_current()
        logger = logging.getLogger("ray.data")
        self._saved = (context.execution_options.preserve_order, context.enable_progress_bars, logger.level)
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        logger.setLevel(logging.ERROR)

    def __enter__(self) -> RaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect; a local cluster started by this session is stopped (its processes end)."""
        if self._saved is not None:
            import logging

            import ray.data

            context = ray.data.DataContext.get_current()
            context.execution_options.preserve_order, context.enable_progress_bars, level = self._saved
            logging.getLogger("ray.data").setLevel(level)
            self._saved = None
        if self.connected:
            import ray

            ray.shutdown()
            self.connected = self.started = False

    # -- one pass -------------------------------------------------------------------------------------------
    def _actor_args(self, metrics: Sequence[Metric]) -> dict[str, Any]:
        import ray

        gpus = self.engine.gpus_per_worker
        if gpus is None:
            total = float(ray.cluster_resources().get("GPU", 0.0))
            gpus = min(1.0, total / self.engine.workers) if total > 0 and _wants_gpu(metrics) else 0.0
        args: dict[str, Any] = {"num_cpus": self.engine.cpus_per_worker}
        if gpus:
            args["num_gpus"] = gpus
        return args

    def run_blocks(self, columns: Any, metrics: Sequence[Metric], cache_dir: Path | None,
                   blocks: int | None = None) -> list[BlockOutput]:
        """Every block of ``columns`` (a Ray Dataset with row, id, prediction, reference) through the pool."""
        import ray.data

        specs = [(type(m), m.config) for m in metrics]
        try:
            mapped = columns.map_batches(
                bound_worker(specs, str(cache_dir) if cache_dir else None), batch_size=None, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=min(self.engine.workers, blocks or self.engine.workers)),
                runtime_env={"env_vars": _forwarded_env(self.engine.env)},
                **self._actor_args(metrics))
            rows = mapped.take_all()
        except RrgEvalError:
            raise
        except Exception as exc:  # the cluster itself failed (every metric error is caught in the actor)
            raise MetricError(f"the Ray engine failed: {type(exc).__name__}: {exc}") from exc
        outputs = []
        for row in rows:
            data = pickle.loads(row["payload"])
            outputs.append(BlockOutput(start=data["start"], ids=data["ids"], predictions=data["predictions"],
                                       references=data["references"], metrics=data["metrics"],
                                       state=data["state"]))
        self.blocks_run += len(outputs)
        return outputs

    def pairs_dataset(self, pairs: Pairs) -> Any:
        """The pairs as a Ray Dataset of contiguous blocks, each row carrying its index."""
        import pyarrow as pa
        import ray.data

        bounds = block_bounds(len(pairs), self.engine.block_count(len(pairs)))
        tables = [pa.table({"row": list(range(a, b)), "id": pairs.ids[a:b], "prediction": pairs.predictions[a:b],
                            "reference": pairs.references[a:b]}) for a, b in bounds]
        return ray.data.from_arrow(tables)

    def prepare(self, metrics: Sequence[Metric], pairs: Pairs, context: RunContext,
                ) -> Callable[..., Stats]:
        """Run the pass for ``metrics`` on ``pairs``; returns the ``compute_once``-like function serving it.

        A metric whose statistics depend on the whole corpus (:func:`blocks_reason`) is computed here instead,
        with a warning saying why.
        """
        kept = []
        for metric in metrics:
            reason = blocks_reason(metric)
            if reason is None:
                kept.append(metric)
            else:
                context.warn(metric.name, f"computed on this machine, not by the Ray workers: {reason}")
        if not kept or len(pairs) == 0:
            return compute_once
        metrics = kept
        blocks = self.engine.block_count(len(pairs))
        outputs = check_coverage(self.run_blocks(self.pairs_dataset(pairs), metrics, context.cache_dir, blocks),
                                 len(pairs))
        joined = [i for out in outputs for i in out.ids]
        if joined != list(pairs.ids):
            raise MetricError("the Ray outputs' ids are not the input's ids in order")
        return served(merge_blocks(outputs, [m.name for m in metrics]), outputs)


def served(merged: Mapping[str, tuple[Stats | None, BaseException | None, list[str]]],
           outputs: Sequence[BlockOutput] = ()) -> Callable[..., Stats]:
    """A ``compute_once``-like function handing out already computed statistics (a metric not among them is
    computed here, locally); the driver's metric absorbs what the actors' instances learned for the signature."""

    def compute(metric: Metric, *, predictions: list[str], references: list[str], ids: list[str],
                context: RunContext) -> Stats:
        if metric.name not in merged:
            return compute_once(metric, predictions=predictions, references=references, ids=ids, context=context)
        stats, error, warnings = merged[metric.name]
        context.warnings.extend(warnings)
        if error is not None:
            raise error
        absorb_states(metric, [out.state[metric.name] for out in outputs if metric.name in out.state])
        assert stats is not None  # an internal invariant of merge_blocks, not user input
        return stats

    return compute


@contextmanager
def _loopback_resolution() -> Iterator[None]:
    """While starting a local cluster, make Ray resolve this node's address to 127.0.0.1 (Ray's own switch,
    read from the environment by the processes it starts and from its constants in this one)."""
    import ray._private.ray_constants as constants

    saved_env = os.environ.get(_LOOPBACK_SWITCH)
    saved_const = constants.ENABLE_RAY_CLUSTER
    os.environ[_LOOPBACK_SWITCH] = "0"
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = saved_const
        if saved_env is None:
            os.environ.pop(_LOOPBACK_SWITCH, None)
        else:
            os.environ[_LOOPBACK_SWITCH] = saved_env


def start_local_cluster(*, num_cpus: int | None = None) -> None:
    """Start a Ray cluster on this machine listening on 127.0.0.1 only, without dashboard; ``$RAY_TMPDIR`` is
    honoured (Ray reads it). Stop it with ``ray.shutdown()``."""
    import ray

    with _loopback_resolution():
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False, logging_level="WARNING",
                 configure_logging=False)


# -- Ray Datasets -------------------------------------------------------------------------------------------------

def score_dataset(dataset: Any, *, metrics: Any = None, engine: RayEngine | None = None,
                  id_column: str = "id", prediction_column: str = "prediction",
                  reference_column: str = "reference", cache_dir: str | os.PathLike | None = None,
                  use_cache: bool = True, strict: bool = False, **config: Any) -> Any:
    """Score a Ray ``Dataset`` of (id, prediction, reference) rows; returns a :class:`rrg_eval.result.Result`
    equal to ``rrg_eval.score`` on the same rows in the dataset's order.

    The dataset is scored where it lives (its blocks as Ray Data made them); only the per-report statistics
    (and the texts, which the result keeps) come back to the driver. Ids must be unique.
    """
    from .api import build_metrics, resolve_cache_dir, score_pairs, split_config

    engine = engine or RayEngine()
    per_metric, global_options = split_config(config)
    built, unavailable = build_metrics(metrics, strict=strict, options=per_metric, global_options=global_options)
    missing = [c for c in (id_column, prediction_column, reference_column) if c not in dataset.columns()]
    if missing:
        raise InputError(f"the dataset has no column(s) {', '.join(missing)} (columns: "
                         f"{', '.join(dataset.columns())}); name them with id_column=, prediction_column=, "
                         "reference_column=")
    folder = resolve_cache_dir(cache_dir, use_cache)
    try:
        with engine.open() as session:
            import numpy as np

            def add_row_marker(batch: dict[str, Any]) -> dict[str, Any]:
                n = len(batch[id_column])
                return {"row": np.zeros(n, dtype=np.int64), "id": batch[id_column],
                        "prediction": batch[prediction_column], "reference": batch[reference_column]}

            columns = dataset.map_batches(add_row_marker, batch_format="numpy")
            outputs = session.run_blocks(columns, [m for m in built if blocks_reason(m) is None], folder)
            # blocks come back in the dataset's order (preserve_order); number them by position
            row = 0
            for out in outputs:
                out.start, row = row, row + len(out.ids)
            ids = [i for out in outputs for i in out.ids]
            if len(set(ids)) != len(ids):
                seen: set[str] = set()
                dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
                raise InputError(f'id "{dup}" appears twice in the dataset\'s {id_column} column')
            pairs = Pairs(ids=ids, predictions=[p for out in outputs for p in out.predictions],
                          references=[r for out in outputs for r in out.references])
            merged = merge_blocks(outputs, [m.name for m in built if blocks_reason(m) is None])
            return score_pairs(pairs, built, cache_dir=folder, unavailable=unavailable,
                               explicit=metrics is not None, strict=strict, engine=_Prepared(merged, outputs))
    finally:
        for metric in built:
            metric.close()


class _Prepared:
    """An engine whose pass already ran (:func:`score_dataset`): ``prepare`` serves the merged statistics."""

    def __init__(self, merged: Mapping[str, tuple[Stats | None, BaseException | None, list[str]]],
                 outputs: Sequence[BlockOutput]) -> None:
        self.merged = merged
        self.outputs = outputs

    def prepare(self, metrics: Sequence[Metric], pairs: Pairs, context: RunContext) -> Callable[..., Stats]:
        for metric in metrics:
            reason = blocks_reason(metric)
            if metric.name not in self.merged and reason:
                context.warn(metric.name, f"computed on this machine, not by the Ray workers: {reason}")
        return served(self.merged, self.outputs)


__all__ = ["RayEngine", "RaySession", "StatsWorker", "block_bounds", "check_coverage", "merge_blocks",
           "ray_unavailable_reason", "score_dataset", "start_local_cluster"]
