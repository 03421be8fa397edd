"""One dispatch point: on the kernels' backend an algorithm runs the fused advantage and loss
kernels (Triton under the CPU interpreter here), with the numbers of its own torch code."""

import pytest
import torch

import algos
from algos import EpisodeBatch, kernels
from algos.grpo import GRPO


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    B, T = 12, 9
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[4] = 0  # a fully masked row
    pos = torch.arange(T)[None, :]
    response = pos < lengths[:, None]
    turn_index = torch.where(response, (pos * 3) // T, -1)
    return EpisodeBatch(
        input_ids=torch.zeros(B, T, dtype=torch.long),
        response_mask=response,
        group_ids=torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3]),  # group 3 is a group of one
        rewards=torch.rand(B, generator=g),
        turn_index=turn_index,
        fatal_turn=torch.tensor([-1, 0, 2, -1, 1, -1, 3, -1, 0, -1, 1, -1]),
        n_valid_tool_calls=torch.randint(0, 9, (B,), generator=g),
        tool_benefit=torch.rand(B, generator=g) * 2 - 1,
        thinking_reward=torch.rand(B, generator=g),
        rrm_score=torch.rand(B, generator=g),
        refined=torch.arange(B) % 2 == 1,
        old_logp=-torch.rand(B, T, generator=g),
    )


FUSED = [
    ("grpo", {}),
    ("grpo", {"scale_rewards": "batch"}),
    ("dr_grpo", {}),
    ("rloo", {}),
    ("fatal_grpo", {}),
    ("fatal_grpo", {"estimator": "grpo", "clamp_unanswered": False, "drop_from_group": True}),
    ("fatal_grpo", {"mask_fatal": False, "clamp_fatal": False}),
    ("at_grpo", {}),
    ("trust_grpo", {}),
    ("reagent_r", {}),
    ("reagent_u", {"pooling": "separate"}),
]


@pytest.fixture
def spy(monkeypatch):
    pytest.importorskip("triton")
    calls = []
    real = kernels.advantages_and_mask

    def counted(*args, **kwargs):
        calls.append(kwargs.get("estimator"))
        return real(*args, **kwargs)

    monkeypatch.setattr(kernels, "advantages_and_mask", counted)
    return calls


def _run(name, options, monkeypatch, backend):
    monkeypatch.setenv(kernels.ENV_VAR, backend)
    algo = algos.make(name, **options)
    batch = _batch()
    adv, mask = algo.compute_advantages(batch, step=3)
    logp = batch.old_logp + 0.05 * torch.randn(batch.old_logp.shape, generator=torch.Generator().manual_seed(1))
    logp.requires_grad_()
    loss, metrics = algo.compute_loss(logp, batch, adv, mask)
    loss.backward()
    return adv, mask, loss.detach(), metrics, logp.grad


@pytest.mark.parametrize("name, options", FUSED)
def test_fused_path_gives_the_algorithms_numbers(spy, monkeypatch, name, options):
    adv, mask, loss, metrics, grad = _run(name, options, monkeypatch, "torch")
    assert spy == []  # the torch path is the algorithm's own code
    f_adv, f_mask, f_loss, f_metrics, f_grad = _run(name, options, monkeypatch, "triton")
    assert len(spy) == 1  # advantages and mask in one fused call
    assert torch.equal(f_mask, mask)
    torch.testing.assert_close(f_adv, adv, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(f_loss, loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(f_grad, grad, rtol=1e-5, atol=1e-7)
    assert f_metrics.keys() == metrics.keys()
    for k in metrics:
        assert f_metrics[k] == pytest.approx(metrics[k], rel=1e-5, abs=1e-6), k


def test_dapo_and_overriding_subclasses_keep_their_own_code(spy, monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "triton")
    algos.make("dapo").compute_advantages(_batch())  # its loss mask drops groups: not a kernel option
    assert spy == []

    class Flipped(GRPO):  # overrides the estimator but not kernel_options
        def sequence_advantages(self, rewards, batch):
            return -super().sequence_advantages(rewards, batch)

    batch = _batch()
    adv, _ = Flipped().compute_advantages(batch)
    assert spy == []
    monkeypatch.setenv(kernels.ENV_VAR, "torch")
    torch.testing.assert_close(adv, -algos.make("grpo").compute_advantages(batch)[0])
