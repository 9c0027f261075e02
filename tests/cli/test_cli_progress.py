"""Progress on standard error from the command line (issue 13): one whole line per stage when stderr is not a
terminal, nothing with ``--quiet``, a ``rich`` bar on a terminal (a pseudo-terminal from the ``pty`` module)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

PREDS = ["No acute cardiopulmonary abnormality.", "Mild cardiomegaly.", "Lungs are clear."]
REFS = ["No acute disease.", "Cardiomegaly with pleural effusion.", "Clear lungs, no pneumothorax."]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    preds = tmp_path / "preds.jsonl"
    refs = tmp_path / "refs.jsonl"
    preds.write_text("".join(f'{{"id": "{i}", "report": "{t}"}}\n' for i, t in enumerate(PREDS)), encoding="utf-8")
    refs.write_text("".join(f'{{"id": "{i}", "report": "{t}"}}\n' for i, t in enumerate(REFS)), encoding="utf-8")
    return preds, refs


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RRG_EVAL_CACHE_DIR": os.devnull}
    return subprocess.run([sys.executable, "-m", "rrg_eval", *args, "--no-cache"], capture_output=True, text=True,
                          timeout=300, env=env)


def _timeless(text: str) -> str:
    return re.sub(r"done in \d+\.\d s", "done in T s", text)


def test_score_in_a_log_writes_one_whole_line_per_stage(files: tuple[Path, Path]) -> None:
    proc = _cli("score", str(files[0]), str(files[1]), "--metrics", "bleu,cider", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert _timeless(proc.stderr) == ("rrg-eval: bleu: scoring 3 pairs\n"
                                      "rrg-eval: bleu: done in T s\n"
                                      "rrg-eval: cider: scoring 3 pairs\n"
                                      "rrg-eval: cider: done in T s\n")
    assert proc.stdout.startswith("{")  # the results alone on stdout


def test_compare_in_a_log_names_each_system(files: tuple[Path, Path]) -> None:
    proc = _cli("compare", f"base={files[0]}", f"oracle={files[1]}", "--refs", str(files[1]), "--metrics", "bleu",
                "--resamples", "20", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert _timeless(proc.stderr) == ("rrg-eval: base: bleu: scoring 3 pairs\n"
                                      "rrg-eval: base: bleu: done in T s\n"
                                      "rrg-eval: oracle: bleu: scoring 3 pairs\n"
                                      "rrg-eval: oracle: bleu: done in T s\n"
                                      "rrg-eval: resampling 0/1 metrics (bleu)\n"
                                      "rrg-eval: resampling 1/1 metrics\n")


@pytest.mark.parametrize("command", ["score", "compare"])
def test_quiet_prints_nothing(files: tuple[Path, Path], command: str) -> None:
    if command == "score":
        args = ["score", str(files[0]), str(files[1])]
    else:
        args = ["compare", f"a={files[0]}", f"b={files[1]}", "--refs", str(files[1]), "--resamples", "20"]
    proc = _cli(*args, "--metrics", "bleu", "--format", "json", "--quiet")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("{")


def test_errors_are_still_printed_with_quiet(files: tuple[Path, Path]) -> None:
    proc = _cli("score", str(files[0]), str(files[1]), "--metrics", "bleu", "--set", "bleu.nosuch=1", "-q")
    assert proc.returncode == 2 and proc.stderr.startswith("rrg-eval: error: ")


def _run_on_a_terminal(args: list[str], timeout: float = 240.0) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a pseudo-terminal; (exit code, everything it wrote)."""
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "RRG_EVAL_CACHE_DIR": os.devnull, "TERM": "xterm-256color", "COLUMNS": "100",
           "LINES": "40"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "rrg_eval", *args], stdin=follower, stdout=follower,
                            stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(not sys.platform.startswith(("linux", "darwin")), reason="needs a pseudo-terminal")
def test_a_terminal_gets_a_bar(files: tuple[Path, Path]) -> None:
    pytest.importorskip("rich")
    code, text = _run_on_a_terminal(["score", str(files[0]), str(files[1]), "--metrics", "bleu", "--no-cache",
                                     "--format", "json"])
    assert code == 0, text
    assert "━" in text and "bleu: done" in text and "1/1" not in text  # a bar, counting pairs
    assert "3/3" in text
    assert "rrg-eval: bleu: scoring" not in text  # not the plain lines of logs


@pytest.mark.skipif(not sys.platform.startswith(("linux", "darwin")), reason="needs a pseudo-terminal")
def test_a_terminal_with_quiet_gets_no_bar(files: tuple[Path, Path]) -> None:
    code, text = _run_on_a_terminal(["score", str(files[0]), str(files[1]), "--metrics", "bleu", "--no-cache",
                                     "--format", "json", "--quiet"])
    assert code == 0, text
    assert "━" not in text and "bleu: done" not in text
