"""kernels.clipped_loss against core.clipped_policy_loss + core.aggregate, forward, metrics and gradient."""

import pytest
import torch

import algos
from algos import EpisodeBatch, core, kernels
from algos.kernels import reference

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def triton_backend(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.setenv(kernels.ENV_VAR, "triton")


def _inputs(B=11, T=29, seed=0, dtype=torch.float32):
    """Ratios inside and outside the clip range on both sides, beyond ±20 in log space,
    ratio exactly 1, advantages of both signs and 0, fully masked rows, NaN off the mask."""
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(B, T, generator=g) * 4
    logp = old + torch.randn(B, T, generator=g) * 0.4
    logp[0, :5] = old[0, :5]  # on-policy tokens: ratio exactly 1
    logp[1, 0], logp[1, 1] = old[1, 0] + 25.0, old[1, 1] - 25.0  # log-ratio clamped at ±20
    adv = torch.randn(B, generator=g)[:, None].expand(B, T).clone()
    adv[2] = 0.0
    mask = torch.rand(B, T, generator=g) > 0.25
    mask[3] = False
    mask[B - 1] = False
    logp[3, 2] = float("nan")  # off the mask: must not leak
    return [t.to(DEVICE) for t in (logp.to(dtype), old, adv, mask)]


def _run(fn, logp, old, adv, mask, **kw):
    x = logp.detach().clone().requires_grad_()
    loss, metrics = fn(x, old, adv, mask, **kw)
    loss.backward()
    return loss, metrics, x.grad


MODES = list(core.LOSS_AGG_MODES)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("clip_ratio_c", [3.0, None])
def test_matches_reference(triton_backend, mode, clip_ratio_c):
    inputs = _inputs(seed=MODES.index(mode))
    kw = {"clip_low": 0.2, "clip_high": 0.28, "clip_ratio_c": clip_ratio_c, "loss_agg_mode": mode}
    loss, metrics, grad = _run(kernels.clipped_loss, *inputs, **kw)
    r_loss, r_metrics, r_grad = _run(reference.clipped_loss, *inputs, **kw)
    # rtol 1e-5: a GPU's fp32 exp (ex2.approx) is ~1e-6 off torch's at |log ratio| = 20
    torch.testing.assert_close(loss, r_loss, rtol=1e-5, atol=1e-7)
    assert metrics.keys() == r_metrics.keys()
    for k in metrics:
        torch.testing.assert_close(metrics[k].float(), r_metrics[k].float(), rtol=1e-5, atol=1e-7, msg=k)
    assert 0 < metrics["pg_clipfrac"] < 1
    torch.testing.assert_close(grad, r_grad, rtol=1e-5, atol=1e-8)
    assert torch.isfinite(grad).all() and grad[1, 0] == 0 and grad[1, 1] == 0  # clamped log-ratio


def test_loss_scale_factor(triton_backend):
    inputs = _inputs(seed=7)
    kw = {"loss_agg_mode": "seq-mean-token-sum-norm", "loss_scale_factor": 512.0}
    loss, _, grad = _run(kernels.clipped_loss, *inputs, **kw)
    r_loss, _, r_grad = _run(reference.clipped_loss, *inputs, **kw)
    torch.testing.assert_close(loss, r_loss, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(grad, r_grad, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_fully_masked_batch_gives_zero_loss_and_zero_gradient(triton_backend, mode):
    logp, old, adv, mask = _inputs(seed=8)
    loss, metrics, grad = _run(kernels.clipped_loss, logp, old, adv, torch.zeros_like(mask), loss_agg_mode=mode)
    assert loss.item() == 0.0 and torch.equal(grad, torch.zeros_like(grad))
    assert metrics["n_loss_tokens"].item() == 0 and metrics["pg_clipfrac"].item() == 0


def test_bf16_logp_against_fp32_reference(triton_backend):
    logp, old, adv, mask = _inputs(seed=9, dtype=torch.bfloat16)
    loss, _, grad = _run(kernels.clipped_loss, logp, old, adv, mask, loss_agg_mode="seq-mean-token-mean")
    r_loss, _, r_grad = _run(reference.clipped_loss, logp.float(), old, adv, mask, loss_agg_mode="seq-mean-token-mean")
    assert loss.dtype == grad.dtype == torch.bfloat16
    torch.testing.assert_close(loss.float(), r_loss, rtol=1e-2, atol=1e-3)
    torch.testing.assert_close(grad.float(), r_grad, rtol=1e-2, atol=1e-5)


def test_long_rows_span_several_blocks(triton_backend):
    # T = 5000 > the kernel's 4096-token block under the interpreter (1024 on a GPU)
    inputs = _inputs(B=4, T=5000, seed=10)
    loss, metrics, grad = _run(kernels.clipped_loss, *inputs)
    r_loss, r_metrics, r_grad = _run(reference.clipped_loss, *inputs)
    torch.testing.assert_close(loss, r_loss, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(metrics["ratio_mean"], r_metrics["ratio_mean"], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad, r_grad, rtol=1e-5, atol=1e-10)


def test_exact_ties_split_the_gradient_like_torch(triton_backend):
    # ratio exp(0) = 1 exactly on every device: with clip_high = 0 it sits on the upper clip
    # (a min() tie), and with clip_ratio_c = 1 and A < 0 the objective sits on the dual-clip
    # floor (a max() tie); torch gives each branch of a tie half the gradient.
    logp = torch.zeros(1, 3, device=DEVICE)
    adv = torch.tensor([[1.0, -1.0, 0.5]], device=DEVICE)
    mask = torch.ones_like(logp, dtype=torch.bool)
    kw = {"clip_low": 0.2, "clip_high": 0.0, "clip_ratio_c": 1.0}
    _, _, grad = _run(kernels.clipped_loss, logp, logp.clone(), adv, mask, **kw)
    _, _, r_grad = _run(reference.clipped_loss, logp, logp.clone(), adv, mask, **kw)
    torch.testing.assert_close(grad, r_grad, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["grpo", "dapo", "fatal_grpo"])
def test_same_as_algorithm_compute_loss(triton_backend, monkeypatch, name):
    logp, old, _, mask = _inputs(seed=11)
    B, T = mask.shape
    batch = EpisodeBatch(
        input_ids=torch.zeros(B, T, dtype=torch.long, device=DEVICE),
        response_mask=mask,
        group_ids=torch.arange(B, device=DEVICE) // 4,
        rewards=torch.linspace(0, 1, B, device=DEVICE),
        old_logp=old,
    )
    algo = algos.make(name, kl_coef=0.0) if name == "fatal_grpo" else algos.make(name)
    adv, loss_mask = algo.compute_advantages(batch)
    cfg = algo.config
    logp = torch.where(mask, logp, 0.0)
    x = logp.clone().requires_grad_()
    monkeypatch.setenv(kernels.ENV_VAR, "torch")  # the algorithm's own torch code ...
    want, want_metrics = algo.compute_loss(x, batch, adv, loss_mask)
    want.backward()
    monkeypatch.setenv(kernels.ENV_VAR, "triton")  # ... against the kernel
    got, metrics, grad = _run(
        kernels.clipped_loss,
        logp,
        old,
        adv,
        loss_mask,
        clip_low=cfg.clip_low,
        clip_high=cfg.clip_high,
        clip_ratio_c=cfg.clip_ratio_c,
        loss_agg_mode=cfg.loss_agg_mode,
        loss_scale_factor=cfg.loss_scale_factor,
    )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad, x.grad, rtol=1e-5, atol=1e-9)
    for k, v in metrics.items():
        assert v.item() == pytest.approx(want_metrics[k], rel=1e-5, abs=1e-7), k


def test_torch_path_is_the_reference(monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "torch")
    inputs = _inputs(seed=12)
    loss, metrics = kernels.clipped_loss(*inputs)
    r_loss, r_metrics = reference.clipped_loss(*inputs)
    assert torch.equal(loss, r_loss) and metrics.keys() == r_metrics.keys()


def test_bad_arguments():
    logp, old, adv, mask = _inputs()
    with pytest.raises(ValueError, match="unknown loss_agg_mode"):
        kernels.clipped_loss(logp, old, adv, mask, loss_agg_mode="sum")
    with pytest.raises(ValueError, match="mask has shape"):
        kernels.clipped_loss(logp, old, adv, mask[:, :3])
