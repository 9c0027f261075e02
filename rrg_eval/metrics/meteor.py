"""METEOR 1.5 through the jar that pycocoevalcap ships, driven the way pycocoevalcap drives it.

Per-report statistics are Meteor's own sufficient statistics (the answer to ``SCORE ||| ref ||| hyp``); the
corpus score is Meteor's ``EVAL`` over the statistics of the rows, so resampled corpora are scored exactly.
The command line is pycocoevalcap's (``-l en -norm``, 2 GB heap). Needs Java and the ``meteor`` extra.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import MetricError, MetricUnavailable
from ..normalize import Normalization, normalize
from ..option_spec import option
from ..stats import Stats
from .base import Metric, RunContext

_LINE_BREAK = re.compile(r"\r\n|[\r\n]")
_JAVA_PROBLEM = re.compile(r"(Exception|Error)\b")

# Meteor 1.5's scoring of its sufficient statistics, for scoring many resamples without a round trip to the jar.
# Parameters of ``-l en`` (task "default"): alpha, beta, gamma, delta, and the weights of the exact, stem,
# synonym and paraphrase modules. The formula is ``MeteorScorer.computeMetrics`` of meteor-1.5.jar (read from its
# bytecode with ``javap -c``); tests/test_meteor_resample.py checks it against the jar's own EVAL answers.
ALPHA, BETA, GAMMA, DELTA = 0.85, 0.2, 0.6, 0.75
MODULE_WEIGHTS = (1.0, 0.6, 0.8, 0.6)
STATS_LENGTH = 23  # tst/ref length, tst/ref function words, 4 x (tst/ref content, tst/ref function), chunks, 2


def stats_matrix(stats: list[str]) -> np.ndarray:
    """Meteor's statistics lines as an ``(n, 23)`` float array, ready to be summed as the jar sums them.

    ``MeteorStats.addStats`` adds every field, except the chunks of a perfect segment (all words matched in one
    chunk), which count 0; that rule is applied here, so a corpus (or resample) is a plain sum of rows.
    """
    if not stats:
        return np.zeros((0, STATS_LENGTH))
    m = np.array([[float(v) for v in line.split()] for line in stats], dtype=np.float64)
    stages = m[:, 4:20].reshape(-1, 4, 4)
    perfect = ((stages[:, :, 0].sum(axis=1) + stages[:, :, 2].sum(axis=1) == m[:, 0])
               & (stages[:, :, 1].sum(axis=1) + stages[:, :, 3].sum(axis=1) == m[:, 1]) & (m[:, 20] == 1))
    m[perfect, 20] = 0.0
    return m


def meteor_from_sums(s: np.ndarray) -> np.ndarray:
    """METEOR of summed statistics, one row each (``(r, 23)`` -> ``(r,)``), as ``computeMetrics`` does it.

    Rows come from :func:`stats_matrix` (perfect segments carry 0 chunks); a single segment's score is the
    same either way, since a perfect one scores its f-mean.
    """
    s = np.atleast_2d(np.asarray(s, dtype=np.float64))
    t_len, r_len, t_fw, r_fw = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    stages = s[:, 4:20].reshape(-1, 4, 4)  # stage x (tst content, ref content, tst function, ref function)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_wlen = DELTA * (t_len - t_fw) + (1 - DELTA) * t_fw
        r_wlen = DELTA * (r_len - r_fw) + (1 - DELTA) * r_fw
        t_wm = np.zeros(len(s))
        r_wm = np.zeros(len(s))
        for i, w in enumerate(MODULE_WEIGHTS):  # content matches of every stage first, as the jar adds them
            t_wm = t_wm + stages[:, i, 0] * w * DELTA
            r_wm = r_wm + stages[:, i, 1] * w * DELTA
        for i, w in enumerate(MODULE_WEIGHTS):
            t_wm = t_wm + stages[:, i, 2] * w * (1 - DELTA)
            r_wm = r_wm + stages[:, i, 3] * w * (1 - DELTA)
        precision = t_wm / t_wlen
        recall = r_wm / r_wlen
        f_mean = 1.0 / ((1 - ALPHA) / precision + ALPHA / recall)
        t_total = stages[:, :, 0].sum(axis=1) + stages[:, :, 2].sum(axis=1)
        r_total = stages[:, :, 1].sum(axis=1) + stages[:, :, 3].sum(axis=1)
        chunks = s[:, 20]
        perfect = (t_total == t_len) & (r_total == r_len) & (chunks == 1)
        frag = np.where(perfect, 0.0, chunks / ((s[:, 21] + s[:, 22]) / 2))
        score = f_mean * (1 - GAMMA * np.power(frag, BETA))
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))


def bundled_jar() -> Path | None:
    """The meteor-1.5.jar inside the installed pycocoevalcap package, if any."""
    import importlib.util

    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    jar = Path(next(iter(spec.submodule_search_locations))) / "meteor" / "meteor-1.5.jar"
    return jar if jar.is_file() else None


@dataclass(frozen=True)
class MeteorConfig:
    """Options of ``meteor``."""

    jar: str | None = option(None, help="path of meteor-1.5.jar (default: the one pycocoevalcap ships)",
                             in_signature=False)
    java: str = option("java", help="the java executable", in_signature=False)
    normalize: Normalization = option("none", sig="norm", help="text normalisation before scoring")


class _MeteorProcess:
    """One running Meteor jar in ``-stdio`` mode."""

    def __init__(self, java: str, jar: Path) -> None:
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        cmd = [java, "-jar", "-Xmx2G", str(jar), "-", "-", "-stdio", "-l", "en", "-norm"]
        self._proc = subprocess.Popen(cmd, cwd=str(jar.parent), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr)
        self._lock = threading.Lock()

    def _fail(self, what: str, answered: int) -> MetricError:
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        cause = next((ln.strip() for ln in lines if _JAVA_PROBLEM.search(ln) and not ln.lstrip().startswith("at ")),
                     None)
        shown = cause or (" / ".join(lines[-5:]) or "no message")
        error = MetricError(f"meteor: the Meteor jar stopped while {what}: {shown}")
        error.answered = answered  # type: ignore[attr-defined]  # lines answered before it stopped
        error.cause = cause or ""  # type: ignore[attr-defined]
        return error

    def _exchange(self, lines: list[str], n_answers: int, what: str) -> list[str]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        payload = "".join(line + "\n" for line in lines).encode()
        error: list[BaseException] = []

        def write() -> None:
            try:
                self._proc.stdin.write(payload)  # type: ignore[union-attr]
                self._proc.stdin.flush()  # type: ignore[union-attr]
            except OSError as exc:
                error.append(exc)

        with self._lock:
            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            answers = []
            for _ in range(n_answers):
                raw = self._proc.stdout.readline()
                if not raw:
                    writer.join(1)
                    raise self._fail(what, len(answers))
                answers.append(raw.decode().strip())
            writer.join()
            if error:
                raise self._fail(what, len(answers))
        return answers

    def statistics(self, hypotheses: list[str], references: list[str]) -> list[str]:
        lines = [" ||| ".join(("SCORE", ref, hyp.replace("|||", "").replace("  ", " ")))
                 for hyp, ref in zip(hypotheses, references)]
        return self._exchange(lines, len(lines), "computing statistics")

    def evaluate(self, stats: list[str]) -> tuple[list[float], float]:
        line = "EVAL" + "".join(f" ||| {s}" for s in stats)
        answers = self._exchange([line], len(stats) + 1, "scoring")
        return [float(a) for a in answers[:-1]], float(answers[-1])

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                if self._proc.stdin:
                    self._proc.stdin.close()
            except OSError:
                pass
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


class Meteor(Metric):
    """METEOR 1.5, pycocoevalcap convention."""

    name = "meteor"
    Config = MeteorConfig
    description = "unigram matching with stems, synonyms and paraphrases (METEOR 1.5)"
    reference = "pycocoevalcap 1.2 Meteor().compute_score (meteor-1.5.jar -l en -norm)"
    keys = ("meteor",)
    extra = "meteor"
    signature_fixed = ("lang:en", "norm-meteor:yes")

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._process: _MeteorProcess | None = None

    def _jar(self) -> Path | None:
        return Path(self.config.jar) if self.config.jar else bundled_jar()

    def unavailable_reason(self) -> str | None:
        if shutil.which(self.config.java) is None:
            return (f"METEOR needs Java, and `{self.config.java}` was not found on PATH: install a Java runtime "
                    "(e.g. apt-get install default-jre-headless) or set meteor.java")
        jar = self._jar()
        if jar is None:
            return "METEOR needs meteor-1.5.jar from pycocoevalcap: pip install 'rrg-eval[meteor]'"
        if not jar.is_file():
            return f"meteor.jar points to {jar}, which does not exist"
        return None

    def backend_versions(self) -> dict[str, str]:
        return {"meteor": "1.5"}

    def _running(self) -> _MeteorProcess:
        if self._process is None:
            reason = self.unavailable_reason()
            if reason:
                raise MetricUnavailable(reason)
            self._process = _MeteorProcess(self.config.java, self._jar())  # type: ignore[arg-type]
        return self._process

    def compute_stats(self, *, predictions: list[str], references: list[str], ids: list[str],
                      context: RunContext) -> Stats:
        mode = self.config.normalize
        # the jar reads one command per line and Java ends lines at \r too: every line break becomes a space
        hyps = [_LINE_BREAK.sub(" ", normalize(p, mode)) for p in predictions]
        refs = [_LINE_BREAK.sub(" ", normalize(r, mode)) for r in references]
        try:
            return {"meteor_stats": self._running().statistics(hyps, refs)}
        except MetricError as exc:
            self.close()  # the jar is gone; a later call starts a new one
            at = getattr(exc, "answered", None)
            if at is None or at >= len(ids):
                raise
            words = max(len(hyps[at].split()), len(refs[at].split()))
            raise MetricError(
                f"meteor: report {ids[at]!r} ({words:,} words) stopped the Meteor jar "
                f"({getattr(exc, 'cause', '') or 'no message'}); Meteor 1.5 cannot align it (reports this long "
                "exhaust its aligner or its 2 GB heap): shorten it, or leave meteor out (--metrics ...)") from None

    def aggregate(self, stats: Stats) -> dict[str, float]:
        if not stats["meteor_stats"]:
            return {"meteor": 0.0}
        return {"meteor": self._running().evaluate(stats["meteor_stats"])[1]}

    def aggregate_resamples(self, stats: Stats, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Every resample's corpus METEOR from summed statistics (``meteor_from_sums``), no jar round trips."""
        matrix = stats_matrix(stats["meteor_stats"])
        indices = np.asarray(indices, dtype=np.int64)
        out = np.zeros(len(indices))
        if len(matrix):
            for start in range(0, len(indices), 256):  # (chunk, n) counts x (n, 23) statistics
                block = indices[start:start + 256]
                counts = np.stack([np.bincount(idx, minlength=len(matrix)) for idx in block]).astype(np.float64)
                out[start:start + len(block)] = meteor_from_sums(counts @ matrix)
        return {"meteor": out}

    def per_report(self, stats: Stats) -> dict[str, np.ndarray]:
        if not stats["meteor_stats"]:
            return {"meteor": np.zeros(0)}
        return {"meteor": np.asarray(self._running().evaluate(stats["meteor_stats"])[0], dtype=float)}

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
