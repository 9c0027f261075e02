"""RadCliQ-v0 and RadCliQ-v1 (Yu et al. 2023, rajpurkarlab/CXR-Report-Metric), and ReXrank's 1/RadCliQ-v1.

Per report, the features x = [radgraph_combined, bertscore (CXR preset F1), sembscore, bleu2_cxr] (the column
order of ``run_eval.COLS``) are standardised, z = (x - mean) / scale (scikit-learn ``StandardScaler.transform``),
and combined linearly:

* RadCliQ-v1 = [z, 1] @ coefs (``radcliq-v1.pkl``: a ``CompositeMetric`` holding a scaler and five coefficients,
  the last the intercept);
* RadCliQ-v0 = z @ coef_ + intercept_ (``normalizer.pkl``, a ``StandardScaler``; ``composite_metric_model.pkl``,
  a ``LinearRegression``).

Lower is better (RadCliQ estimates the number of errors a radiologist would find). The corpus values are means
over reports; ``radcliq_v1_inverse`` = 1 / mean(RadCliQ-v1), the number ReXrank ranks by, has no value (and a
warning) when that mean is not positive, where its ordering would be inverted.

Constants: read from the pickles of rajpurkarlab/CXR-Report-Metric at commit
9c9ecad39be6cb2be8e75be1d1c50ef8888a3e40 (``CXRMetric/radcliq-v1.pkl``, last changed in 8495627c, sha256
ddc38dc9bd93993509aa41416dac11daf2bb74f498508109d2c806ac1de931ae; ``CXRMetric/normalizer.pkl``, sha256
84a7179cbf3845c1640d3af3685aa2bdb26c73d68e59e9e66c7e93f655483cc5 and ``CXRMetric/composite_metric_model.pkl``,
sha256 18c3c345203db68ca408016fb51a0b2a8112070705b1c59873fef822430252e2, both last changed in 9f56a9dc;
pickled by scikit-learn 1.1.1). They were extracted outside this project with a restricted unpickler that
allowed only numpy's array and scalar constructors and turned every other class into an inert record, and
cross-checked with ``python -m pickletools``; the float64 values are written below with ``repr`` (exact). Nothing
is unpickled at run time. RadEval (``radeval/metrics/RadCliQv1/radcliq.py``) hard-codes the v1 values rounded to
8-9 significant digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..option_spec import option, torch_device
from ..stats import Stats
from .base import RunContext
from .composite import Component, CompositeMetric

FEATURES = ("radgraph_combined", "bertscore", "semb_score", "bleu_score")  # run_eval.COLS

# radcliq-v1.pkl: CompositeMetric.scaler (StandardScaler, n_samples_seen_ 160) and CompositeMetric.coefs
V1_MEAN = np.array([0.5379231241355762, 0.6175725628125001, 0.7647942121140658, 0.44738335396242174])
V1_SCALE = np.array([0.3028258411486429, 0.22430938459304575, 0.2539439110169773, 0.2989271671041838])
V1_COEFS = np.array([-0.37708368261038905, -0.37030009974480316, -0.25261621789593225, 4.315048405024756e-12,
                     2.466552561323256e-10])
# normalizer.pkl (StandardScaler, n_samples_seen_ 200) and composite_metric_model.pkl (LinearRegression)
V0_MEAN = np.array([0.5398376019082272, 0.6312549595000001, 0.7716797866672277, 0.4607372064809605])
V0_SCALE = np.array([0.3018344440559102, 0.22466950746141123, 0.24750333805236252, 0.30336670936092264])
V0_COEF = np.array([-0.4796252644863446, -0.6762170542369337, -0.46366575161751994, 0.2165861905287535])
V0_INTERCEPT = 1.641666666666666

PROVENANCE = "rajpurkarlab/CXR-Report-Metric@9c9ecad3"


def radcliq_v1(features: np.ndarray) -> np.ndarray:
    """RadCliQ-v1 of each row of an (n, 4) feature matrix, as ``CompositeMetric.predict`` computes it."""
    z = (np.asarray(features, dtype=float) - V1_MEAN) / V1_SCALE
    return np.concatenate([z, np.ones((z.shape[0], 1))], axis=1) @ V1_COEFS


def radcliq_v0(features: np.ndarray) -> np.ndarray:
    """RadCliQ-v0 of each row: ``composite_metric_model.predict(normalizer.transform(features))``."""
    z = (np.asarray(features, dtype=float) - V0_MEAN) / V0_SCALE
    return z @ V0_COEF + V0_INTERCEPT


@dataclass(frozen=True)
class RadCliQConfig:
    """Options of ``radcliq`` (passed to its components)."""

    idf: bool = option(False, help="BERTScore feature with IDF weights (CXR-Report-Metric's USE_IDF; ReXrank: "
                       "off, RadEval: on)")
    idf_corpus: str | None = option(None, in_signature=False, help="with idf: the BERTScore feature's idf corpus "
                                    "(a file of texts; default: the run's references); its digest is in the "
                                    "signature")
    device: str = option("auto", in_signature=False, help="torch device of the model components", check=torch_device)


class RadCliQ(CompositeMetric):
    """RadCliQ-v0/v1 from radgraph_combined, the BERTScore CXR preset, sembscore and bleu2_cxr."""

    name = "radcliq"
    Config = RadCliQConfig
    description = ("RadCliQ-v1 and -v0: linear composite of RadGraph-combined, BERTScore, SembScore and BLEU-2 "
                   "(estimated radiologist error count, lower is better); 1/mean RadCliQ-v1 as ReXrank ranks")
    reference = ("CXR-Report-Metric run_eval.calc_metric: radcliq-v1.pkl CompositeMetric.predict, "
                 "composite_metric_model.pkl.predict(normalizer.pkl.transform(x))")
    keys = ("radcliq_v1", "radcliq_v1_inverse", "radcliq_v0")
    key_kinds = {"radcliq_v1": "score", "radcliq_v1_inverse": "score", "radcliq_v0": "score"}
    lower_is_better = frozenset({"radcliq_v1", "radcliq_v0"})
    extra = "models"
    signature_fixed = (f"consts:{PROVENANCE}",)

    def components(self) -> list[Component]:
        device = self.config.device
        return [
            Component("radgraph_combined", "radgraph_combined", {"model_type": "radgraph", "device": device}),
            Component("bertscore", "bertscore_cxr_f1", {"preset": "cxr", "idf": self.config.idf, "device": device,
                                                        "idf_corpus": self.config.idf_corpus}),
            Component("sembscore", "sembscore", {"device": device}),
            Component("bleu2_cxr", "bleu2_cxr"),
        ]

    def combine(self, features: np.ndarray, context: RunContext) -> Stats:
        if len(features) and not radcliq_v1(features).mean() > 0:
            context.warn(self.name, "mean RadCliQ-v1 is not positive: radcliq_v1_inverse (1/mean, ReXrank's "
                         "ranking score) has no value, its ordering would be inverted")
        return {"radcliq_features": features}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        features = stats["radcliq_features"]
        return {"radcliq_v1": radcliq_v1(features), "radcliq_v0": radcliq_v0(features)}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        values = self.per_report(stats)
        if not len(values["radcliq_v1"]):
            return {}
        v1 = float(values["radcliq_v1"].mean())
        out = {"radcliq_v1": v1}
        if v1 > 0:
            out["radcliq_v1_inverse"] = 1.0 / v1
        out["radcliq_v0"] = float(values["radcliq_v0"].mean())
        return out
