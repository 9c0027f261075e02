"""Split invariance of the CXR-Report-Metric keys: 200 pairs scored whole, and in 1, 4 and 16 chunks, give
identical per-report values (a report's score never depends on the rest of the run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rrg_eval

N = 200


def pairs(iu_val: list[dict]) -> tuple[list[str], list[str], list[str]]:
    refs = [r["report"] for r in iu_val[:N]]
    preds = [iu_val[(i * 7 + 3) % len(iu_val)]["report"] if i % 2 else ". ".join(refs[i].split(". ")[1:])
             for i in range(N)]
    preds[10] = ""
    return [f"s{i}" for i in range(N)], preds, refs


def by_chunks(ids: list[str], preds: list[str], refs: list[str], chunks: int, **kwargs) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {}
    for idx in np.array_split(np.arange(N), chunks):
        result = rrg_eval.score(predictions={ids[i]: preds[i] for i in idx},
                                references={ids[i]: refs[i] for i in idx}, **kwargs)
        assert not result.errors, result.errors
        frame = result.per_report.loc[[ids[i] for i in idx]]
        for key in frame.columns:
            parts.setdefault(key, []).append(frame[key].to_numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def assert_invariant(iu_val: list[dict], keys: tuple[str, ...], **kwargs) -> None:
    ids, preds, refs = pairs(iu_val)
    whole = rrg_eval.score(predictions=dict(zip(ids, preds)), references=dict(zip(ids, refs)), **kwargs)
    assert not whole.errors, whole.errors
    expected = whole.per_report.loc[ids]
    for chunks in (1, 4, 16):
        got = by_chunks(ids, preds, refs, chunks, **kwargs)
        for key in keys:
            assert np.array_equal(got[key], expected[key].to_numpy()), (key, chunks)
    for key in keys:
        assert len(set(np.round(expected[key].to_numpy(), 9))) > 5, key  # the values are spread


def test_bleu2_cxr(iu_val: list[dict]) -> None:
    assert_invariant(iu_val, ("bleu2_cxr",), metrics=["bleu2_cxr"], use_cache=False)


def test_radcliq_with_stand_ins(iu_val: list[dict], stand_ins: None) -> None:
    assert_invariant(iu_val, ("radcliq_v1", "radcliq_v0", "bleu2_cxr"), metrics=["radcliq", "bleu2_cxr"],
                     use_cache=False)


@pytest.mark.slow
def test_radgraph_combined(iu_val: list[dict], tmp_path_factory: pytest.TempPathFactory,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from rrg_eval.synthetic_weights import radgraph as synth

    model_dir: Path = tmp_path_factory.mktemp("rg-split")
    synth.synthesize(model_dir, "tiny", seed=0, model_types=("radgraph",))
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(model_dir))
    assert_invariant(iu_val, ("radgraph_combined", "radgraph_entity_f1", "radgraph_relation_f1"),
                     metrics=["radgraph_combined"], use_cache=False, device="cpu")


# -- the model keys of issue 14 (tiny synthetic weights): the whole run fills the cache, each chunked run reads it,
# so the embeddings are the same floats and only the definitions are tested (a batch's padding width changes the
# last float32 bits of an embedding; that is the back-end's arithmetic, not the metric's definition) -------------
MODEL_KEYS = ("sembscore", "bertscore_cxr_p", "bertscore_cxr_r", "bertscore_cxr_f1", "radcliq_v1", "radcliq_v0",
              "radgraph_combined", "bleu2_cxr")


def corpus_file(iu_val: list[dict], folder: Path) -> str:
    """The 200 references as an explicit idf corpus (a .txt file, one per line)."""
    _, _, refs = pairs(iu_val)
    path = folder / "idf_corpus.txt"
    path.write_text("\n".join(" ".join(r.split()) for r in refs) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("idf", [False, True])
def test_model_keys(iu_val: list[dict], cxr_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    idf: bool) -> None:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(cxr_models))
    bert = {"preset": "cxr", "idf": idf}
    if idf:  # never the batch's references: an explicit corpus, the same for every chunk
        bert["idf_corpus"] = corpus_file(iu_val, tmp_path)
    assert_invariant(iu_val, MODEL_KEYS, metrics=["sembscore", "bertscore", "radcliq", "radgraph_combined",
                                                  "bleu2_cxr"], bertscore=bert, cache_dir=tmp_path / "cache",
                     device="cpu", radcliq={k: v for k, v in bert.items() if k != "preset"})
