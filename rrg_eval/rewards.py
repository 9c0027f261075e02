"""rrg-eval metrics as rewards for RL fine-tuning (TRL's GRPO, verl), shared and exactly specified.

``make_reward(metric, key=...)`` returns a function with TRL's reward signature::

    reward = rrg_eval.rewards.make_reward("radgraph", key="radgraph_partial")
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=ds)  # ds has a "reference" column

Each call scores the batch's completions against the ``reference`` column with the metric's own per-report
values, the numbers ``rrg_eval.score(...).per_report`` gives for the same pairs. Micro-averaged keys (e.g.
``f1chexbert_5_micro_f1``) have no per-report value of their own: per report they are the key computed on a
one-report corpus, which is what ``per_report`` documents for every metric.

* One :class:`Scorer` per process holds the metric instances (and so the loaded models): two rewards on the same
  metric and options share one model; references and completions go through the metric's de-duplication and
  annotation cache like any run.
* ``None`` is returned only for a report that could not be scored (a judge answer that did not parse); TRL turns
  it into NaN and ignores it. An empty completion scores what an empty prediction scores.
* ``make_reward({"radgraph_partial": 0.5, "f1chexbert_5_micro_f1": 0.5})`` is a weighted sum; each metric runs
  once per batch, and each component's batch mean is logged through TRL's ``log_metric`` when TRL passes it.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .metrics.base import Metric, RunContext

Transform = Callable[[float], float]


class Scorer:
    """Metric instances shared by every reward of a process: one model load per (metric, options)."""

    def __init__(self, cache_dir: str | Path | None = None, use_cache: bool = True) -> None:
        from .api import resolve_cache_dir

        self.cache_dir = resolve_cache_dir(cache_dir, use_cache)
        self._metrics: dict[tuple[str, tuple[tuple[str, Any], ...]], Metric] = {}
        self._lock = threading.Lock()

    def metric(self, name: str, options: Mapping[str, Any] | None = None) -> Metric:
        """The shared instance of metric ``name`` with ``options`` (built once, then reused)."""
        from .metrics.registry import metric_class

        key = (name, tuple(sorted((options or {}).items())))
        with self._lock:
            found = self._metrics.get(key)
            if found is None:
                found = metric_class(name)(**dict(options or {}))
                reason = found.unavailable_reason()
                if reason:
                    from .errors import MetricUnavailable

                    raise MetricUnavailable(f"{name} cannot run: {reason}")
                self._metrics[key] = found
            return found

    def per_report(self, name: str, options: Mapping[str, Any] | None, *, predictions: Sequence[str],
                   references: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
        """Per-report values of every key of metric ``name`` on aligned pairs, and the run's warnings."""
        metric = self.metric(name, options)
        context = RunContext(cache_dir=self.cache_dir)
        ids = [str(i) for i in range(len(predictions))]
        stats = metric.compute_stats(predictions=list(predictions), references=list(references), ids=ids,
                                     context=context)
        return metric.per_report(stats), list(context.warnings)

    def close(self) -> None:
        """Release every shared metric (models, subprocesses)."""
        with self._lock:
            for metric in self._metrics.values():
                metric.close()
            self._metrics.clear()


_default: Scorer | None = None
_default_lock = threading.Lock()


def default_scorer() -> Scorer:
    """The process-wide scorer that rewards use unless given one."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Scorer()
        return _default


def metric_of_key(key: str) -> str:
    """The registered metric that produces ``key`` (e.g. ``radgraph_partial`` -> ``radgraph``; a key that only
    some options produce too: ``bertscore_cxr_f1`` -> ``bertscore``, see :meth:`Metric.all_keys`)."""
    from .metrics.registry import key_source

    return key_source(key)[0]


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or a conversational completion (the last message's ``content``)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return str(completion.get("content") or "")
    if isinstance(completion, Sequence) and completion:
        messages = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"] or messages
        if assistant:
            content = assistant[-1].get("content")
            if isinstance(content, list):  # multimodal message parts
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
            return str(content or "")
    if isinstance(completion, Sequence):
        return ""
    raise ConfigError(f"cannot read a completion of type {type(completion).__name__}")


def _as_float(value: Any) -> float | None:
    v = float(value)
    return None if math.isnan(v) else v


class Reward:
    """A TRL-compatible reward function over one key or a weighted sum of keys (see :func:`make_reward`)."""

    def __init__(self, weights: Mapping[str, float], metrics: Mapping[str, str], options: Mapping[str, dict],
                 reference_column: str, transform: Transform | None, scorer: Scorer | None, name: str) -> None:
        self.weights = dict(weights)
        self.metrics = dict(metrics)     # key -> metric name
        self.options = dict(options)     # metric name -> options
        self.reference_column = reference_column
        self.transform = transform
        self._scorer = scorer
        self.__name__ = name
        self.warnings: list[str] = []

    @property
    def scorer(self) -> Scorer:
        return self._scorer or default_scorer()

    def score(self, completions: Sequence[Any], references: Sequence[str]) -> tuple[list[float | None],
                                                                                     dict[str, list]]:
        """Rewards and the per-key values behind them, for aligned completions and references."""
        if len(completions) != len(references):
            raise ConfigError(f"{self.__name__}: {len(completions)} completions but {len(references)} references")
        texts = [completion_text(c) for c in completions]
        refs = [str(r) for r in references]
        per_key: dict[str, list] = {}
        for name in dict.fromkeys(self.metrics.values()):
            values, warnings = self.scorer.per_report(name, self.options.get(name), predictions=texts,
                                                      references=refs)
            self.warnings.extend(warnings)
            for key, metric_name in self.metrics.items():
                if metric_name == name:
                    per_key[key] = [_as_float(v) for v in values[key]]
        rewards: list[float | None] = []
        for i in range(len(texts)):
            parts = [per_key[k][i] for k in self.weights]
            if any(p is None for p in parts):
                rewards.append(None)
                continue
            total = sum(w * p for w, p in zip(self.weights.values(), parts))  # type: ignore[misc]
            rewards.append(self.transform(total) if self.transform else total)
        return rewards, per_key

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None,
                 **kwargs: Any) -> list[float | None]:
        if completions is None:
            raise ConfigError(f"{self.__name__}: called without completions=")
        if self.reference_column not in kwargs:
            raise ConfigError(f"{self.__name__}: no {self.reference_column!r} column in the batch; give the "
                              "dataset that column or pass reference_column= to make_reward")
        rewards, per_key = self.score(completions, kwargs[self.reference_column])
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and len(self.weights) > 1:
            for key, values in per_key.items():
                scored = [v for v in values if v is not None]
                if scored:
                    log_metric(f"rrg_eval/{key}", sum(scored) / len(scored))
        return rewards


class AsyncReward(Reward):
    """The same reward as an ``async`` function (TRL runs async rewards concurrently with the others)."""

    async def __call__(self, prompts: Sequence[Any] | None = None,  # type: ignore[override]
                       completions: Sequence[Any] | None = None, **kwargs: Any) -> list[float | None]:
        call = super().__call__
        return await asyncio.to_thread(call, prompts, completions, **kwargs)


def _resolve(metric: str | Mapping[str, float], key: str | None
             ) -> tuple[dict[str, float], dict[str, str], dict[str, dict[str, Any]]]:
    """(weights by key, metric by key, the options each metric needs for its keys, e.g. ``preset="cxr"``)."""
    from .metrics.registry import key_source, metric_class, names, options_note

    if isinstance(metric, Mapping):
        if key is not None:
            raise ConfigError("make_reward: give key= only with a metric name, not with a weighted dict")
        if not metric:
            raise ConfigError("make_reward: the weighted dict is empty")
        weights = {str(k): float(w) for k, w in metric.items()}
        sources = {k: key_source(k) for k in weights}
    elif metric not in names():
        # a key given as the metric (make_reward("radgraph_partial")) is accepted too
        weights, sources = {metric: 1.0}, {metric: key_source(metric)}
    else:
        cls = metric_class(metric)
        keys = cls.all_keys()
        chosen = key if key is not None else keys[0]
        if chosen not in keys:
            listed = ", ".join(k + options_note(cls.options_for_key(k)) for k in keys)
            raise ConfigError(f"make_reward: {metric} has no key {chosen!r}; its keys: {listed}")
        weights, sources = {chosen: 1.0}, {chosen: (metric, cls.options_for_key(chosen))}
    needed: dict[str, dict[str, Any]] = {}
    for k, (name, options) in sources.items():
        for option, value in options.items():
            have = needed.setdefault(name, {})
            if option in have and have[option] != value:
                others = [o for o, (n, opts) in sources.items() if n == name and opts.get(option) != value]
                raise ConfigError(f"make_reward: {k} needs {name}.{option}={value!r} but {', '.join(others)} "
                                  f"needs another {option}; one reward runs each metric with one set of options")
            have[option] = value
    return weights, {k: name for k, (name, _) in sources.items()}, needed


def _with_key_options(name: str, user: dict[str, Any], needed: Mapping[str, Any]) -> dict[str, Any]:
    """The user's options of metric ``name`` plus those its keys need; a conflicting user option is an error."""
    for option, value in needed.items():
        if option in user and user[option] != value:
            raise ConfigError(f"make_reward: {name}.{option}={user[option]!r} conflicts with the key, which needs "
                              f"{option}={value!r}")
    return {**user, **needed}


def make_reward(metric: str | Mapping[str, float], key: str | None = None, *, reference_column: str = "reference",
                transform: Transform | None = None, scorer: Scorer | None = None, asynchronous: bool = False,
                **options: Any) -> Reward:
    """A reward function with TRL's signature (``prompts=``, ``completions=``, dataset columns as keywords).

    ``metric``: a metric name with ``key=`` (default: its first key), or ``{key: weight}`` for a weighted sum.
    ``options``: the metric's options (``make_reward("radgraph", key="radgraph_partial", model_type="radgraph")``)
    or, for a weighted sum, ``{metric_name: {option: value}}``. ``transform`` maps each reward (e.g. to [-1, 1]).
    ``asynchronous=True`` returns an ``async`` function. Returns ``list[float | None]``.
    """
    weights, metrics, needed = _resolve(metric, key)
    names_used = set(metrics.values())
    if isinstance(metric, Mapping):
        per_metric = {k: dict(v) for k, v in options.items()}
        unknown = set(per_metric) - names_used
        if unknown:
            raise ConfigError(f"make_reward: options for metrics not in the reward: {', '.join(sorted(unknown))}")
    else:
        per_metric = {next(iter(names_used)): dict(options)}
    for metric_name, opts in needed.items():  # e.g. bertscore_cxr_f1: bertscore with preset="cxr"
        per_metric[metric_name] = _with_key_options(metric_name, per_metric.get(metric_name, {}), opts)
    label = "+".join(weights) if len(weights) > 1 else next(iter(weights))
    name = f"rrg_eval_{label}" if len(weights) > 1 else f"rrg_eval_{metrics[label]}_{label}"
    cls = AsyncReward if asynchronous else Reward
    reward = cls(weights, metrics, per_metric, reference_column, transform, scorer, name)
    for metric_name, opts in per_metric.items():  # build now: bad options fail here, not mid-training
        built = reward.scorer.metric(metric_name, opts)
        missing = [k for k, m in metrics.items() if m == metric_name and k not in built.keys]
        if missing:  # e.g. key="bertscore_f1" with preset="cxr" (given, or needed by a bertscore_cxr_* key)
            given = ", ".join(f"{k}={v!r}" for k, v in opts.items())
            raise ConfigError(f"make_reward: {metric_name} with {given or 'its default options'} does not produce "
                              f"{', '.join(missing)}; it produces {', '.join(built.keys)} (one reward runs each "
                              "metric with one set of options)")
    return reward


def make_verl_score(metric: str | Mapping[str, float], key: str | None = None, *,
                    transform: Transform | None = None, **options: Any) -> Callable[..., float]:
    """A verl ``compute_score(data_source, solution_str, ground_truth, extra_info=None)`` for this reward.

    In a verl config: ``custom_reward_function.path`` = a file with ``compute_score = make_verl_score(...)``,
    ``custom_reward_function.name`` = ``compute_score``. Returns a float; a report that cannot be scored gives
    0.0 with the reason kept in ``compute_score.unscored`` (verl needs a number).
    """
    reward = make_reward(metric, key, transform=transform, **options)

    def compute_score(data_source: Any, solution_str: str, ground_truth: str, extra_info: Any = None) -> float:
        value = reward.score([solution_str], [ground_truth])[0][0]
        if value is None:
            compute_score.unscored += 1  # type: ignore[attr-defined]
            return 0.0
        return value

    compute_score.unscored = 0  # type: ignore[attr-defined]
    compute_score.__name__ = reward.__name__
    return compute_score
