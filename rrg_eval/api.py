"""The Python API: ``rrg_eval.score(predictions=..., references=..., metrics=[...])``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import option_sources as opts
from . import progress as pg
from . import resampling as rs
from .errors import ConfigError, MetricUnavailable, RrgEvalError
from .inputs import Pairs, as_report_set, empty_report_warnings, pair, references_digest
from .metrics.base import Metric, RunContext, compute_once, is_judge
from .metrics.registry import metric_class
from .option_spec import to_dict as metric_options_dict
from .result import KeyInfo, Result


def default_cache_dir() -> Path:
    """``$RRG_EVAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/rrg-eval``, else ``~/.cache/rrg-eval``."""
    env = os.environ.get("RRG_EVAL_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rrg-eval"


def resolve_cache_dir(cache_dir: str | os.PathLike | None, use_cache: bool) -> Path | None:
    if not use_cache:
        return None
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def metric_options(metrics: Iterable[str] | str | None = None, *,
                   options: Mapping[str, Mapping[str, Any]] | None = None,
                   global_options: Mapping[str, Any] | None = None,
                   file_options: Mapping[str, Mapping[str, Any]] | None = None,
                   ) -> tuple[list[str], bool, dict[str, dict[str, Any]]]:
    """(selected names, named explicitly?, options per metric) from every source: file < --set < globals.

    The one place where options are merged: ``score``, ``compare`` and the judges' dry run all use it.
    """
    names, explicit = opts.select_metrics(metrics)
    file_options = dict(file_options or {})
    explicit_options = dict(options or {})
    opts.check_known(file_options)
    opts.check_known(explicit_options)
    merged = opts.merge({k: v for k, v in file_options.items() if k in names}, explicit_options)
    merged = opts.apply_globals(merged, names, global_options or {})
    return names, explicit, merged


def build_metrics(metrics: Iterable[str] | str | None = None, *, strict: bool = False,
                  options: Mapping[str, Mapping[str, Any]] | None = None,
                  global_options: Mapping[str, Any] | None = None,
                  file_options: Mapping[str, Mapping[str, Any]] | None = None,
                  failed: dict[str, str] | None = None,
                  ) -> tuple[list[Metric], dict[str, str]]:
    """Instantiate the selected metrics with their options; returns (runnable metrics, unavailable reasons).

    A metric that cannot run is an error when it was named explicitly or ``strict`` is set; otherwise it is
    reported as unavailable. All options are checked before anything is computed. With a ``failed`` dict, such
    an error is recorded there (``{name: "cannot run here: why"}``) and the other metrics still run, unless none
    of them can (then it is raised: nothing would be computed).
    """
    names, explicit, merged = metric_options(metrics, options=options, global_options=global_options,
                                             file_options=file_options)
    built: list[Metric] = []
    unavailable: dict[str, str] = {}
    for name in names:
        cls = metric_class(name)
        if not explicit and cls.named_only:
            unavailable[name] = f"runs only when named (--metrics {name})"
            continue
        metric = cls(**merged.get(name, {}))
        reason = metric.unavailable_reason()
        if reason is None:
            built.append(metric)
        elif explicit or strict:
            if failed is None:
                raise MetricUnavailable(f"{name} cannot run: {reason}")
            failed[name] = f"cannot run here: {reason}"
        else:
            unavailable[name] = reason
    if failed and not built:
        raise MetricUnavailable("; ".join(f"{name} cannot run: {why.removeprefix('cannot run here: ')}"
                                          for name, why in failed.items()))
    return built, unavailable


def option_warnings(metrics: Iterable[str] | str | None, config: Mapping[str, Any]) -> list[str]:
    """Warnings for options given (``**config`` of :func:`score` / ``compare``) that no selected metric uses."""
    per_metric, global_options = split_config(config)
    return opts.unused_option_warnings(opts.select_metrics(metrics)[0], per_metric, global_options)


def split_config(config: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """``**config`` of the API: (per-metric option dicts, global options such as ``normalize``, ``device``)."""
    per_metric = {k: dict(v) for k, v in config.items() if isinstance(v, Mapping)}
    global_options = {k: v for k, v in config.items() if not isinstance(v, Mapping)}
    return per_metric, global_options


def skip_for_inputs(metrics: list[Metric], pairs_list: Sequence[Pairs], *, explicit: bool,
                    ) -> tuple[list[Metric], dict[str, str]]:
    """The default set leaves out a metric whose ``skip_reason`` objects to any system's inputs.

    A metric named explicitly always runs. Returns (metrics kept, {name: reason}).
    """
    if explicit:
        return list(metrics), {}
    kept: list[Metric] = []
    skipped: dict[str, str] = {}
    for metric in metrics:
        for pairs in pairs_list:
            reason = metric.skip_reason(predictions=pairs.predictions, references=pairs.references)
            if reason is not None:
                skipped[metric.name] = reason
                break
        else:
            kept.append(metric)
    return kept, skipped


def recorded_options(metric: Metric) -> dict[str, Any]:
    """The metric's options as a JSON-serialisable dict (what a saved run records)."""
    return metric_options_dict(metric.config)


def score_pairs(pairs: Pairs, metrics: list[Metric], *, cache_dir: Path | None = None,
                unavailable: Mapping[str, str] | None = None, explicit: bool = True,
                strict: bool = False, progress: pg.ProgressArg = False,
                engine: Any = None) -> Result:
    """Run already-built metrics on aligned pairs: the one orchestration of ``score`` and ``compare``.

    A failing metric is recorded in ``errors``, the others still run. With ``explicit=False`` (the default
    metric set), a metric whose ``skip_reason`` objects to these inputs, or that finds out while computing that
    it cannot run (``MetricUnavailable``: weights missing offline), is listed as not run instead; when named
    explicitly or with ``strict`` that is a failure. ``progress``: False, True (bars or lines on standard
    error) or a callable receiving :class:`rrg_eval.progress.ProgressEvent` (a ``metric`` event when each
    metric starts and ends, ``skipped`` when it gives no numbers, and the metrics' own stages in between).
    """
    callback = pg.resolve(progress)
    try:
        return _score_pairs(pairs, metrics, cache_dir=cache_dir, unavailable=unavailable, explicit=explicit,
                            strict=strict, callback=callback, engine=engine)
    finally:
        if progress is True:
            pg.finish(callback)


def _score_pairs(pairs: Pairs, metrics: list[Metric], *, cache_dir: Path | None,
                 unavailable: Mapping[str, str] | None, explicit: bool, strict: bool,
                 callback: Any, engine: Any = None) -> Result:
    context = RunContext(cache_dir=cache_dir, progress=callback)
    metrics, skipped = skip_for_inputs(metrics, [pairs], explicit=explicit)
    unavailable = {**dict(unavailable or {}), **skipped}
    context.warnings.extend(empty_report_warnings(pairs))
    digest = references_digest(pairs.ids, pairs.references)
    compute = engine.prepare(metrics, pairs, context) if engine is not None else compute_once
    result = Result(n=len(pairs), ids=list(pairs.ids), scores={}, signatures={}, key_info={},
                    unavailable=unavailable, references_digest=digest,
                    texts={"predictions": list(pairs.predictions), "references": list(pairs.references)})
    n = len(pairs)
    for metric in metrics:
        pg.emit(callback, pg.METRIC, metric.name, done=0, total=n)
        try:
            # compute_once: a composite (radcliq) and its components share one computation per run
            stats = compute(metric, predictions=list(pairs.predictions), references=list(pairs.references),
                                 ids=list(pairs.ids), context=context)
            scores = metric.aggregate(stats)
            per_report = metric.per_report(stats)
        except MetricUnavailable as exc:
            if explicit or strict:
                result.errors[metric.name] = str(exc)
            else:
                result.unavailable[metric.name] = str(exc)
            pg.emit(callback, pg.SKIPPED, metric.name, done=0, total=n)
            continue
        except RrgEvalError as exc:
            result.errors[metric.name] = str(exc)
            pg.emit(callback, pg.SKIPPED, metric.name, done=0, total=n)
            continue
        except Exception as exc:  # a metric bug must not lose the other metrics' numbers
            result.errors[metric.name] = f"{type(exc).__name__}: {exc}"
            pg.emit(callback, pg.SKIPPED, metric.name, done=0, total=n)
            continue
        pg.emit(callback, pg.METRIC, metric.name, done=n, total=n)
        result.stats[metric.name] = stats
        result.options[metric.name] = recorded_options(metric)
        result.versions.update({f"{metric.name}:{k}": str(v) for k, v in metric.backend_versions().items()})
        result.signatures[metric.name] = metric.signature(digest)
        for key, value in scores.items():
            result.scores[key] = float(value)
            result.key_info[key] = KeyInfo(metric=metric.name, kind=metric.kind_of(key),
                                           higher_is_better=metric.higher_is_better(key))
        for key, values in per_report.items():
            result.per_report_values[key] = values
    result.warnings = list(context.warnings)
    return result


def add_intervals(result: Result, metrics: Sequence[Metric], *, confidence: float, resamples: int,
                  seed: int) -> None:
    """Fill ``result.ci``: each key's percentile bootstrap interval, from the statistics of its point value.

    The resamples are those ``compare`` draws for the same ``n``, ``resamples`` and ``seed``, so one system's
    intervals equal its intervals in a leaderboard.
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"ci must be a confidence level between 0 and 1 (e.g. 0.95), got {confidence}")
    if resamples < 1:
        raise ConfigError(f"resamples must be at least 1, got {resamples}")
    indices = rs.bootstrap_indices(result.n, resamples, int(seed))
    for metric in metrics:
        stats = result.stats.get(metric.name)
        if stats is None:
            continue
        keys = [k for k, info in result.key_info.items() if info.metric == metric.name]
        sampled = rs.resampled_scores(metric.aggregate, stats, indices, keys, batch=metric.aggregate_resamples)
        for key in keys:
            result.ci[key] = rs.percentile_ci(sampled[key], confidence)
    result.ci_settings = {"confidence": confidence, "resamples": resamples, "seed": int(seed)}


def read_pairs(predictions: Any, references: Any, *, id_field: str = "id", text_field: str = "report") -> Pairs:
    """Predictions and references (paths, mappings or lists) read and aligned by id."""
    preds = as_report_set(predictions, role="predictions", id_field=id_field, text_field=text_field)
    refs = as_report_set(references, role="references", id_field=id_field, text_field=text_field)
    return pair(preds, refs)


def plan_judges(*, predictions: Any, references: Any, metrics: Iterable[str] | str | None = None,
                cache_dir: str | os.PathLike | None = None, use_cache: bool = True, id_field: str = "id",
                text_field: str = "report", config_file: str | os.PathLike | None = None,
                **config: Any) -> list[Any]:
    """What the selected LLM judges would send (``JudgePlan`` each); nothing is sent and nothing is scored.

    Options are merged exactly as :func:`score` merges them (file, per-metric, global options). Availability
    is not required (a dry run sends nothing). The default metric set plans nothing: judges run only when named.
    """
    per_metric, global_options = split_config(config)
    file_options = opts.load_config_file(config_file) if config_file else {}
    names, explicit, merged = metric_options(metrics, options=per_metric, global_options=global_options,
                                             file_options=file_options)
    if not explicit:
        return []
    planners = [metric_class(n)(**merged.get(n, {})) for n in names if is_judge(metric_class(n))]
    if not planners:
        return []
    pairs = read_pairs(predictions, references, id_field=id_field, text_field=text_field)
    folder = resolve_cache_dir(cache_dir, use_cache)
    return [m.plan_requests(predictions=pairs.predictions, references=pairs.references, cache_dir=folder)
            for m in planners]


def score(*, predictions: Any, references: Any, metrics: Iterable[str] | str | None = None,
          strict: bool = False, cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
          id_field: str = "id", text_field: str = "report", config_file: str | os.PathLike | None = None,
          ci: float | None = None, resamples: int = 1000, seed: int = 12345, suite: str | None = None,
          progress: pg.ProgressArg = False, engine: Any = None, **config: Any) -> Result:
    """Score predictions against references, paired by id.

    ``predictions`` / ``references``: a path (JSONL, JSON, CSV, TSV, Parquet), an ``{id: text}`` mapping, or a
    list of texts (ids are positions). ``metrics``: names (default: every registered metric that can run).
    ``config``: per-metric option dicts (``rouge={"use_stemmer": False}``) and options that apply to every
    selected metric having them (``normalize="lower"``, ``device="cuda"``). ``ci``: a confidence level (0.95)
    gives every key a percentile bootstrap interval in ``result.ci`` over ``resamples`` resamples drawn with
    ``seed`` (the same intervals ``compare`` gives this system with that seed).
    ``suite``: a named suite (``rrg_eval.suites``, e.g. ``"rexrank"``) instead of ``metrics``; the result
    records its name and version. ``progress``: False (default), True (bars on a terminal, else one line per
    stage, on standard error) or a callable receiving each :class:`rrg_eval.progress.ProgressEvent`.
    ``engine``: ``rrg_eval.distributed.RayEngine(...)`` computes the per-report statistics on a Ray actor
    pool (same numbers; ``pip install 'rrg-eval[ray]'``); None computes them here.
    """
    per_metric, global_options = split_config(config)
    file_options = opts.load_config_file(config_file) if config_file else {}
    failed: dict[str, str] = {}
    if progress is not True:
        pg.resolve(progress)  # a wrong value is refused before any work
    if suite is not None:  # a named suite: its metrics and exact options (rrg_eval.suites)
        from .suites import build_suite_metrics, get_suite, suite_info

        if metrics is not None:
            raise ConfigError("give either metrics or suite, not both")
        chosen = get_suite(suite)
        built, unavailable = build_suite_metrics(chosen, options=opts.merge(file_options, per_metric),
                                                 global_options=global_options, strict=strict)
        notes = opts.unused_option_warnings(chosen.metrics, per_metric, global_options)
    else:
        built, unavailable = build_metrics(metrics, strict=strict, options=per_metric,
                                           global_options=global_options, file_options=file_options, failed=failed)
        notes = option_warnings(metrics, config)
    session = None
    try:
        pairs = read_pairs(predictions, references, id_field=id_field, text_field=text_field)
        if engine is not None:  # a rrg_eval.distributed.RayEngine: connected (or started) here, closed below
            if not callable(getattr(engine, "open", None)):
                raise ConfigError(f"engine must be a rrg_eval.distributed.RayEngine, got {engine!r}")
            session = engine.open()
        result = score_pairs(pairs, built, cache_dir=resolve_cache_dir(cache_dir, use_cache),
                             unavailable=unavailable, explicit=metrics is not None or suite is not None,
                             strict=strict, progress=progress, engine=session)
        result.errors = {**failed, **result.errors}  # named but cannot run here: the others' numbers stay
        result.warnings[:0] = notes
        if suite is not None:
            result.suite = suite_info(chosen)
        if ci is not None:
            add_intervals(result, built, confidence=float(ci), resamples=int(resamples), seed=seed)
        return result
    finally:
        if session is not None:
            session.close()
        for metric in built:
            metric.close()
