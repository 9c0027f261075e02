"""SembScore through the official f1chexbert 0.0.2 package's model class, in its venv (.venv-official-chexbert).

Usage: python official_sembscore_runner.py IN.json OUT.json, with IN.json = {"hyps": [...], "refs": [...]}; run
with the environment and working folder of ``rrg_eval.synthetic_weights.chexbert.official_layout``. Each text is
tokenised by the package's own ``tokenize`` (one report at a time, as its ``get_label`` does), run through the
loaded labeler's encoder (``model.model.bert``, eval mode) and its last-layer [CLS] vector kept, as CheXbert's
``encode.py`` does for CXR-Report-Metric; the cosine is CXR-Report-Metric's ``add_semb_col`` formula in float32
numpy. Writes {"sembscore": [...]} to OUT.json. Never imported by rrg_eval.
"""

import json
import sys

import numpy as np
import pandas as pd
import torch
from f1chexbert import F1CheXbert
from f1chexbert import f1chexbert as pkg

data = json.load(open(sys.argv[1], encoding="utf-8"))
model = F1CheXbert(device="cpu")


def cls_vector(text):
    out = pkg.tokenize(pd.Series([text]), model.tokenizer)
    batch = torch.LongTensor([o for o in out])
    mask = pkg.generate_attention_masks(batch, [b.shape[0] for b in batch], model.device)
    with torch.no_grad():
        return model.model.bert(batch.to(model.device), attention_mask=mask)[0][:, 0, :].squeeze(0).numpy()


scores = []
for hyp, ref in zip(data["hyps"], data["refs"]):
    label, pred = cls_vector(ref), cls_vector(hyp)
    scores.append(float((label * pred).sum() / (np.linalg.norm(label) * np.linalg.norm(pred))))
json.dump({"sembscore": scores}, open(sys.argv[2], "w", encoding="utf-8"))
