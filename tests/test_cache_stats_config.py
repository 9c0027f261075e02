"""The shared pieces: the annotation cache, row statistics, config coercion and signatures, atomic writes."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import pytest

from rrg_eval.cache import AnnotationCache, text_key
from rrg_eval.errors import ConfigError
from rrg_eval.option_spec import coerce, option, replace, signature_parts, to_dict
from rrg_eval.outputs import write_text as write_text_atomic
from rrg_eval.stats import concat, n_rows, take

# -- AnnotationCache ---------------------------------------------------------------------------------------------


def _fill(cache: AnnotationCache, n: int = 300) -> dict[str, bytes]:
    items = {text_key(f"report {i}"): (f"value {i} ".encode() * 40) for i in range(n)}
    cache.put_many(items)
    return items


def test_cache_round_trip_and_persistence(tmp_path: Path) -> None:
    cache = AnnotationCache(tmp_path / "c", "chexbert/abc 123")
    assert cache.enabled and cache.path == tmp_path / "c" / "chexbert_abc_123.sqlite"
    items = _fill(cache)
    keys = list(items)
    assert cache.get_many([*keys[:3], "absent", keys[0]]) == {k: items[k] for k in keys[:3]}
    assert len(cache) == len(items)
    cache.put_many({keys[0]: b"replaced"})
    cache.close()
    again = AnnotationCache(tmp_path / "c", "chexbert/abc 123")
    found = again.get_many(keys)
    assert found[keys[0]] == b"replaced" and found[keys[1]] == items[keys[1]] and len(found) == len(keys)
    assert again.rebuilt is False
    assert AnnotationCache(tmp_path / "c", "other").get_many(keys) == {}  # namespaces are separate
    again.close()


def test_text_key() -> None:
    assert text_key("a") == text_key("a") != text_key("b")
    assert text_key("ab", "c") != text_key("a", "bc")  # parts are length-prefixed
    assert len(text_key("x")) == 64


def test_corrupt_cache_file_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "ns.sqlite"
    path.write_bytes(os.urandom(8192))
    cache = AnnotationCache(tmp_path, "ns")
    assert cache.get_many(["k"]) == {}
    assert cache.rebuilt is True
    cache.put_many({"k": b"v"})
    assert cache.get_many(["k"]) == {"k": b"v"}
    cache.close()
    assert len(list(tmp_path.glob("ns.corrupt-*"))) == 1  # moved aside, not deleted
    reopened = AnnotationCache(tmp_path, "ns")
    assert reopened.get_many(["k"]) == {"k": b"v"} and reopened.rebuilt is False
    reopened.close()


def test_truncated_cache_file_is_rebuilt(tmp_path: Path) -> None:
    cache = AnnotationCache(tmp_path, "ns")
    items = _fill(cache, 400)
    cache.close()
    path = tmp_path / "ns.sqlite"
    size = path.stat().st_size
    assert size > 100_000
    with open(path, "r+b") as handle:
        handle.truncate(size // 3)
    broken = AnnotationCache(tmp_path, "ns")
    found = broken.get_many(list(items))  # must not raise
    assert broken.rebuilt is True
    assert found == {}
    broken.put_many({"k": b"v"})
    assert broken.get_many(["k"]) == {"k": b"v"}
    assert len(broken) == 1
    broken.close()
    with sqlite3.connect(str(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("cut", [1, 4096, 4097])
def test_slightly_truncated_cache_file_is_rebuilt(tmp_path: Path, cut: int) -> None:
    """Regression: a file missing its last byte passed ``quick_check`` and returned a value cut short."""
    cache = AnnotationCache(tmp_path, "ns")
    items = _fill(cache, 400)
    cache.close()
    path = tmp_path / "ns.sqlite"
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - cut)
    broken = AnnotationCache(tmp_path, "ns")
    found = broken.get_many(list(items))
    assert broken.rebuilt is True and found == {}
    broken.close()


def test_cache_disabled_without_folder() -> None:
    cache = AnnotationCache(None, "ns")
    assert not cache.enabled and cache.path is None
    cache.put_many({"k": b"v"})
    assert cache.get_many(["k"]) == {}
    assert len(cache) == 0
    cache.close()


# -- stats.take / concat -----------------------------------------------------------------------------------------

def test_take_and_concat() -> None:
    stats = {"counts": np.arange(8).reshape(4, 2), "rows": ["a", "b", "c", "d"]}
    assert n_rows(stats) == 4 and n_rows({}) == 0
    picked = take(stats, [3, 0, 3])
    np.testing.assert_array_equal(picked["counts"], [[6, 7], [0, 1], [6, 7]])
    assert picked["rows"] == ["d", "a", "d"]
    assert n_rows(take(stats, np.array([], dtype=int))) == 0
    joined = concat(stats, picked)
    assert n_rows(joined) == 7 and joined["rows"] == ["a", "b", "c", "d", "d", "a", "d"]
    np.testing.assert_array_equal(joined["counts"][4:], picked["counts"])
    assert stats["rows"] == ["a", "b", "c", "d"]  # inputs untouched
    with pytest.raises(ValueError, match="different columns"):
        concat(stats, {"counts": stats["counts"]})


def test_aggregate_of_concatenated_halves_equals_whole() -> None:
    from rrg_eval.metrics.registry import load_metric

    preds = ["the heart is normal", "no effusion", "mild cardiomegaly", "lungs are clear"]
    refs = ["heart size normal", "no pleural effusion", "cardiomegaly", "the lungs are clear"]
    for name in ("bleu", "cider", "rouge"):
        metric = load_metric(name)
        stats = metric.compute(predictions=preds, references=refs).stats
        halves = concat(take(stats, [0, 1]), take(stats, [2, 3]))
        assert metric.aggregate(halves) == metric.aggregate(stats), name


# -- config: coerce, replace, signature_parts --------------------------------------------------------------------

@pytest.mark.parametrize(("value", "tp", "expected"), [
    ("true", bool, True), ("YES", bool, True), (" on ", bool, True), ("0", bool, False), ("off", bool, False),
    (False, bool, False),
    ("3", int, 3), (7, int, 7),
    ("2.5", float, 2.5), ("1e-3", float, 1e-3), (3, float, 3.0),
    ("lower", Literal["none", "lower"], "lower"), (2, Literal[1, 2], 2), ("2", Literal[1, 2], 2),
    ("a, b,,c", tuple[str, ...], ("a", "b", "c")), (["1", 2], tuple[int, ...], (1, 2)),
    ("none", Optional[int], None), (None, Optional[int], None), ("null", int | None, None),  # noqa: UP045 (typing.Union on purpose)
    ("4", int | None, 4), ("x", str, "x"), (5, str, "5"),
])
def test_coerce_accepts(value: object, tp: object, expected: object) -> None:
    got = coerce(value, tp, where="m.f")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("value", "tp", "message"), [
    ("maybe", bool, "m.f: expected true or false, got 'maybe'"), (1, bool, "expected true or false"),
    ("3.5", int, "m.f: expected an integer, got '3.5'"), (True, int, "expected an integer"),
    ("wide", float, "m.f: expected a number, got 'wide'"), (True, float, "expected a number"),
    ("upper", Literal["none", "lower"], "m.f: 'upper' is not one of 'none', 'lower'"),
    (3, tuple[str, ...], "expected a comma-separated list"), (["a"], tuple[int, ...], "expected an integer"),
    ("x", int | None, "expected an integer"), (None, str, "expected a string"),
])
def test_coerce_rejects(value: object, tp: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        coerce(value, tp, where="m.f")


@dataclass(frozen=True)
class _Config:
    """A config with every kind of field."""

    use_stemmer: bool = option(True, sig="stem", help="stem")
    n: int = option(4)
    labels: tuple[str, ...] = option(("a", "b"))
    limit: float | None = option(None)
    batch_size: int = option(32, in_signature=False, help="cannot change a number")


def test_signature_parts_and_replace() -> None:
    config = _Config()
    assert signature_parts(config) == ["stem:yes", "n:4", "labels:a,b", "limit:none"]
    changed = replace(config, {"use_stemmer": "no", "limit": "0.5", "batch_size": "8", "labels": "x"}, metric="m")
    assert signature_parts(changed) == ["stem:no", "n:4", "labels:x", "limit:0.5"]
    assert changed.batch_size == 8 and config.batch_size == 32
    assert to_dict(changed) == {"use_stemmer": False, "n": 4, "labels": ["x"], "limit": 0.5, "batch_size": 8}
    assert replace(config, {}, metric="m") is config
    with pytest.raises(ConfigError, match="unknown option m.stem; valid options of m: use_stemmer, n, labels, limit, "
                                          "batch_size"):
        replace(config, {"stem": False}, metric="m")


def test_option_rejects_mutable_defaults() -> None:
    with pytest.raises(TypeError, match="immutable"):
        option(["a"])


# -- atomic writes ---------------------------------------------------------------------------------------------

def test_write_text_atomic(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "out.json"
    write_text_atomic(target, "first\n")
    write_text_atomic(target, "second é\n")
    assert target.read_text(encoding="utf-8") == "second é\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temporary files left
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_text_atomic_failure_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text_atomic(target, "complete\n")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "half \ud800 written")  # a lone surrogate cannot be encoded
    assert target.read_text(encoding="utf-8") == "complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
