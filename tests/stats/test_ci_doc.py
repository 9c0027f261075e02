"""docs/ci.md end to end: its shell commands and its pytest snippet run as written on IU X-ray reports.

The model's predictions are stand-ins written here: the baseline keeps most words of each reference, a harmless
candidate changes a handful of reports, and a broken one answers with other patients' reports.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from rrg_eval.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _run(block: str, capsys) -> list[int]:
    codes = []
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line)
        assert argv[0] == "rrg-eval", line
        codes.append(main(argv[1:]))
        capsys.readouterr()
    return codes


@pytest.fixture
def repo(tmp_path, monkeypatch, iu_pairs):
    ids, _, refs = (x[:150] for x in iu_pairs)
    (tmp_path / "eval").mkdir()
    rows = [{"id": i, "report": r, "patient_id": f"p{k // 2}"} for k, (i, r) in enumerate(zip(ids, refs))]
    (tmp_path / "eval" / "refs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.chdir(tmp_path)

    def write(kind: str) -> None:
        out = []
        for k, row in enumerate(rows):
            text = " ".join(w for j, w in enumerate(row["report"].split()) if j % 7 != 3)
            if kind == "harmless" and k % 30 == 0:
                text = row["report"]
            if kind == "broken":
                text = rows[(k * 11 + 5) % len(rows)]["report"]
            out.append(json.dumps({"id": row["id"], "report": text}) + "\n")
        Path("predictions.jsonl").write_text("".join(out))

    return write


def test_shell_recipe_passes_a_harmless_change_and_fails_a_broken_one(repo, capsys):
    recipe = _blocks("bash")[0]
    baseline, candidate = recipe.split("# every change")
    repo("baseline")
    assert _run(baseline, capsys) == [0]
    repo("harmless")
    assert _run("#" + candidate, capsys) == [0, 0]
    repo("broken")
    assert _run("#" + candidate, capsys) == [0, 1]
    assert json.loads(Path("candidate.json").read_text())["n"] == 150


def test_pytest_snippet(repo, capsys):
    repo("baseline")
    _run(_blocks("bash")[0].split("# every change")[0], capsys)
    namespace: dict = {}
    exec(_blocks("python")[0], namespace)  # noqa: S102 - the documented snippet, as written
    repo("harmless")
    namespace["test_no_regression"]()
    repo("broken")
    with pytest.raises(AssertionError, match="regression against the baseline"):
        namespace["test_no_regression"]()


def test_cluster_commands(repo, capsys):
    repo("baseline")
    _run(_blocks("bash")[0].split("# every change")[0], capsys)
    repo("broken")
    assert _run(_blocks("bash")[1], capsys) == [0, 1]
