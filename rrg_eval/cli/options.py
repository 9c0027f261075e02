"""The one definition of the metric options that ``score`` and ``compare`` share, and their reading.

``--metrics --set --config --normalize --device --batch-size --cache-dir --no-cache --strict``, the input
fields ``--id-field --text-field``, and the LLM-judge options ``--dry-run --allow-remote-judge
--chexprompt-prompt``. :func:`api_options` turns them into the keyword arguments of ``rrg_eval.score`` and
``rrg_eval.compare``, so both commands apply them identically.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..render import NORMALIZE_CHOICES


def add_metric_options(p: argparse.ArgumentParser) -> None:
    """Metric selection, options, inputs' field names, cache and the judge options."""
    p.add_argument("--metrics", help="comma-separated metric names (default: every metric that can run here)")
    p.add_argument("--id-field", default="id", help="name of the id field (default: id)")
    p.add_argument("--text-field", default="report", help="name of the text field (default: report)")
    p.add_argument("--set", dest="set_options", action="append", default=[], metavar="METRIC.FIELD=VALUE",
                   help="override a metric option, e.g. --set rouge.use_stemmer=false (repeatable)")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML file of {metric: {field: value}} options")
    p.add_argument("--normalize", choices=list(NORMALIZE_CHOICES),
                   help="text normalisation for the lexical metrics (default: none)")
    p.add_argument("--device", help="device for model metrics: auto (default), cpu, cuda, cuda:1")
    p.add_argument("--batch-size", type=int, metavar="N", help="batch size for model metrics")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR", help="annotation cache folder (default: ~/.cache/rrg-eval)")
    cache.add_argument("--no-cache", action="store_true", help="do not read or write the annotation cache")
    p.add_argument("--strict", action="store_true", help="a metric that cannot run here is an error")
    add_judge_options(p)
    add_engine_options(p)


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """Where the per-report statistics are computed: here, or on a Ray actor pool (docs/scale.md)."""
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (default) or ray: per-report statistics on a Ray Data actor pool, same numbers "
                        "(pip install 'rrg-eval[ray]')")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --engine ray: a running cluster (default: start one on 127.0.0.1, stopped at the end)")
    p.add_argument("--workers", type=int, metavar="N", help="with --engine ray: actors in the pool (default: 2)")


def add_judge_options(p: argparse.ArgumentParser) -> None:
    """Flags of the LLM-judge metrics."""
    p.add_argument("--dry-run", action="store_true",
                   help="LLM judges: print the requests, estimated tokens and cost that would be sent, send nothing")
    p.add_argument("--chexprompt-prompt", choices=["rrg-eval", "official"],
                   help="shortcut for --set chexprompt.prompt=...")
    p.add_argument("--allow-remote-judge", action="store_true",
                   help="allow LLM judges to send report text to non-private hosts (as RRG_EVAL_ALLOW_REMOTE_JUDGE=1)")


def api_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments ``rrg_eval.score`` and ``rrg_eval.compare`` both take, from the shared flags.

    Per-metric options (``--set``, the judge shortcuts, an explicit ``--set`` winning) become ``{metric:
    {field: value}}``; ``--normalize``, ``--device`` and ``--batch-size`` become global options.
    """
    from ..option_sources import parse_set_flags

    config: dict[str, Any] = dict(parse_set_flags(args.set_options))
    if args.chexprompt_prompt:
        config.setdefault("chexprompt", {}).setdefault("prompt", args.chexprompt_prompt)
    if args.allow_remote_judge:
        for judge in ("chexprompt", "green", "crimson"):
            config.setdefault(judge, {}).setdefault("allow_remote", "true")
    if args.normalize:
        config["normalize"] = args.normalize
    if args.device:
        config["device"] = args.device
    if args.batch_size is not None:
        config["batch_size"] = args.batch_size
    config.update(engine_option(args))
    return {"metrics": args.metrics, "cache_dir": args.cache_dir, "use_cache": not args.no_cache,
            "id_field": args.id_field, "text_field": args.text_field, "config_file": args.config, **config}


def engine_option(args: argparse.Namespace) -> dict[str, Any]:
    """``{"engine": RayEngine(...)}`` for ``--engine ray``, else nothing (the local path)."""
    from ..errors import ConfigError

    if args.engine != "ray" or args.dry_run:  # a dry run sends and computes nothing: no cluster
        if args.engine != "ray" and ( args.ray_address is not None or args.workers is not None):
            raise ConfigError("--ray-address and --workers need --engine ray")
        return {}
    from ..distributed import RayEngine

    return {"engine": RayEngine(address=args.ray_address, workers=2 if args.workers is None else args.workers)}


def dry_run_note(explicit: bool) -> str:
    """What a dry run prints when no judge would send anything."""
    if not explicit:
        return ("dry run: the default metric set sends nothing (LLM judges run only when named, e.g. "
                "--metrics chexprompt)\n")
    return "dry run: no LLM-judge metric selected; nothing would be sent (name one, e.g. --metrics chexprompt)\n"
