"""The Ray engine's pure parts, without a cluster: blocks, coverage (nothing counted twice), merged warnings,
options and the CLI flags' checks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rrg_eval.cli import main
from rrg_eval.distributed import BlockOutput, RayEngine, block_bounds, check_coverage, merge_blocks
from rrg_eval.errors import ConfigError, MetricError


def _block(start: int, n: int, value: float = 1.0, warnings: list[str] | None = None,
           status: str = "ok") -> BlockOutput:
    ids = [f"r{start + i}" for i in range(n)]
    stats = {"x": np.arange(start, start + n, dtype=float) * value}
    payload = stats if status == "ok" else MetricError("boom")
    return BlockOutput(start=start, ids=ids, predictions=[""] * n, references=[""] * n,
                       metrics={"m": (status, payload, warnings or [])})


def test_block_bounds_are_contiguous_and_cover_every_row() -> None:
    for n, blocks in ((10, 1), (10, 4), (10, 10), (200, 16), (5, 3)):
        bounds = block_bounds(n, blocks)
        assert len(bounds) == blocks
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert [b - a for a, b in bounds] == [len(x) for x in np.array_split(np.arange(n), blocks)]


def test_block_count() -> None:
    assert RayEngine(workers=2).block_count(10) == 2
    assert RayEngine(workers=2, rows_per_block=3).block_count(10) == 4
    assert RayEngine(blocks=16).block_count(10) == 10  # never more blocks than rows
    assert RayEngine(blocks=4).block_count(0) == 0


def test_a_retried_block_is_kept_once() -> None:
    outputs = [_block(4, 4), _block(0, 4), _block(4, 4), _block(8, 2)]  # block 4 came back twice (a retry)
    ordered = check_coverage(outputs, 10)
    assert [o.start for o in ordered] == [0, 4, 8]
    merged = merge_blocks(ordered, ["m"])
    stats, error, _ = merged["m"]
    assert error is None and stats["x"].tolist() == list(range(10))


def test_missing_or_overlapping_rows_are_errors() -> None:
    with pytest.raises(MetricError, match="do not cover rows 4-5"):
        check_coverage([_block(0, 4), _block(6, 4)], 10)
    with pytest.raises(MetricError, match="cover 8 rows, expected 10"):
        check_coverage([_block(0, 4), _block(4, 4)], 10)
    with pytest.raises(MetricError, match="do not cover"):
        check_coverage([_block(0, 5), _block(4, 6)], 10)  # rows 4 counted twice
    other = _block(4, 4)
    other.ids = ["x"] * 4
    with pytest.raises(MetricError, match="two different outputs"):
        check_coverage([_block(0, 4), _block(4, 4), other], 8)


def test_merged_warnings_and_first_error() -> None:
    blocks = [_block(0, 2, warnings=["m: same"]), _block(2, 2, warnings=["m: same", "m: 1 odd"]),
              _block(4, 2, status="error")]
    stats, error, warnings = merge_blocks(blocks, ["m"])["m"]
    assert stats is None and isinstance(error, MetricError)
    assert warnings == ["m: same [in 2 blocks]", "m: 1 odd [rows 2-3]"]
    assert merge_blocks([_block(0, 2, warnings=["m: w"])], ["m"])["m"][2] == ["m: w"]  # one block: as is


def test_engine_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        RayEngine(workers=0)
    with pytest.raises(ConfigError, match="cpus_per_worker"):
        RayEngine(cpus_per_worker=0)


def test_ray_flags_need_the_ray_engine(tmp_path, capsys) -> None:
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "a", "report": "x"}\n')
    assert main(["score", str(preds), str(preds), "--workers", "2"]) == 2
    assert "--ray-address and --workers need --engine ray" in capsys.readouterr().err


def test_importing_the_engine_imports_no_ray_or_torch() -> None:
    code = "import rrg_eval, rrg_eval.distributed, rrg_eval.cli, sys; " \
           "print(sorted(m for m in ('ray', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_engine_that_is_not_one_is_a_config_error() -> None:
    import rrg_eval

    with pytest.raises(ConfigError, match="engine must be a rrg_eval.distributed.RayEngine"):
        rrg_eval.score(predictions=["a b"], references=["a b"], metrics=["bleu"], engine="ray")
    with pytest.raises(ConfigError, match="engine must be a rrg_eval.distributed.RayEngine"):
        rrg_eval.compare(systems={"x": ["a b"], "y": ["a c"]}, references=["a b"], metrics=["bleu"], engine="ray")
