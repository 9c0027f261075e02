"""The result of scoring one system: scores, signatures, per-report values, warnings and what did not run."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .metrics.base import KeyKind
from .stats import Stats

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class KeyInfo:
    """How a score key is read: which metric made it, its kind, and its direction."""

    metric: str
    kind: KeyKind
    higher_is_better: bool


@dataclass
class Result:
    """Scores of one system against references, aligned by id."""

    n: int
    ids: list[str]
    scores: dict[str, float]
    signatures: dict[str, str]
    key_info: dict[str, KeyInfo]
    per_report_values: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Stats] = field(default_factory=dict, repr=False)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    ci_settings: dict[str, Any] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    references_digest: str | None = None
    clusters: dict[str, Any] | None = field(default=None, repr=False)
    texts: dict[str, list[str]] | None = field(default=None, repr=False)
    versions: dict[str, str] = field(default_factory=dict, repr=False)
    suite: dict[str, Any] | None = None  # name, version and columns when scored as a suite (rrg_eval.suites)

    @property
    def per_report(self) -> pd.DataFrame:
        """Per-report scores as a pandas DataFrame indexed by id (one column per per-report key)."""
        import pandas as pd

        frame = pd.DataFrame({k: np.asarray(v) for k, v in self.per_report_values.items()},
                             index=pd.Index(self.ids, name="id"))
        return frame

    def per_report_records(self) -> list[dict[str, Any]]:
        """One dict per id with every per-report score (NaN becomes None)."""
        columns = list(self.per_report_values.items())
        records = []
        for row, rid in enumerate(self.ids):
            record: dict[str, Any] = {"id": rid}
            for key, values in columns:
                value = values[row]
                value = value.item() if isinstance(value, np.generic) else value
                if isinstance(value, float) and math.isnan(value):
                    value = None
                record[key] = value
            records.append(record)
        return records

    def to_dict(self) -> dict[str, Any]:
        """``{"n", "rrg_eval_version", "scores", "signatures", "warnings", "unavailable", "errors"[, "suite"]}``
        with full precision.

        With intervals (``score(..., ci=0.95)``) also ``"ci": {key: [low, high]}`` and ``"ci_settings"``.
        """
        from .version import __version__

        out: dict[str, Any] = {"n": self.n, "rrg_eval_version": __version__, "scores": dict(self.scores)}
        if self.ci_settings:
            out["ci"] = {k: [_none_if_nan(lo), _none_if_nan(hi)] for k, (lo, hi) in self.ci.items()}
            out["ci_settings"] = dict(self.ci_settings)
        out.update(signatures=dict(self.signatures), warnings=list(self.warnings),
                   unavailable=dict(self.unavailable), errors=dict(self.errors))
        if self.suite is not None:
            out["suite"] = dict(self.suite)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def save(self, path: str | os.PathLike, *, with_text: bool = False) -> None:
        """Write this result as a saved run (``rrg_eval.load_run`` reads it back; format in docs/runs.md).

        The run holds ids, every metric's per-report statistics, signatures, options and versions; report texts
        only with ``with_text=True``.
        """
        from .run_format import save_run

        save_run(self, path, with_text=with_text)

    def raise_for_errors(self) -> None:
        """Raise MetricError if any metric failed (for CI scripts)."""
        if self.errors:
            from .errors import MetricError

            raise MetricError("; ".join(f"{m}: {e}" for m, e in self.errors.items()))


def _none_if_nan(value: float) -> float | None:
    return None if value != value else float(value)
