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

    def _fail(self, what: str) -> MetricError:
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-5:]
        return MetricError(f"meteor: the Meteor jar stopped while {what}: " + (" / ".join(tail) or "no message"))

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
                    raise self._fail(what)
                answers.append(raw.decode().strip())
            writer.join()
            if error:
                raise self._fail(what)
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
        return {"meteor_stats": self._running().statistics(hyps, refs)}

    def aggregate(self, stats: Stats) -> dict[str, float]:
        if not stats["meteor_stats"]:
            return {"meteor": 0.0}
        return {"meteor": self._running().evaluate(stats["meteor_stats"])[1]}

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
