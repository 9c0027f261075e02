"""The Python API: ``rrg_eval.score(predictions=..., references=..., metrics=[...])``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import option_sources as opts
from .errors import ConfigError, MetricUnavailable, RrgEvalError
from .inputs import Pairs, as_report_set, pair
from .metrics.base import Metric, RunContext, compute_once, references_digest
from .metrics.registry import metric_class
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


def build_metrics(metrics: Iterable[str] | str | None = None, *, strict: bool = False,
                  options: Mapping[str, Mapping[str, Any]] | None = None,
                  global_options: Mapping[str, Any] | None = None,
                  file_options: Mapping[str, Mapping[str, Any]] | None = None,
                  ) -> tuple[list[Metric], dict[str, str]]:
    """Instantiate the selected metrics with their options; returns (runnable metrics, unavailable reasons).

    A metric that cannot run is an error when it was named explicitly or ``strict`` is set; otherwise it is
    reported as unavailable. All options are checked before anything is computed.
    """
    names, explicit = opts.select_metrics(metrics)
    file_options = dict(file_options or {})
    explicit_options = dict(options or {})
    opts.check_known(file_options)
    opts.check_known(explicit_options)
    merged = opts.merge({k: v for k, v in file_options.items() if k in names}, explicit_options)
    merged = opts.apply_globals(merged, names, global_options or {})
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
            raise MetricUnavailable(f"{name} cannot run: {reason}")
        else:
            unavailable[name] = reason
    return built, unavailable


def empty_report_warnings(pairs: Pairs) -> list[str]:
    """Empty texts are valid input; they are counted in the warnings."""
    warnings = []
    empty_preds = [i for i, t in zip(pairs.ids, pairs.predictions) if not t.strip()]
    empty_refs = [i for i, t in zip(pairs.ids, pairs.references) if not t.strip()]
    for what, found in (("prediction", empty_preds), ("reference", empty_refs)):
        if found:
            shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
            warnings.append(f"input: {len(found)} empty {what}(s), scored as the reference implementations "
                            f"score them (ids: {shown})")
    return warnings


def score_pairs(pairs: Pairs, metrics: list[Metric], *, cache_dir: Path | None = None,
                unavailable: Mapping[str, str] | None = None, explicit: bool = True,
                strict: bool = False) -> Result:
    """Run already-built metrics on aligned pairs. A failing metric is recorded, the others still run.

    With ``explicit=False`` (the default metric set), a metric whose ``skip_reason`` objects to these inputs
    is listed as not run instead of computed.
    """
    context = RunContext(cache_dir=cache_dir)
    unavailable = dict(unavailable or {})
    if not explicit:
        kept = []
        for metric in metrics:
            reason = metric.skip_reason(predictions=pairs.predictions, references=pairs.references)
            if reason is None:
                kept.append(metric)
            else:
                unavailable[metric.name] = reason
        metrics = kept
    context.warnings.extend(empty_report_warnings(pairs))
    digest = references_digest(pairs.ids, pairs.references)
    result = Result(n=len(pairs), ids=list(pairs.ids), scores={}, signatures={}, key_info={},
                    unavailable=unavailable)
    for metric in metrics:
        try:
            # compute_once: a composite (radcliq) and its components share one computation per run
            stats = compute_once(metric, predictions=list(pairs.predictions), references=list(pairs.references),
                                 ids=list(pairs.ids), context=context)
            scores = metric.aggregate(stats)
            per_report = metric.per_report(stats)
        except MetricUnavailable as exc:
            # found out only while running (weights missing offline): in the default set that is "not run"
            if explicit or strict:
                result.errors[metric.name] = str(exc)
            else:
                result.unavailable[metric.name] = str(exc)
            continue
        except RrgEvalError as exc:
            result.errors[metric.name] = str(exc)
            continue
        except Exception as exc:  # a metric bug must not lose the other metrics' numbers
            result.errors[metric.name] = f"{type(exc).__name__}: {exc}"
            continue
        result.stats[metric.name] = stats
        result.signatures[metric.name] = metric.signature(digest)
        for key, value in scores.items():
            result.scores[key] = float(value)
            result.key_info[key] = KeyInfo(metric=metric.name, kind=metric.kind_of(key),
                                           higher_is_better=metric.higher_is_better(key))
        for key, values in per_report.items():
            result.per_report_values[key] = values
    result.warnings = list(context.warnings)
    return result


def score(*, predictions: Any, references: Any, metrics: Iterable[str] | str | None = None,
          strict: bool = False, cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
          id_field: str = "id", text_field: str = "report", config_file: str | os.PathLike | None = None,
          suite: str | None = None, **config: Any) -> Result:
    """Score predictions against references, paired by id.

    ``predictions`` / ``references``: a path (JSONL, JSON, CSV, TSV, Parquet), an ``{id: text}`` mapping, or a
    list of texts (ids are positions). ``metrics``: names (default: every registered metric that can run).
    ``config``: per-metric option dicts (``rouge={"use_stemmer": False}``) and options that apply to every
    selected metric having them (``normalize="lower"``, ``device="cuda"``). ``suite``: a named suite
    (``rrg_eval.suites``, e.g. ``"rexrank"``) instead of ``metrics``; the result records its name and version.
    """
    per_metric = {k: dict(v) for k, v in config.items() if isinstance(v, Mapping)}
    global_options = {k: v for k, v in config.items() if not isinstance(v, Mapping)}
    file_options = opts.load_config_file(config_file) if config_file else {}
    if suite is not None:  # a named suite: its metrics and exact options (rrg_eval.suites)
        from .suites import build_suite_metrics, get_suite, suite_info

        if metrics is not None:
            raise ConfigError("give either metrics or suite, not both")
        chosen = get_suite(suite)
        built, unavailable = build_suite_metrics(chosen, options=opts.merge(file_options, per_metric),
                                                 global_options=global_options, strict=strict)
    else:
        built, unavailable = build_metrics(metrics, strict=strict, options=per_metric,
                                           global_options=global_options, file_options=file_options)
    preds = as_report_set(predictions, role="predictions", id_field=id_field, text_field=text_field)
    refs = as_report_set(references, role="references", id_field=id_field, text_field=text_field)
    pairs = pair(preds, refs)
    try:
        result = score_pairs(pairs, built, cache_dir=resolve_cache_dir(cache_dir, use_cache),
                             unavailable=unavailable, explicit=metrics is not None or suite is not None,
                             strict=strict)
        if suite is not None:
            result.suite = suite_info(chosen)
        return result
    finally:
        for metric in built:
            metric.close()
