"""A small fixed leaderboard (numbers made up, not computed) for exact-output tests of the renderers."""

from __future__ import annotations

from rrg_eval.leaderboard import Leaderboard, SystemScores
from rrg_eval.result import KeyInfo

TEST = {"name": "bootstrap", "description": "paired bootstrap", "resamples": 1000, "ci_resamples": 1000,
        "confidence": 0.95, "seed": 12345, "alpha": 0.05, "p_value": "(c+1)/(n+1)"}


def fixed_leaderboard() -> Leaderboard:
    keys = ["bleu4", "cider", "err_rate"]
    info = {"bleu4": KeyInfo("bleu", "fraction", True), "cider": KeyInfo("cider", "score", True),
            "err_rate": KeyInfo("errs", "rate", False)}
    base = SystemScores(name="base_line", source="base.jsonl",
                        scores={"bleu4": 0.1, "cider": 0.25, "err_rate": 0.2},
                        ci={"bleu4": (0.09, 0.11), "cider": (0.2, 0.3), "err_rate": (0.15, 0.25)},
                        ranks={"bleu4": 2, "cider": 3, "err_rate": 3}, mean_rank=8 / 3)
    better = SystemScores(name="better", source="better.jsonl",
                          scores={"bleu4": 0.123456, "cider": 0.5, "err_rate": 0.1},
                          ci={"bleu4": (0.11, 0.135), "cider": (0.45, 0.55), "err_rate": (0.05, 0.15)},
                          ranks={"bleu4": 1, "cider": 1, "err_rate": 1}, mean_rank=1.0,
                          p_values={"bleu4": 0.000999000999000999, "cider": 0.001998001998001998,
                                    "err_rate": 0.01998001998001998},
                          delta_ci={"bleu4": (0.01, 0.03), "cider": (0.2, 0.3), "err_rate": (-0.15, -0.05)})
    worse = SystemScores(name="worse", source="worse.jsonl",
                         scores={"bleu4": 0.05, "cider": 0.3, "err_rate": 0.15},
                         ci={"bleu4": (0.04, 0.06), "cider": (0.25, 0.35), "err_rate": (0.1, 0.2)},
                         ranks={"bleu4": 3, "cider": 2, "err_rate": 2}, mean_rank=7 / 3,
                         p_values={"bleu4": 0.000999000999000999, "cider": 0.5, "err_rate": 0.2},
                         delta_ci={"bleu4": (-0.06, -0.04), "cider": (-0.02, 0.12), "err_rate": (-0.1, 0.01)})
    return Leaderboard(baseline="base_line", systems=[base, better, worse], keys=keys, key_info=info, test=TEST,
                       signatures={"bleu": "bleu|norm:none|refs:abc|v:0.1.0|bs:1000|seed:12345",
                                   "cider": "cider|sigma:6.0|refs:abc|v:0.1.0|bs:1000|seed:12345",
                                   "errs": "errs|refs:abc|v:0.1.0|bs:1000|seed:12345"},
                       n=50, warnings=["worse: errs: 2 empty prediction(s)"])


def wide_leaderboard() -> Leaderboard:
    """Nine keys, four systems, marks in both directions: about 200 characters wide as one table.

    ``better`` is significantly better than the baseline on every key but ``cider``, ``worse`` significantly
    worse on ``bleu1``, ``rougeL`` and the lower-is-better ``err_rate`` (higher there), ``mixed`` neither.
    """
    keys = ["bleu1", "bleu2", "bleu3", "bleu4", "rouge1", "rouge2", "rougeL", "cider", "err_rate"]
    info = {k: KeyInfo("bleu" if k.startswith("bleu") else "rouge" if k.startswith("rouge") else k,
                       "score" if k == "cider" else "fraction", k != "err_rate") for k in keys}
    info["err_rate"] = KeyInfo("errs", "rate", False)

    def system(name: str, base: float, *, p: float | None, p_override: dict[str, float] | None = None,
               rank: int) -> SystemScores:
        scores = {k: base + 0.01 * i for i, k in enumerate(keys)}
        scores["cider"] = base * 3
        scores["err_rate"] = 0.5 - base
        ci = {k: (v - 0.02, v + 0.02) for k, v in scores.items()}
        p_values = None if p is None else {**{k: p for k in keys}, **(p_override or {})}
        return SystemScores(name=name, source=f"{name}.jsonl", scores=scores, ci=ci,
                            ranks={k: rank for k in keys}, mean_rank=float(rank), p_values=p_values)

    systems = [system("baseline_model", 0.3, p=None, rank=2),
               system("better", 0.4, p=0.001, p_override={"cider": 0.2}, rank=1),
               system("worse", 0.2, p=0.5, p_override={"bleu1": 0.004, "rougeL": 0.01, "err_rate": 0.002},
                      rank=4),
               system("mixed", 0.29, p=0.6, rank=3)]
    return Leaderboard(baseline="baseline_model", systems=systems, keys=keys, key_info=info, test=TEST,
                       signatures={"bleu": "bleu|norm:none|refs:abc|v:0.1.0|bs:1000|seed:12345",
                                   "rouge": "rouge|stem:yes|split:no|norm:none|refs:abc|v:0.1.0|rouge-score:0.1.2|"
                                            "bs:1000|seed:12345",
                                   "cider": "cider|sigma:6.0|refs:abc|v:0.1.0|bs:1000|seed:12345",
                                   "errs": "errs|refs:abc|v:0.1.0|bs:1000|seed:12345"},
                       n=382, warnings=["worse: errs: 2 empty prediction(s), scored as the reference implementation "
                                        "does; they count as reports without findings"])
