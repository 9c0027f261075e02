"""Time ``json_overlap``'s JSON extraction: the former fence pattern against the linear reader, and throughput.

Usage: python benchmarks/bench_json_overlap.py [--n 5000]

1. Issue 11 #13: the former pattern ``^\\s*```[a-zA-Z]*\\s*\\n?(.*?)\\n?\\s*```\\s*$`` on "```" + k spaces + "x"
   (cubic: only small k are run) against ``extract_json`` on the same text up to 100,000 spaces.
2. ``n`` structured predictions as chat models write them (R2Gen2's schema, indented; a third fenced with prose
   around, a third with trailing commas): ``json.loads`` where it can read them, ``extract_json`` on all, and the
   whole metric (both conventions) against free-text references.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time

from rrg_eval.metrics.json_extract import extract_json
from rrg_eval.metrics.registry import load_metric

FORMER = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _prediction(rng: random.Random) -> str:
    findings = [{"clinical finding": rng.choice(["heart size", "pleural effusion", "opacity"]),
                 "existence": rng.choice(["pos_dx", "neg_dx"]), "observation": rng.choice(["normal", "effusion"])}
                for _ in range(rng.randint(1, 4))]
    body = json.dumps({"Sentences": [{"anatomical entity": rng.choice(["heart", "lungs"]),
                                      "location_descriptor": None, "procedure": [None],
                                      "clinical findings": findings}]}, indent=2)
    kind = rng.randrange(3)
    if kind == 1:
        return "Here are the labels:\n```json\n" + body + "\n```\nThey follow the schema."
    if kind == 2:
        return body.replace("\n      }", ",\n      }")  # trailing commas
    return body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    print("| spaces | former pattern (s) | extract_json (s) |")
    print("|---:|---:|---:|")
    for k in (250, 500, 1000, 4000, 100_000):
        text = "```" + " " * k + "x"
        former = f"{_timed(FORMER.match, text):.3f}" if k <= 1000 else "(not run)"
        start = time.perf_counter()
        try:
            extract_json(text)
        except json.JSONDecodeError:
            pass
        new = time.perf_counter() - start
        print(f"| {k:,} | {former} | {new:.4f} |")
    rng = random.Random(0)
    preds = [_prediction(rng) for _ in range(args.n)]
    refs = ["Heart size within normal limits. No pleural effusion."] * args.n
    loadable = [p for p in preds if p.lstrip().startswith("{")]

    def loads_all() -> None:
        for text in loadable:
            try:
                json.loads(text)
            except ValueError:
                pass

    def extract_all() -> None:
        for text in preds:
            extract_json(text)

    metric = load_metric("json_overlap", convention="rrg-eval,r2gen2")
    whole = _timed(lambda: metric.compute(predictions=preds, references=refs))
    print(f"\n{args.n} predictions: json.loads on the {len(loadable)} that start with '{{': "
          f"{_timed(loads_all):.3f} s; extract_json on all: {_timed(extract_all):.3f} s; "
          f"json_overlap (both conventions): {whole:.3f} s")


if __name__ == "__main__":
    main()
