"""The Ray engine on a local cluster started here (127.0.0.1, 2 CPUs): the numbers, per-report values, statistics
and signatures of bleu, rouge, cider, meteor, bertscore (tiny synthetic model) and json_overlap equal the local
run for 1, 4 and 16 blocks; an actor killed mid-run is retried and nothing is counted twice; caches are per node
and optional; compare and Ray Datasets give the local numbers; the cluster listens on loopback only."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import rrg_eval
from rrg_eval.api import score_pairs
from rrg_eval.distributed import RayEngine, score_dataset
from rrg_eval.inputs import Pairs
from rrg_eval.metrics.bleu import Bleu

pytestmark = pytest.mark.slow  # a Ray cluster takes 15-30 s to start on this machine

N = 120
LEXICAL = ["bleu", "rouge", "cider", "meteor"]


def _structured(text: str) -> str:
    """A json_overlap-style prediction built from a report's words (varied values, some invalid)."""
    words = [w.strip(".,").lower() for w in text.split() if len(w) > 4][:4] or ["normal"]
    return json.dumps([{"anatomical_entity": words[0], "location_descriptor": None, "procedure": None,
                        "clinical_findings": [{"clinical_finding": w, "existence": "neg_dx", "descriptive_term": None,
                                               "observation": w} for w in words[1:]]}])


@pytest.fixture(scope="module")
def texts(iu_val: list[dict]) -> tuple[list[str], list[str], list[str]]:
    refs = [r["report"] for r in iu_val[:N]]
    preds = [iu_val[(i * 7 + 3) % len(iu_val)]["report"] if i % 2 else ". ".join(refs[i].split(". ")[1:])
             for i in range(N)]
    preds[10] = ""
    return [f"s{i}" for i in range(N)], preds, refs


@pytest.fixture(scope="module")
def bertscore_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from rrg_eval.synthetic_weights import synthesize

    return synthesize("bertscore", tmp_path_factory.mktemp("models"), size="tiny", seed=0)


def assert_same(local: rrg_eval.Result, distributed: rrg_eval.Result) -> None:
    assert not local.errors and not distributed.errors, (local.errors, distributed.errors)
    assert distributed.scores == local.scores  # exactly, not approximately
    assert distributed.signatures == local.signatures
    assert distributed.ids == local.ids
    assert set(distributed.per_report_values) == set(local.per_report_values)
    for key, values in local.per_report_values.items():
        assert np.array_equal(np.asarray(distributed.per_report_values[key]), np.asarray(values), equal_nan=True), key
    assert set(distributed.stats) == set(local.stats)
    for name, stats in local.stats.items():
        assert set(distributed.stats[name]) == set(stats)
        for column, value in stats.items():
            assert same(distributed.stats[name][column], value), (name, column)


def same(a: object, b: object) -> bool:
    """Exact equality of nested statistics (arrays, lists, dicts, numbers; NaN equals NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype == object or b.dtype == object:
            return a.shape == b.shape and all(same(x, y) for x, y in zip(a.ravel(), b.ravel()))
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return bool(a == b)


def test_the_cluster_listens_on_loopback_only(ray_cluster: None) -> None:
    import psutil

    pids = {p.pid for p in psutil.Process().children(recursive=True)}
    listening = [c.laddr for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.pid in pids]
    assert listening, "no Ray listener found"
    for address in listening:
        ip = ipaddress.ip_address(address.ip)
        ip = ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip
        assert ip.is_loopback, f"a Ray process listens on {address.ip}:{address.port}"


def test_ray_tmpdir_is_honoured(ray_cluster: None, ray_tmpdir: str) -> None:
    import ray

    session = ray._private.worker._global_node.get_session_dir_path()
    assert session.startswith(ray_tmpdir), session


@pytest.mark.parametrize("blocks", [1, 4, 16])
def test_lexical_and_json_equal_the_local_run(ray_cluster: None, texts, blocks: int) -> None:
    ids, preds, refs = texts
    kwargs = {"predictions": dict(zip(ids, preds)), "references": dict(zip(ids, refs)), "metrics": LEXICAL,
              "use_cache": False}
    local = rrg_eval.score(**kwargs)
    assert_same(local, rrg_eval.score(**kwargs, engine=RayEngine(workers=2, blocks=blocks)))
    structured = {"predictions": {i: _structured(p) if n % 5 else "not json" for n, (i, p) in
                                  enumerate(zip(ids, preds))},
                  "references": dict(zip(ids, refs)), "metrics": ["json_overlap"], "use_cache": False}
    local = rrg_eval.score(**structured)
    assert 0 < local.scores["json_value_recall"] < 1
    assert_same(local, rrg_eval.score(**structured, engine=RayEngine(workers=2, blocks=blocks)))


@pytest.mark.parametrize("blocks", [1, 4, 16])
def test_bertscore_equals_the_local_run(ray_cluster: None, texts, bertscore_dir: Path, blocks: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly equal with batch_size=1, where a text's embedding cannot depend on the other texts of its batch.

    With larger batches the embeddings depend, at float rounding, on which texts share a padded batch, so other
    blocks give other batches: equal to 1e-6 (as two local runs with different --batch-size are).
    """
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(bertscore_dir))  # forwarded to the actors
    ids, preds, refs = texts
    kwargs = {"predictions": dict(zip(ids, preds)), "references": dict(zip(ids, refs)), "metrics": ["bertscore"],
              "use_cache": False, "device": "cpu", "batch_size": 1}
    local = rrg_eval.score(**kwargs)
    assert_same(local, rrg_eval.score(**kwargs, engine=RayEngine(workers=2, blocks=blocks)))
    if blocks == 16:  # idf weights come from the whole corpus: computed on the driver, with a warning
        kwargs["bertscore"] = {"idf": True}
        local = rrg_eval.score(**kwargs)
        distributed = rrg_eval.score(**kwargs, engine=RayEngine(workers=2, blocks=blocks))
        assert not distributed.errors and not distributed.unavailable, (distributed.errors, distributed.unavailable)
        assert distributed.scores == local.scores
        assert any("computed on this machine, not by the Ray workers" in w for w in distributed.warnings)
    if blocks == 4:
        kwargs["batch_size"] = 16
        local = rrg_eval.score(**kwargs)
        distributed = rrg_eval.score(**kwargs, engine=RayEngine(workers=2, blocks=blocks))
        assert distributed.signatures == local.signatures
        for key, value in local.scores.items():
            assert distributed.scores[key] == pytest.approx(value, abs=1e-6), key


def test_caches_are_per_node_and_optional(ray_cluster: None, texts, bertscore_dir: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RRG_EVAL_MODEL_DIR", str(bertscore_dir))
    ids, preds, refs = texts
    kwargs = {"predictions": dict(zip(ids, preds)), "references": dict(zip(ids, refs)), "metrics": ["bertscore"],
              "device": "cpu", "batch_size": 1}
    local = rrg_eval.score(**kwargs, cache_dir=tmp_path / "local")
    cache = tmp_path / "node"
    cold = rrg_eval.score(**kwargs, cache_dir=cache, engine=RayEngine(workers=2, blocks=4))
    assert any(cache.iterdir()), "the actors wrote no cache on this node"
    warm = rrg_eval.score(**kwargs, cache_dir=cache, engine=RayEngine(workers=2, blocks=4))
    assert_same(local, cold)
    assert_same(local, warm)
    off = tmp_path / "off"
    monkeypatch.setenv("RRG_EVAL_CACHE_DIR", str(off))
    rrg_eval.score(**kwargs, use_cache=False, engine=RayEngine(workers=2, blocks=4))
    assert not off.exists()


def test_compare_equals_the_local_compare(ray_cluster: None, texts) -> None:
    ids, preds, refs = texts
    systems = {"a": dict(zip(ids, preds)), "b": dict(zip(ids, reversed(preds)))}
    kwargs = {"systems": systems, "references": dict(zip(ids, refs)), "metrics": ["bleu", "rouge"],
              "use_cache": False, "resamples": 50}
    local = rrg_eval.compare(**kwargs)
    distributed = rrg_eval.compare(**kwargs, engine=RayEngine(workers=2, blocks=4))
    assert distributed.to_dict() == local.to_dict()


class KilledOnce(Bleu):
    """BLEU whose actor process dies (os._exit) the first time it meets row ``s50``: a crash mid-run."""

    def compute_stats(self, *, predictions, references, ids, context):  # type: ignore[no-untyped-def]
        marker = Path(os.environ["RRG_EVAL_TEST_KILL_MARKER"])
        if "s50" in ids and not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return super().compute_stats(predictions=predictions, references=references, ids=ids, context=context)


def test_an_actor_killed_mid_run_is_retried_and_nothing_counted_twice(ray_cluster: None, texts, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from ray import cloudpickle  # Ray's own copy pickles the actors' classes

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import this test module
    marker = tmp_path / "killed"
    monkeypatch.setenv("RRG_EVAL_TEST_KILL_MARKER", str(marker))
    ids, preds, refs = texts
    pairs = Pairs(ids=ids, predictions=preds, references=refs)
    local = score_pairs(pairs, [Bleu()])
    engine = RayEngine(workers=2, blocks=8)
    with engine.open() as session:
        distributed = score_pairs(pairs, [KilledOnce()], engine=session)
        assert session.blocks_run >= 8
    assert marker.exists(), "the fault was not injected"
    assert_same(local, distributed)


def test_a_metric_error_is_recorded_like_a_local_one(ray_cluster: None, texts) -> None:
    ids, preds, refs = texts
    bad = dict(zip(ids, preds))
    kwargs = {"predictions": bad, "references": dict(zip(ids, refs)), "metrics": ["bleu", "json_overlap"],
              "use_cache": False, "json_overlap": {"parse": "strict"}}
    local = rrg_eval.score(**kwargs)
    distributed = rrg_eval.score(**kwargs, engine=RayEngine(workers=2, blocks=4))
    assert set(distributed.errors) == set(local.errors)
    assert distributed.scores == local.scores


def test_a_ray_dataset_is_scored_like_the_same_rows(ray_cluster: None, texts) -> None:
    import ray.data

    ids, preds, refs = texts
    rows = [{"id": i, "prediction": p, "reference": r} for i, p, r in zip(ids, preds, refs)]
    dataset = ray.data.from_items(rows, override_num_blocks=5)
    local = rrg_eval.score(predictions=dict(zip(ids, preds)), references=dict(zip(ids, refs)),
                           metrics=["bleu", "cider"], use_cache=False)
    assert_same(local, score_dataset(dataset, metrics=["bleu", "cider"], use_cache=False,
                                     engine=RayEngine(workers=2)))


def test_compare_command_with_the_ray_engine(ray_cluster: None, texts, tmp_path: Path, capsys) -> None:
    from rrg_eval.cli import main

    ids, preds, refs = texts
    paths = {}
    for name, column in (("refs", refs), ("a", preds), ("b", list(reversed(preds)))):
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps({"id": i, "report": t}) + "\n" for i, t in zip(ids, column)))
    args = ["compare", str(paths["a"]), str(paths["b"]), "--refs", str(paths["refs"]), "--metrics", "bleu,cider",
            "--format", "json", "--resamples", "50", "--no-cache"]
    assert main(args) == 0
    local = capsys.readouterr().out
    assert main([*args, "--engine", "ray", "--workers", "2"]) == 0
    assert capsys.readouterr().out == local
