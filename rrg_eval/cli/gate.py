"""``rrg-eval gate``: fail a CI job when a candidate run is significantly worse than the baseline run
(``rrg_eval.gate``); exit 0 pass, 1 regression (the table), 2 unusable input (from ``main``)."""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError

# -- gate ------------------------------------------------------------------------------------------------------

def add_parser(sub: argparse._SubParsersAction) -> None:
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


def run(args: argparse.Namespace) -> int:
    """Print the gate's table (or JSON) and return 0 (pass) or 1 (regression); errors exit 2 in ``main``."""
    import json

    from ..regression_gate import gate

    report = gate(candidate=args.candidate, baseline=args.baseline, metrics=args.metrics, alpha=args.alpha,
                  max_drop=parse_max_drop(args.max_drop), test=args.test, resamples=args.resamples, seed=args.seed,
                  adjust=args.adjust, cluster_field=args.cluster_field, references=args.refs)
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(report.table())
    return 0 if report.ok else 1
