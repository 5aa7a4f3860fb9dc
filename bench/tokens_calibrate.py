"""Fit the offline token heuristic against ctok and report its error per kind of text.

Run: .venv/bin/python bench/tokens_calibrate.py  (needs ctok; prints coefficients to paste
into claudechat/estimates.py and the held-out median absolute error per class)."""

from __future__ import annotations

import glob
import json
import random
import statistics
import sys
from pathlib import Path

import numpy as np

from claudechat import estimates

FAMILIES = {"claude3": "3.0", "claude47": "4.8"}


def corpus(seed: int = 7) -> list[tuple[str, str]]:
    """(class, text) chunks: English prose, Python, JSON, a little Chinese."""
    from pydoc_data import topics

    rng = random.Random(seed)
    out: list[tuple[str, str]] = []

    def chunks(kind: str, text: str, size: int) -> None:
        for i in range(0, len(text) - size, size):
            out.append((kind, text[i : i + size]))

    prose = "\n".join(topics.topics.values())
    chunks("prose", prose, 1500)
    lib = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for path in sorted(glob.glob(str(lib / "*.py")))[:120]:
        chunks("code", Path(path).read_text(errors="ignore"), 1500)
    for _ in range(300):
        record = [
            {
                "id": rng.randint(1, 10**6),
                "name": rng.choice(["alpha", "Beta Co", "gamma-ray", "Delta"])
                + str(rng.randint(0, 99)),
                "price": round(rng.uniform(0, 1000), 2),
                "tags": rng.sample(["red", "green", "blue", "urgent", "archived", "vip"], 3),
                "active": rng.random() < 0.5,
                "created": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            }
            for _ in range(rng.randint(3, 12))
        ]
        out.append(("json", json.dumps(record, indent=rng.choice([None, 2]))))
    han = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可"
    for _ in range(60):
        out.append(("cjk", "".join(rng.choice(han) for _ in range(rng.randint(50, 400))) + "。"))
    rng.shuffle(out)
    return out


def main() -> int:
    """Fit per family on half the chunks; report error on the other half."""
    try:
        import ctok  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        print("ctok is not installed: nothing to calibrate against")
        return 1
    data = corpus()
    half = len(data) // 2
    for family, version in FAMILIES.items():
        frame = ctok.token_count("x", version) - 1
        feats = np.array([estimates._features(t) for _, t in data])
        truth = np.array([ctok.token_count(t, version) - frame for _, t in data], dtype=float)
        weights = 1.0 / np.maximum(truth, 1)  # fit relative error, not absolute
        a = feats[:half] * weights[:half, None]
        b = truth[:half] * weights[:half]
        coef, *_ = np.linalg.lstsq(a, b, rcond=None)
        print(f"{family}: ({', '.join(f'{c:.4f}' for c in coef)})")
        for kind in ("prose", "code", "json", "cjk"):
            idx = [i for i in range(half, len(data)) if data[i][0] == kind]
            errs = [abs(float(feats[i] @ coef) - truth[i]) / truth[i] for i in idx]
            c4 = [abs(len(data[i][1]) / 4 - truth[i]) / truth[i] for i in idx]
            print(
                f"  {kind:6} n={len(idx):4} heuristic median {statistics.median(errs):6.1%}"
                f"  chars/4 median {statistics.median(c4):6.1%}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
