"""The wheel's package list (pyproject.toml) names every package folder, and installs no top-level `baselines`."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> tuple[list[str], dict[str, str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setup = data["tool"]["setuptools"]
    return list(setup["packages"]), dict(setup.get("package-dir", {}))


def test_every_package_folder_is_listed() -> None:
    packages, package_dir = _declared()
    found = set()
    for top, folder in (("rrg_eval", "rrg_eval"), *((k, v) for k, v in package_dir.items())):
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([top, *rel.parts]))
    assert found == set(packages)


def test_no_top_level_baselines_package() -> None:
    packages, package_dir = _declared()
    assert not any(p == "baselines" or p.startswith("baselines.") for p in packages)
    assert package_dir.get("rrg_baselines") == "baselines"
