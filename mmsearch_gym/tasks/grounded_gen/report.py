"""Per-category reports of GroundedGen episodes: KnowGen's K-score and FactIP's score, and a comparison grid.

- **K-score** (KnowGen, ``KnowGen_Eval/gpt_eval_knowgen.py``): per group, the mean of each
  criterion over the judged images (``text_accuracy`` over the images that need text only,
  0.5 when none does), then ``0.1·f + 0.4·v + 0.4·t + 0.1·a`` of those means, ×100.
- **FactIP score** (Unify-Agent, ``eval/calculate.py``): per image ``0.05·clarity +
  0.10·content_quality + 0.10·aesthetics + 0.75·text_relevance_ip`` on the judge's 0–10
  scale, averaged and ×10 (0–100); the total is the mean over all images.

Images that were never judged (no answer, 0 or 5 references, failed generation) are left
out, as both releases do; ``judged`` says how many of the episodes count.

    python -m mmsearch_gym.tasks.grounded_gen.report runs.jsonl [--by category|composition|difficulty]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...rewards.grounded_gen import FACTIP_WEIGHTS, IMAGE_WEIGHTS, factip_overall, image_scores


def read_episodes(path: str | Path) -> list[dict[str, Any]]:
    """Episode records (``EpisodeRecord.to_dict``) from a JSONL file such as ``play --out`` writes."""
    records = []
    with Path(path).open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError as err:
                    raise ValueError(f"{path}:{line_no}: not JSON ({err})") from None
    return records


def k_score(judge_jsons: Sequence[Any]) -> dict[str, float]:
    """KnowGen's group summary of image-judge JSONs (malformed ones skipped): criterion means and ``k_score`` (0–100)."""
    rows = [s for s in (image_scores(j) for j in judge_jsons) if s is not None]
    if not rows:
        return {k: 0.0 for k in IMAGE_WEIGHTS} | {"k_score": 0.0, "count": 0}
    out = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("faithfulness", "visual_correctness", "aesthetics")}
    text = [r["text_accuracy"] for r in rows if not r["text_accuracy_na"]]
    out["text_accuracy"] = round(float(np.mean(text)), 4) if text else 0.5
    out["k_score"] = round(100 * sum(w * out[k] for k, w in IMAGE_WEIGHTS.items()), 2)
    out["count"] = len(rows)
    return out


def factip_score(factip_jsons: Sequence[dict[str, Any]]) -> dict[str, float]:
    """FactIP's summary (0–100) of judge JSONs with integer 0–10 fields; incomplete ones skipped."""
    rows = [{k: float(j[k]) for k in FACTIP_WEIGHTS} for j in factip_jsons
            if isinstance(j, dict) and all(isinstance(j.get(k), (int, float)) for k in FACTIP_WEIGHTS)]  # fmt: skip
    if not rows:
        return {k: 0.0 for k in FACTIP_WEIGHTS} | {"factip": 0.0, "count": 0}
    out = {k: round(10 * float(np.mean([r[k] for r in rows])), 2) for k in FACTIP_WEIGHTS}
    out["factip"] = round(10 * float(np.mean([factip_overall(r) for r in rows])), 2)
    out["count"] = len(rows)
    return out


def summarize(records: Iterable[dict[str, Any]], by: str = "category") -> dict[str, dict[str, Any]]:
    """Per group (and ``"all"``): episodes, judged, mean reward, mean R_img / R_text, K-score and FactIP score."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        task = rec.get("task") or {}
        groups[str(task.get(by) or (rec.get("evaluation") or {}).get(by) or "unknown")].append(rec)
        groups["all"].append(rec)
    table = {}
    for name in sorted(groups, key=lambda g: (g == "all", g)):
        recs = groups[name]
        judged = [(r.get("evaluation") or {}).get("image_judge") for r in recs]
        judged = [j for j in judged if j is not None]
        comps = [r.get("reward_components") or {} for r in recs]
        table[name] = {
            "episodes": len(recs),
            "judged": len(judged),
            "reward": round(float(np.mean([r.get("reward", 0.0) for r in recs])), 4),
            "r_img": round(float(np.mean([c.get("image", 0.0) for c in comps])), 4),
            "r_text": round(float(np.mean([c.get("text", 0.0) for c in comps])), 4),
            "k_score": k_score(judged)["k_score"],
            "factip": factip_score([j.get("factip") for j in judged if isinstance(j, dict)])["factip"],
        }
    return table


def print_table(table: dict[str, dict[str, Any]], title: str = "GroundedGen") -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    cols = ("episodes", "judged", "reward", "r_img", "r_text", "k_score", "factip")
    t.add_column("group")
    for c in cols:
        t.add_column(c, justify="right")
    for name, row in table.items():
        t.add_row(name, *(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in cols))
    Console().print(t)


def comparison_grid(seeds: Sequence[int], agents: Sequence[str] = ("oracle", "no_search"), scale: float = 0.5,
                    env_kwargs: dict[str, Any] | None = None) -> np.ndarray:  # fmt: skip
    """Rows of tasks (one per seed), columns: the ground truth, then each agent's generated picture with its reward.

    Agents play with ``min_refs=0`` so that an answer without references is still drawn (and scored).
    """
    import cv2

    from ...envs.grounded_gen import GroundedGenEnv

    env = GroundedGenEnv(**{"min_refs": 0, **(env_kwargs or {})})
    rows = []
    for seed in seeds:
        cells = []
        for agent in agents:
            env.reset(seed=seed)
            done, info, reward = False, {}, 0.0
            while not done:
                _, reward, terminated, truncated, info = env.step(env.scripted_action(agent))
                done = terminated or truncated
            task = env.gg_task
            assert task is not None and task.gt_image is not None
            if not cells:
                cells.append(_label(task.gt_image, f"ground truth · {task.category} · {task.composition}"))
            image = env.generated_image if env.generated_image is not None else np.full_like(task.gt_image, 255)
            cells.append(_label(image, f"{agent} · R={reward:.2f} · R_img={info['reward_components'].get('image', 0):.2f}"))
        rows.append(np.concatenate(cells, axis=1))
    env.close()
    grid = np.concatenate(rows, axis=0)
    h, w = grid.shape[:2]
    return cv2.resize(grid, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA) if scale != 1 else grid


def _label(image: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    from ...world.shapes import font

    im = Image.new("RGB", (image.shape[1], image.shape[0] + 36), (255, 255, 255))
    im.paste(Image.fromarray(np.ascontiguousarray(image[:, :, :3])), (0, 36))
    ImageDraw.Draw(im).text((8, 8), text, fill=(10, 10, 10), font=font(20))
    return np.asarray(im)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="K-score and FactIP score per group of GroundedGen episodes")
    parser.add_argument("episodes", help="a JSONL file of episode records (e.g. from `mmsearch-gym play --out`)")
    parser.add_argument("--by", default="category", choices=("category", "composition", "difficulty"))
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args(argv)
    table = summarize(read_episodes(args.episodes), by=args.by)
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        print_table(table, f"GroundedGen · {args.episodes} · by {args.by}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
