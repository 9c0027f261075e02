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
