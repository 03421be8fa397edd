"""benchmarks/algos.py runs, and its batched and per-sequence-loop versions agree."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "algos.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_algos", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_small_run(capsys):
    rows = _load().main(["--n-seq", "24", "--seq-len", "64", "--group-size", "8", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "grpo on 24 sequences x 64 tokens, groups of 8" in out and "loss and grads match the loop" in out
    assert [r[0] for r in rows] == [
        "EpisodeBatch checks (once)",
        "advantages + loss",
        "advantages + loss + backward",
    ]
    assert all(r[1] > 0 for r in rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batched_matches_loop(seed):
    import torch

    bench = _load()
    inputs = bench.make_inputs(40, 32, 5, "cpu", seed=seed)  # groups of 5, uneven lengths
    v_loss, v_grad = bench.vectorized(bench.build_batch(inputs), inputs["logp"], backward=True)
    l_loss, l_grad = bench.loop(inputs, backward=True)
    torch.testing.assert_close(v_loss, l_loss, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(v_grad, l_grad, rtol=1e-5, atol=1e-9)
