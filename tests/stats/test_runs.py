"""Saved runs: exact round trip of every lexical metric's statistics, compare from runs equals compare from texts,
refusals that name the difference, no text unless asked, and the CLI (score --save-run, compare --runs)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import rrg_eval
from rrg_eval import resampling as rs
from rrg_eval.cli import main
from rrg_eval.errors import InputError
from rrg_eval.runs import FORMAT_VERSION, load_run

METRICS = ["bleu", "rouge", "cider", "sacrebleu"]


@pytest.fixture(scope="module")
def systems(iu_pairs):
    ids, preds, refs = (x[:60] for x in iu_pairs)
    mixed = [refs[i] if i % 3 == 0 else preds[i] for i in range(60)]
    return dict(zip(ids, refs)), {"base": dict(zip(ids, preds)), "mixed": dict(zip(ids, mixed))}


@pytest.fixture(scope="module")
def saved(systems, tmp_path_factory):
    refs, named = systems
    folder = tmp_path_factory.mktemp("runs")
    results, paths = {}, {}
    for name, preds in named.items():
        results[name] = rrg_eval.score(predictions=preds, references=refs, metrics=METRICS, use_cache=False)
        paths[name] = folder / f"{name}.run"
        results[name].save(paths[name])
    return results, paths


def test_round_trip_is_exact(saved):
    results, paths = saved
    for name, result in results.items():
        back = load_run(paths[name])
        assert back.ids == result.ids and back.n == result.n
        assert back.scores == result.scores and back.signatures == result.signatures
        assert back.key_info == result.key_info and back.options == result.options
        assert back.references_digest == result.references_digest
        assert back.versions["rrg_eval"] == rrg_eval.__version__
        for metric, stats in result.stats.items():
            assert rs.stats_identical(stats, back.stats[metric]), metric
            assert rrg_eval.load_metric(metric).aggregate(back.stats[metric]) == pytest.approx(
                rrg_eval.load_metric(metric).aggregate(stats), rel=0, abs=0)
    with zipfile.ZipFile(paths["base"]) as archive:
        names = archive.namelist()
        meta = json.loads(archive.read("run.json"))
    assert "texts.json" not in names and meta["texts"] is False
    assert meta["format"] == "rrg-eval-run" and meta["format_version"] == FORMAT_VERSION
    assert "stats/bleu/counts.npy" in names and "stats/cider/rows.json" in names


@pytest.mark.parametrize("test", ["bootstrap", "ar"])
def test_compare_runs_equals_compare_on_texts(systems, saved, test):
    refs, named = systems
    _, paths = saved
    direct = rrg_eval.compare(systems=named, references=refs, metrics=METRICS, test=test, resamples=60,
                              use_cache=False)
    from_runs = rrg_eval.compare_runs(runs=paths, test=test, resamples=60)
    assert from_runs.keys == direct.keys and from_runs.signatures == direct.signatures
    for a, b in zip(direct.systems, from_runs.systems):
        assert a.scores == b.scores and a.ci == b.ci and a.p_values == b.p_values
        assert a.p_adjusted == b.p_adjusted and a.rank_ci == b.rank_ci and a.effects == b.effects


def test_different_references_are_refused_naming_the_digests(systems, saved, tmp_path):
    refs, named = systems
    _, paths = saved
    fewer = {k: v for k, v in list(refs.items())[:-1]}
    other = rrg_eval.score(predictions={k: named["base"][k] for k in fewer}, references=fewer, metrics=METRICS,
                           use_cache=False)
    other.save(tmp_path / "other.run")
    with pytest.raises(InputError, match=r"different references: .*base.run has references digest \w+ \(60 "
                                         r"reports\), .*other.run has \w+ \(59 reports\)"):
        rrg_eval.compare_runs(runs=[paths["base"], tmp_path / "other.run"])


def test_different_signatures_are_refused_naming_the_option(systems, saved, tmp_path):
    refs, named = systems
    _, paths = saved
    other = rrg_eval.score(predictions=named["mixed"], references=refs, metrics=["rouge"], use_cache=False,
                           rouge={"use_stemmer": False})
    other.save(tmp_path / "nostem.run")
    with pytest.raises(InputError, match=r"metric rouge: signatures differ .*: stem:yes vs stem:no"):
        rrg_eval.compare_runs(runs=[paths["base"], tmp_path / "nostem.run"], metrics=["rouge"])
    with pytest.raises(InputError, match="metric bleu is not in run"):
        rrg_eval.compare_runs(runs=[paths["base"], tmp_path / "nostem.run"], metrics=["bleu"])


def test_text_only_when_asked(saved, tmp_path):
    results, _ = saved
    results["base"].save(tmp_path / "with.run", with_text=True)
    back = load_run(tmp_path / "with.run")
    assert back.texts["predictions"] == results["base"].texts["predictions"]
    assert load_run(tmp_path / "with.run").references_digest == results["base"].references_digest


def test_same_result_same_bytes(saved, tmp_path):
    results, paths = saved
    results["base"].save(tmp_path / "again.run")
    assert (tmp_path / "again.run").read_bytes() == paths["base"].read_bytes()


def test_unreadable_runs_name_the_file(tmp_path, saved):
    _, paths = saved
    bad = tmp_path / "bad.run"
    bad.write_text("not a zip")
    with pytest.raises(InputError, match=r"bad.run: not an rrg-eval run file"):
        load_run(bad)
    newer = tmp_path / "newer.run"
    with zipfile.ZipFile(paths["base"]) as src, zipfile.ZipFile(newer, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "run.json":
                meta = json.loads(data)
                meta["format_version"] = FORMAT_VERSION + 1
                data = json.dumps(meta).encode()
            dst.writestr(item, data)
    with pytest.raises(InputError, match="newer than this rrg-eval reads"):
        load_run(newer)
    with pytest.raises(InputError, match="no such file"):
        load_run(tmp_path / "missing.run")


def test_named_tuples_only_from_allowed_modules():
    from rrg_eval.runs import decode, encode

    tree = encode([np.arange(3), (1, 2.5, float("nan")), {"a": np.float32(1.5)}], where="t")
    back = decode(json.loads(json.dumps(tree)), where="t", allowed_modules=frozenset())
    assert np.array_equal(back[0], np.arange(3)) and back[0].dtype == np.arange(3).dtype
    assert back[1][:2] == (1, 2.5) and np.isnan(back[1][2]) and back[2]["a"].dtype == np.float32
    with pytest.raises(InputError, match="may not load"):
        decode({"__nt__": "os:stat_result", "v": []}, where="t", allowed_modules=frozenset())


def test_cli_score_save_run_and_compare_runs(tmp_path, capsys):
    refs = tmp_path / "refs.jsonl"
    rows = [{"id": f"s{i}", "report": f"no acute finding number {i} seen", "patient_id": f"p{i // 2}"}
            for i in range(12)]
    refs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, fn in (("a", lambda r: r["report"]), ("b", lambda r: "normal chest")):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"id": r["id"], "report": fn(r)}) + "\n"
                                                        for r in rows))
        assert main(["score", str(tmp_path / f"{name}.jsonl"), str(refs), "--metrics", "bleu,rouge", "--no-cache",
                     "--save-run", str(tmp_path / f"{name}.run"), "--cluster-field", "patient_id",
                     "--format", "json"]) == 0
    capsys.readouterr()
    assert load_run(tmp_path / "a.run").clusters == {"field": "patient_id", "values": [r["patient_id"] for r in rows]}
    out = tmp_path / "board.json"
    assert main(["compare", "--runs", f"ref={tmp_path / 'a.run'}", str(tmp_path / "b.run"), "--resamples", "40",
                 "--cluster-field", "patient_id", "--adjust", "bh", "--format", "json", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["test"]["adjust"] == "bh" and data["test"]["cluster_field"] == "patient_id"
    assert data["test"]["clusters"] == 6
    b = data["systems"][1]
    assert b["name"] == "b" and set(b["p_adjusted"]) == set(b["p_values"]) == set(b["scores"])
    assert all(b["p_adjusted"][k] >= b["p_values"][k] for k in b["p_values"])
    assert set(b["effects"]["bleu4"]) == {"difference", "ci"}
    assert main(["compare", "--runs", str(tmp_path / "a.run"), str(tmp_path / "b.run"), "--sections", "x"]) == 2
    assert main(["compare", "--runs", str(tmp_path / "a.run"), str(tmp_path / "nope.run")]) == 2
    assert "nope.run: no such file" in capsys.readouterr().err


def test_cli_run_flags_need_save_run(tmp_path, capsys):
    refs = tmp_path / "refs.jsonl"
    refs.write_text(json.dumps({"id": "a", "report": "clear lungs"}) + "\n")
    for flag in (["--with-text"], ["--cluster-field", "patient_id"]):
        assert main(["score", str(refs), str(refs), "--metrics", "bleu", *flag]) == 2
        assert "needs --save-run RUN" in capsys.readouterr().err


def test_plot_has_a_rank_panel(saved, monkeypatch):
    pytest.importorskip("matplotlib")
    from rrg_eval.leaderboard import plot

    _, paths = saved
    board = rrg_eval.compare_runs(runs=paths, metrics=["bleu"], resamples=20)
    drawn = []
    original = plot._draw_ranks
    monkeypatch.setattr(plot, "_draw_ranks", lambda ax, lb, keys, *rest: (drawn.append(keys),
                                                                           original(ax, lb, keys, *rest)))
    svg = plot.plot_leaderboard(board, "svg")
    assert b"<svg" in svg and drawn == [board.keys]
    assert board.systems[1].rank_ci and "rank_intervals" in board.systems[1].to_dict()
