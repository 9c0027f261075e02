"""Output files (issue 11, items 19-21): links, devices and FIFOs, an output that is an input, checks before work.

Every test works inside ``tmp_path`` (a FIFO and symlinks made there; never the real ``/dev/null``).
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from rrg_eval import outputs
from rrg_eval.cli import main
from rrg_eval.errors import OutputError
from rrg_eval.outputs import Need, check_outputs, write_all, write_bytes, write_text

PREDS = [{"id": "a", "report": "the heart is normal ."}, {"id": "b", "report": "small left effusion ."}]
REFS = [{"id": "a", "report": "heart size is normal ."}, {"id": "b", "report": "a small left pleural effusion ."}]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return _jsonl(tmp_path / "preds.jsonl", PREDS), _jsonl(tmp_path / "refs.jsonl", REFS)


def _read_fifo(path: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def reader() -> None:
        with open(path, "rb") as handle:
            got.append(handle.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread, got


# -- writing: regular files, links, FIFOs ------------------------------------------------------------------------

def test_regular_file_is_replaced_atomically_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old\n")
    target.chmod(0o640)
    write_text(target, "new é\n")
    assert target.read_text(encoding="utf-8") == "new é\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    """Regression: ``--out link.json`` replaced the link by a regular file instead of writing its target."""
    real = tmp_path / "data" / "real.json"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new\n"
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.json"]  # the temp file went next to the target


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "sub" / "plot.png")
    write_bytes(link, b"\x89PNG")
    assert link.is_symlink() and (tmp_path / "sub" / "plot.png").read_bytes() == b"\x89PNG"


def test_symlink_loop_is_an_error_and_leaves_the_links(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OSError):
        write_text(a, "x")
    assert a.is_symlink() and b.is_symlink()
    with pytest.raises(OutputError):
        check_outputs({"--out": a})


def test_fifo_is_written_through_not_replaced(tmp_path: Path) -> None:
    """Regression: a device or FIFO given as output became a regular file (``/dev/null`` did, as root)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    thread, got = _read_fifo(fifo)
    write_text(fifo, "through the pipe\n")
    thread.join(10)
    assert got == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_folder_as_output_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        write_text(tmp_path, "x")


def test_interrupt_while_writing_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C halfway through a write: the old content stays and no temporary file is left."""
    target = tmp_path / "results.json"
    target.write_text("complete old results\n")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text(target, "half of the new results")
    assert target.read_text() == "complete old results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


# -- check_outputs ------------------------------------------------------------------------------------------------

def test_output_that_is_an_input_is_refused(tmp_path: Path) -> None:
    refs = _jsonl(tmp_path / "refs.jsonl", REFS)
    link = tmp_path / "link.jsonl"
    link.symlink_to(refs)
    hard = tmp_path / "hard.jsonl"
    os.link(refs, hard)
    for out in (refs, link, hard, tmp_path / "." / "refs.jsonl"):
        with pytest.raises(OutputError, match="is the same file as the input references"):
            check_outputs({"--out": out}, {"references": refs})
    check_outputs({"--out": tmp_path / "new.json"}, {"references": refs, "missing": tmp_path / "nope"})


def test_two_outputs_on_one_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="--per-report is the same file as --out"):
        check_outputs({"--out": tmp_path / "x.json", "--per-report": tmp_path / "x.json"})


def test_every_problem_is_named_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("")
    real_find_spec = outputs.importlib.util.find_spec
    monkeypatch.setattr(outputs.importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real_find_spec(name, *a))
    with pytest.raises(OutputError) as info:
        check_outputs({"--out": tmp_path, "--per-report": tmp_path / "file" / "sub" / "per.jsonl",
                       "--plot": tmp_path / "plot.png"},
                      needs={"--plot": [Need("matplotlib", "pip install 'rrg-eval[compare]'")]})
    message = str(info.value)
    assert f"{tmp_path}: Is a directory" in message
    assert f"{tmp_path / 'file' / 'sub' / 'per.jsonl'}: Not a directory" in message
    assert "--plot needs matplotlib: pip install 'rrg-eval[compare]'" in message


def test_unwritable_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access  # tests may run as root, who can write anywhere: make the folder read-only to access()
    monkeypatch.setattr(outputs.os, "access",
                        lambda p, mode: False if Path(p) == locked and mode & os.W_OK else real_access(p, mode))
    with pytest.raises(OutputError, match="Permission denied"):
        check_outputs({"--out": locked / "out.json"})


def test_write_all_reports_failures_and_writes_the_rest(tmp_path: Path) -> None:
    failed = write_all([(tmp_path, "x"), (tmp_path / "ok.txt", "fine"), (tmp_path / "ok.bin", b"\x00")])
    assert failed == [f"{tmp_path}: is a folder, expected a file"]
    assert (tmp_path / "ok.txt").read_text() == "fine" and (tmp_path / "ok.bin").read_bytes() == b"\x00"


# -- the CLI: checks before any work, results printed when a write fails ------------------------------------------

@pytest.fixture
def no_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any metric is computed."""
    import rrg_eval.api as api

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("metrics were computed before the output check")

    monkeypatch.setattr(api, "score_pairs", refuse)
    monkeypatch.setattr(api, "build_metrics", refuse)


def _refuse_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a leaderboard is computed (the API, and the CLI's own binding of it where it has one)."""
    import importlib

    import rrg_eval.leaderboard as lb_pkg

    def refuse(**kwargs):  # type: ignore[no-untyped-def]
        pytest.fail("compared before the output check")

    monkeypatch.setattr(lb_pkg, "compare", refuse)
    try:
        cli_compare = importlib.import_module("rrg_eval.cli.compare")
    except ImportError:  # a single-module CLI imports the API when it runs
        return
    monkeypatch.setattr(cli_compare, "compare_api", refuse, raising=False)


@pytest.mark.parametrize("flag", ["--out", "--per-report"])
def test_score_refuses_an_input_as_output(files, capsys, no_scoring, flag: str) -> None:  # type: ignore[no-untyped-def]
    """Regression: ``score good.jsonl refs.jsonl --out refs.jsonl`` exited 0 and the references were gone."""
    preds, refs = files
    before = (preds.read_bytes(), refs.read_bytes())
    for victim in (refs, preds):
        code = main(["score", str(preds), str(refs), "--metrics", "bleu", "--no-cache", flag, str(victim)])
        err = capsys.readouterr().err
        assert code == 2 and "is the same file as the input" in err and err.count("\n") == 1
    assert (preds.read_bytes(), refs.read_bytes()) == before


def test_compare_refuses_an_input_as_output(files, capsys, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    preds, refs = files
    before = refs.read_bytes()
    link = tmp_path / "alias.jsonl"
    link.symlink_to(preds)
    _refuse_compare(monkeypatch)
    for out in (refs, link):
        code = main(["compare", str(preds), "--refs", str(refs), "--metrics", "bleu", "--no-cache",
                     "--format", "csv", "--out", str(out)])
        assert code == 2 and "is the same file as the input" in capsys.readouterr().err
    assert refs.read_bytes() == before and link.is_symlink()


def test_baseline_run_refuses_an_input_as_output(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    train = _jsonl(tmp_path / "train.jsonl", REFS)
    test = _jsonl(tmp_path / "t.jsonl", [{"id": "x", "report": "heart normal ."}])
    before = test.read_bytes()
    for out in (test, train):
        code = main(["baseline", "run", "constant", "--train", str(train), "--test", str(test), "--out", str(out)])
        assert code == 2 and "is the same file as the input" in capsys.readouterr().err
    assert test.read_bytes() == before


def test_plot_without_matplotlib_fails_before_work(files, capsys, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real_find_spec = outputs.importlib.util.find_spec
    monkeypatch.setattr(outputs.importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real_find_spec(name, *a))
    _refuse_compare(monkeypatch)
    preds, refs = files
    code = main(["compare", str(preds), "--refs", str(refs), "--metrics", "bleu", "--no-cache",
                 "--plot", str(tmp_path / "p.png")])
    assert code == 2 and "--plot needs matplotlib" in capsys.readouterr().err


def test_folder_as_out_fails_before_work(files, capsys, no_scoring, tmp_path) -> None:  # type: ignore[no-untyped-def]
    preds, refs = files
    code = main(["score", str(preds), str(refs), "--metrics", "bleu", "--no-cache", "--out", str(tmp_path)])
    assert code == 2 and capsys.readouterr().err == f"rrg-eval: error: {tmp_path}: Is a directory\n"


def test_failed_write_after_the_work_still_prints_results(files, capsys, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Regression: a write that failed after all metrics ran printed nothing (hours of judge calls lost)."""
    preds, refs = files
    out = tmp_path / "results.json"

    def disk_full(path, data):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(outputs, "_write", disk_full)
    code = main(["score", str(preds), str(refs), "--metrics", "bleu", "--no-cache", "--format", "json",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert "bleu4" in json.loads(captured.out)["scores"]
    assert f"cannot write {out}: No space left on device" in captured.err
    # compare: a failed --out shows the leaderboard on stdout instead
    code = main(["compare", str(preds), f"again={preds}", "--refs", str(refs), "--metrics", "bleu", "--no-cache",
                 "--format", "csv", "--resamples", "20", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out.startswith("section,system,") and "No space left" in captured.err


def test_cli_writes_through_a_symlink_and_a_fifo(files, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    preds, refs = files
    target = tmp_path / "store" / "results.json"
    target.parent.mkdir()
    link = tmp_path / "results-link.json"
    link.symlink_to(target)
    fifo = tmp_path / "per.pipe"
    os.mkfifo(fifo)
    thread, got = _read_fifo(fifo)
    code = main(["score", str(preds), str(refs), "--metrics", "bleu", "--no-cache", "--out", str(link),
                 "--per-report", str(fifo)])
    thread.join(10)
    assert code == 0, capsys.readouterr().err
    assert link.is_symlink() and "bleu4" in json.loads(target.read_text())["scores"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [json.loads(line)["id"] for line in got[0].decode().splitlines()] == ["a", "b"]


def test_out_dev_stdout_writes_to_the_pipe(files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``--out /dev/stdout`` resolves through /proc to ``pipe:[N]``, which is no path: it is opened as given."""
    import subprocess
    import sys

    preds, refs = files
    proc = subprocess.run([sys.executable, "-m", "rrg_eval", "score", str(preds), str(refs), "--metrics", "bleu",
                           "--no-cache", "--format", "csv", "--out", "/dev/stdout"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("{") and "metric,key,value,signature" in proc.stdout


def test_baseline_predictions_are_printed_when_the_write_fails(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    train = _jsonl(tmp_path / "train.jsonl", REFS)
    test = _jsonl(tmp_path / "t.jsonl", [{"id": "x", "report": ""}])

    def disk_full(path, data):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(outputs, "_write", disk_full)
    code = main(["baseline", "run", "constant", "--train", str(train), "--test", str(test),
                 "--out", str(tmp_path / "p.jsonl")])
    captured = capsys.readouterr()
    assert code == 2 and "No space left on device" in captured.err
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == ["x"]


def test_a_fifo_may_be_named_twice_and_as_input(tmp_path: Path) -> None:
    """Writing through to a device or FIFO destroys nothing: only regular files are guarded."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    check_outputs({"--out": fifo, "--per-report": fifo}, {"references": fifo})
