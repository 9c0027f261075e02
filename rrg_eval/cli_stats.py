"""Command-line pieces of issue 15: ``score --save-run``, ``compare --runs/--adjust/--cluster-field``, ``gate``.

Self-contained functions that ``rrg_eval.cli`` wires in: each adds its flags to a parser or runs from parsed
arguments. Only :func:`run_gate` prints (its table), as the CLI does.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .errors import ConfigError

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
        from .clusters import read_cluster_values

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
    from .leaderboard.from_runs import compare_runs

    if args.systems:
        raise ConfigError("give either prediction files or --runs, not both")
    if args.sections or args.set_options or args.config or args.normalize:
        raise ConfigError("--sections, --set, --config and --normalize need prediction files; saved runs keep "
                          "the options they were scored with")
    return compare_runs(runs=named_paths(args.runs, "runs"), metrics=args.metrics, test=args.test,
                        resamples=args.resamples, ci_resamples=args.ci_resamples, seed=args.seed, alpha=args.alpha,
                        adjust=args.adjust, cluster_field=args.cluster_field, references=args.refs,
                        id_field=args.id_field)


# -- gate ------------------------------------------------------------------------------------------------------

def add_gate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="fail when a candidate run is significantly worse than a baseline run",
                       description="Regression gate for CI: a one-sided paired test of the candidate against the "
                                   "baseline on the selected keys, adjusted over the keys. Exit 0: no regression; "
                                   "1: a table of what regressed; 2: unusable input. See docs/ci.md.")
    p.add_argument("--baseline", required=True, metavar="BASE.run", help="saved run of the baseline")
    p.add_argument("--candidate", required=True, metavar="CAND.run", help="saved run of the candidate")
    p.add_argument("--metrics", help="comma-separated score keys or metric names (default: every key of both runs)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default: 0.05)")
    p.add_argument("--max-drop", action="append", default=[], metavar="KEY=VALUE",
                   help="tolerated drop of KEY in score units (fractions: 0.01 is one point); a significant drop "
                        "up to VALUE passes (repeatable)")
    p.add_argument("--test", default="bootstrap", choices=["bootstrap", "ar"], help="paired test (default: bootstrap)")
    p.add_argument("--resamples", type=int, metavar="N", help="resamples or trials (default: 1000 / 10000)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the resampling (default: 12345)")
    p.add_argument("--adjust", default="holm", choices=["holm", "bh", "none"],
                   help="adjustment over the selected keys (default: holm)")
    p.add_argument("--cluster-field", metavar="FIELD", help="resample whole clusters (saved in the runs, or read "
                                                             "from --refs)")
    p.add_argument("--refs", metavar="REFS", help="references file, for --cluster-field")
    p.add_argument("--format", default="table", choices=["table", "json"], help="output format (default: table)")


def parse_max_drop(specs: list[str]) -> dict[str, float]:
    out = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise ConfigError(f"--max-drop {spec}: expected KEY=VALUE with a number, e.g. bleu4=0.01")
    return out


def run_gate(args: argparse.Namespace) -> int:
    """Print the gate's table (or JSON) and return 0 (pass) or 1 (regression); errors exit 2 in ``main``."""
    import json

    from .regression_gate import gate

    report = gate(candidate=args.candidate, baseline=args.baseline, metrics=args.metrics, alpha=args.alpha,
                  max_drop=parse_max_drop(args.max_drop), test=args.test, resamples=args.resamples, seed=args.seed,
                  adjust=args.adjust, cluster_field=args.cluster_field, references=args.refs)
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(report.table())
    return 0 if report.ok else 1
