"""Play Maze-v0 with the oracle on a few seeds and save the drawn images and the records.

    python examples/play_maze.py --episodes 3 --out runs/maze
"""

import argparse
from pathlib import Path

import gymnasium as gym
from PIL import Image

import mmsearch_gym  # noqa: F401  (registers the envs)
from mmsearch_gym.policies import OraclePolicy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--out", default="runs/maze")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = gym.make("mmsearch_gym/Maze-v0", render_mode="ansi")
    policy = OraclePolicy()
    for seed in range(args.episodes):
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy.act(env))
            done = terminated or truncated
            for i, img in enumerate(obs["images"]):
                Image.fromarray(img).save(out / f"seed{seed}_turn{info['turn']}_{i}.png")
        env.unwrapped.episode_record().save(out / "records.jsonl")
        print(env.render())
    print(f"images and records in {out}/")


if __name__ == "__main__":
    main()
