"""benchmarks/trainer.py runs and accounts for the whole RL step."""

import importlib.util
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "trainer.py"


def test_trainer_benchmark_quick_run(capsys):
    spec = importlib.util.spec_from_file_location("bench_trainer", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = torch.get_num_threads()
    try:
        rows = module.main(["--quick", "--steps", "1", "--sft-steps", "1", "--threads", "1"])
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert "fatal_grpo RL step" in out and "tokens/s in generation" in out
    assert all(rows[p] >= 0 for p in ("generation", "env", "scoring", "update", "other"))
    parts = sum(rows[p] for p in ("generation", "env", "scoring", "update", "other"))
    assert rows["generation"] > 0 and rows["update"] > 0 and abs(parts - rows["total"]) < 1e-6 + 0.01 * rows["total"]
