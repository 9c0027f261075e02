"""Saved-run flags shared by the commands: ``score --save-run/--with-text/--cluster-field`` and ``compare --runs
/--adjust/--cluster-field``. Self-contained functions that :mod:`.score` and :mod:`.compare` call."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError

# -- score --save-run ------------------------------------------------------------------------------------------

def add_save_run_arguments(p: argparse.ArgumentParser) -> None:
    """``--save-run RUN``, ``--with-text``, ``--cluster-field FIELD`` on ``score``."""
    p.add_argument("--save-run", metavar="RUN", help="also save the run (ids, per-report statistics, signatures, "
                                                     "options, versions) for compare --runs and gate")
    p.add_argument("--with-text", action="store_true", help="--save-run: include the report texts")
    p.add_argument("--cluster-field", metavar="FIELD",
                   help="--save-run: record this field of the references (e.g. patient_id) as the clusters")


def check_save_run_args(args: argparse.Namespace) -> None:
    """Usage errors of the run flags, before anything is computed."""
    if args.with_text and not args.save_run:
        raise ConfigError("--with-text needs --save-run RUN")
    if args.cluster_field and not args.save_run:
        raise ConfigError("--cluster-field on score needs --save-run RUN (it records the clusters in the run)")


def save_run_from_args(args: argparse.Namespace, result: Any) -> None:
    """Write the run when ``--save-run`` was given (clusters from the references file when asked)."""
    check_save_run_args(args)
    if not args.save_run:
        return
    if args.cluster_field:
        from ..clusters import read_cluster_values

        values = read_cluster_values(args.references, args.cluster_field, id_field=args.id_field)
        missing = [i for i in result.ids if i not in values]
        if missing:
            raise ConfigError(f"--cluster-field {args.cluster_field}: {len(missing)} id(s) have no value")
        result.clusters = {"field": args.cluster_field, "values": [values[i] for i in result.ids]}
    result.save(args.save_run, with_text=args.with_text)


# -- compare --runs --------------------------------------------------------------------------------------------

def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    """``--runs``, ``--adjust`` and ``--cluster-field`` on ``compare``."""
    p.add_argument("--runs", nargs="+", metavar="RUN",
                   help="build the leaderboard from saved runs (score --save-run) instead of prediction files; "
                        "NAME=PATH or PATH (named by its stem); the first is the baseline")
    p.add_argument("--adjust", default="holm", choices=["holm", "bh", "none"],
                   help="multiple-comparison adjustment of the p-values over every (system, key) test "
                        "(default: holm); the marks use the adjusted p-values")
    p.add_argument("--cluster-field", metavar="FIELD",
                   help="resample whole clusters (e.g. patient_id) read from this field of the references")


def named_paths(specs: list[str], what: str) -> dict[str, str]:
    """``NAME=PATH`` or ``PATH`` (named by its stem) -> ``{name: path}``; a repeated name is an error."""
    from pathlib import Path

    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or Path(spec).exists():
            name, path = Path(spec).stem, spec
        if name in out:
            raise ConfigError(f'two {what} are named "{name}"; name them explicitly with NAME=PATH')
        out[name] = path
    return out


def compare_from_runs(args: argparse.Namespace) -> Any:
    """The leaderboard of ``compare --runs``; texts-only flags are refused."""
    from ..leaderboard.from_runs import compare_runs

    if args.systems:
        raise ConfigError("give either prediction files or --runs, not both")
    if args.sections or args.set_options or args.config or args.normalize:
        raise ConfigError("--sections, --set, --config and --normalize need prediction files; saved runs keep "
                          "the options they were scored with")
    return compare_runs(runs=named_paths(args.runs, "runs"), metrics=args.metrics, test=args.test,
                        resamples=args.resamples, ci_resamples=args.ci_resamples, seed=args.seed, alpha=args.alpha,
                        adjust=args.adjust, cluster_field=args.cluster_field, references=args.refs,
                        id_field=args.id_field)
