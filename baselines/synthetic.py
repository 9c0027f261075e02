"""A synthetic study set whose images determine the report, to prove that the generator learns.

Each study has two or three 32x32 grayscale views. A wide bright central shape means cardiomegaly (narrow:
normal heart); a bright band at the bottom of one side of the frontal views means a pleural effusion on that
side (radiological convention: the patient's right is the image's left). Lateral views show the heart and, for
any effusion, a band across the bottom. Rows also carry ``findings`` and ``impression`` sections. The report
is a fixed sentence per finding, lower case with spaced punctuation (so whitespace-tokenised metrics see clean
tokens).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HEART = {False: "the heart is normal in size .", True: "the heart is enlarged ."}
EFFUSION = {"none": "no pleural effusion .", "right": "small right pleural effusion .",
            "left": "small left pleural effusion ."}
LUNGS = "the lungs are otherwise clear ."


def report(cardiomegaly: bool, effusion: str) -> str:
    return f"{HEART[cardiomegaly]} {EFFUSION[effusion]} {LUNGS}"


def impression(cardiomegaly: bool, effusion: str) -> str:
    found = (["cardiomegaly"] if cardiomegaly else []) + ([f"{effusion} effusion"] if effusion != "none" else [])
    return (" and ".join(found) if found else "no acute disease") + " ."


def draw(cardiomegaly: bool, effusion: str, lateral: bool, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """One view as uint8 (size, size)."""
    img = rng.normal(40, 10, (size, size))
    yy, xx = np.mgrid[0:size, 0:size]
    half_width = (0.30 if cardiomegaly else 0.14) * size * rng.uniform(0.9, 1.1)
    cx, cy = size / 2 + rng.uniform(-1, 1), size * 0.55
    heart = ((xx - cx) / half_width) ** 2 + ((yy - cy) / (0.2 * size)) ** 2 <= 1
    img[heart] += 120
    band = yy >= int(size * 0.8)
    if effusion != "none":
        if lateral:
            img[band] += 150
        else:
            side = xx < size * 0.4 if effusion == "right" else xx >= size * 0.6
            img[band & side] += 150
    return np.clip(img, 0, 255).astype(np.uint8)


def make_studies(n: int, folder: str | Path, *, seed: int = 0, prefix: str = "s") -> list[dict]:
    """Write ``n`` studies' PNGs into ``folder``; returns rows ``{id, report, images, views}``."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        cardio = bool(rng.integers(2))
        effusion = ["none", "right", "left"][int(rng.integers(3))]
        n_views = int(rng.integers(2, 4))
        labels = ["PA", "LATERAL", "PA"][:n_views]
        names = []
        for v, label in enumerate(labels):
            name = f"{prefix}{k}_{v}.png"
            Image.fromarray(draw(cardio, effusion, label == "LATERAL", rng)).save(folder / name)
            names.append(name)
        rows.append({"id": f"{prefix}{k}", "report": report(cardio, effusion), "images": names, "views": labels,
                     "findings": f"{HEART[cardio]} {EFFUSION[effusion]}", "impression": impression(cardio, effusion)})
    return rows


def write_jsonl(rows: list[dict], path: str | Path) -> None:
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_demo(folder: str | Path, n_train: int = 160, n_val: int = 16, n_test: int = 40) -> None:
    """``folder/{train,val,test}.jsonl`` and ``folder/images/`` (seeds 0, 1, 2): the set the slow test uses; and
    ``test_findings.jsonl`` / ``test_sections.jsonl``, the references of the per-section recipes."""
    folder = Path(folder)
    images = folder / "images"
    write_jsonl(make_studies(n_train, images, seed=0), folder / "train.jsonl")
    write_jsonl(make_studies(n_val, images, seed=1, prefix="v"), folder / "val.jsonl")
    test = make_studies(n_test, images, seed=2, prefix="t")
    write_jsonl(test, folder / "test.jsonl")
    # references of the section recipes: findings only (LLaVA-Rad), findings then impression (RRG24)
    write_jsonl([{"id": r["id"], "report": r["findings"]} for r in test], folder / "test_findings.jsonl")
    write_jsonl([{"id": r["id"], "report": f'{r["findings"]} {r["impression"]}'} for r in test],
                folder / "test_sections.jsonl")


if __name__ == "__main__":  # python -m baselines.synthetic OUT_DIR
    import sys

    write_demo(sys.argv[1] if len(sys.argv) > 1 else "synthetic")
