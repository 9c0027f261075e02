"""Memory of one long report in ``radgraph``: a 3,000-word report scores under a 4 GiB address-space limit.

Before span and span-pair scoring were blocked (``rrg_eval.backends.radgraph_model.BLOCK_BYTES``), the relation
scorer built every pair of kept spans at once: ``k x k x 3 * span_dim`` floats with ``k = ceil(n_words / 2)``,
about 3 GB on the tiny synthetic archive below and 20.3 GB with the released archives (issue 11, item 23). The
report is scored in a subprocess whose ``RLIMIT_AS`` is 4 GiB, so an allocation of that size fails there.

That blocking changes no graph is checked in ``test_radgraph.py`` (one span, one pair row per block against the
default) and against the official package in ``test_radgraph_parity.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from rrg_eval.synthetic_weights import radgraph as synth  # noqa: E402

LIMIT = 4 * 2**30
SENTENCES = ("The cardiomediastinal silhouette is within normal limits for size and contour.",
             "There is a small left pleural effusion with adjacent atelectasis at the base.",
             "No pneumothorax, focal consolidation or pulmonary edema is seen.",
             "Degenerative changes of the thoracic spine are again noted, unchanged from 2019.",
             "Stable 5 mm nodule in the right upper lobe; follow-up CT is recommended.")

CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
import torch
torch.set_num_threads(1)
from rrg_eval.metrics.registry import load_metric

job = json.loads(open(sys.argv[2], encoding="utf-8").read())
metric = load_metric("radgraph", model_type="radgraph-xl", device="cpu", batch_size=1)
result = metric.compute(predictions=[job["long"], "Heart size normal."],
                        references=["No acute disease.", job["long"]], cache_dir=job["cache"])
graph = metric.annotate([job["long"]], cache_dir=job["cache"])[0]
print(json.dumps({"scores": result.scores, "entities": len(graph["entities"]), "windows": graph["windows"],
                  "last_end": max(int(e["end_ix"]) for e in graph["entities"].values()),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def long_report(n_words: int = 3000) -> str:
    """A report of ``n_words`` whitespace-separated words (about 3,600 model words after punctuation splits)."""
    words: list[str] = []
    i = 0
    while len(words) < n_words:
        words += SENTENCES[i % len(SENTENCES)].split()
        i += 1
    return " ".join(words[:n_words])


@pytest.mark.slow
def test_3000_word_report_under_4_gib(tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    synth.synthesize(model_dir, "tiny", seed=0, model_types=("radgraph-xl",))
    text = long_report()
    assert len(text.split()) == 3000
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"long": text, "cache": str(tmp_path / "cache")}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(RRG_EVAL_MODEL_DIR=str(model_dir), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(LIMIT), str(job)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["windows"] >= 2
    assert out["entities"] > 100 and out["last_end"] > 3000  # entities to the end of the report
    assert 0 < out["scores"]["radgraph_simple"] < 1
