"""Shared ops of the GRPO family on plain tensors: advantages, policy loss, aggregation, KL.

Conventions follow verl (``core_algos.py``) and TRL, so numbers can be compared:

- advantage estimators (``ADVANTAGE_ESTIMATORS``, picked by name with
  :func:`estimate_advantages`), per sequence, from rewards [B] and group ids [B]:
  ``grpo``    A = (r - mean_g) / (std_g + eps), std unbiased (Bessel); ``scale_rewards``
              "group" (per-group std), "batch" (std of all rewards), "none" (no division).
  ``dr_grpo`` A = r - mean_g (Dr. GRPO, arXiv 2503.20783).
  ``rloo``    A = r - mean of the *other* members = n/(n-1) (r - mean_g) (arXiv 2402.14740).
  **A group of one gets advantage 0** (it has no baseline), as in TRL and verl's vectorised
  RLOO (``rloo_vectorized``); verl's loop estimators give it r/(1+eps) (GRPO) or r (RLOO).
  A group whose rewards are all equal also gets exactly 0 (no float noise from the mean).
- clipped policy loss (``POLICY_LOSSES["clipped"]``), per token, ρ = exp(logp - old_logp):
  ``-min(ρA, clip(ρ, 1-clip_low, 1+clip_high)A)``; with dual clip (``clip_ratio_c``, arXiv
  1912.09729) negative-advantage tokens are capped at ``-clip_ratio_c * A``.
- ``aggregate`` (``LOSS_AGG_MODES``), as verl's ``agg_loss``. **Sequence means skip fully
  masked rows** (as verl; TRL counts them in the denominator), and a fully masked batch
  gives exactly 0, never NaN:
  ``token-mean``               Σ_bt l·m / Σ_bt m
  ``seq-mean-token-sum``       Σ_b (Σ_t l·m) / (number of rows with a loss token)
  ``seq-mean-token-mean``      Σ_b (Σ_t l·m / Σ_t m) / (number of rows with a loss token)
  ``seq-mean-token-sum-norm``  Σ_bt l·m / scale, scale = ``loss_scale_factor`` or T (the
                               mask's width); no mean over sequences (Dr. GRPO)
- KL estimators (``KL_ESTIMATORS``), per token, x = ref_logp - logp (Schulman 2020):
  ``k1`` = -x = logp - ref_logp;  ``k3`` = exp(x) - x - 1 (x clamped to ±20, result to ±10).
- the fatal-failure clamp and mask of OpenSearch-VL (arXiv 2605.05185; ``fatal_grpo``):
  :func:`fatal_clamp`, :func:`fatal_mask`, :func:`unanswered`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor

from algos.validation import check_finite, check_shape, sample_list

ADVANTAGE_ESTIMATORS: dict[str, Callable[..., Tensor]] = {}
POLICY_LOSSES: dict[str, Callable[..., tuple[Tensor, dict[str, Tensor]]]] = {}
KL_ESTIMATORS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {}
LOSS_AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
SCALE_REWARDS = ("group", "batch", "none")


def _registrar(table: dict[str, Callable], kind: str) -> Callable[[str], Callable]:
    def register(name: str) -> Callable:
        def decorator(fn: Callable) -> Callable:
            if name in table:
                raise ValueError(f"{kind} {name!r} is already registered")
            table[name] = fn
            return fn

        return decorator

    return register


register_advantage_estimator = _registrar(ADVANTAGE_ESTIMATORS, "advantage estimator")
register_policy_loss = _registrar(POLICY_LOSSES, "policy loss")
register_kl_estimator = _registrar(KL_ESTIMATORS, "KL estimator")


def lookup(table: dict[str, Callable], name: str, kind: str) -> Callable:
    """``table[name]``, or a ValueError listing the known names."""
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    return table[name]


# -- advantage estimators -----------------------------------------------------------------


def group_stats(rewards: Tensor, group_ids: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-sample group mean, unbiased group variance and a flag for "no baseline".

    The flag is True for groups of one and for groups whose rewards are all equal: both get
    advantage 0 exactly (float rounding of the mean must not turn 0/0 into ±1 or NaN).
    """
    check_shape(group_ids, tuple(rewards.shape), "group_ids")
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be [B], got shape {tuple(rewards.shape)}")
    check_finite(rewards, "rewards")
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)
    n_groups = counts.numel()
    counts_f = counts.to(rewards.dtype)
    mean = torch.zeros(n_groups, dtype=rewards.dtype, device=rewards.device).index_add_(0, inverse, rewards)
    mean = mean / counts_f
    centred = rewards - mean[inverse]
    sq = torch.zeros_like(mean).index_add_(0, inverse, centred * centred)
    var = sq / (counts_f - 1).clamp(min=1)
    lowest = torch.full_like(mean, float("inf")).scatter_reduce(0, inverse, rewards, "amin")
    highest = torch.full_like(mean, float("-inf")).scatter_reduce(0, inverse, rewards, "amax")
    flat = (counts == 1) | (lowest == highest)
    return mean[inverse], var[inverse], flat[inverse], counts[inverse]


@register_advantage_estimator("grpo")
def grpo_advantages(
    rewards: Tensor, group_ids: Tensor, scale_rewards: str = "group", eps: float = 1e-6
) -> Tensor:
    """GRPO (arXiv 2402.03300): (r - mean_g) / (std + eps) with the unbiased std.

    A group of one gets 0 (as TRL; verl's loop estimator gives r / (1 + eps)), and so does a
    group of equal rewards.
    """
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {SCALE_REWARDS}, got {scale_rewards!r}")
    mean, var, flat, _ = group_stats(rewards, group_ids)
    adv = rewards - mean
    if scale_rewards == "group":
        adv = adv / (var.sqrt() + eps)
    elif scale_rewards == "batch":
        std = rewards.std() if rewards.numel() > 1 else rewards.new_zeros(())
        adv = adv / (std + eps)
    return torch.where(flat, torch.zeros_like(adv), adv)


@register_advantage_estimator("dr_grpo")
def dr_grpo_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """Dr. GRPO (arXiv 2503.20783): r - mean_g, no std division; 0 for a group of one."""
    mean, _, flat, _ = group_stats(rewards, group_ids)
    return torch.where(flat, torch.zeros_like(rewards), rewards - mean)


@register_advantage_estimator("rloo")
def rloo_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """RLOO (arXiv 2402.14740): r_i - mean_{j != i} r_j = n/(n-1) (r_i - mean_g).

    A group of one has no other member: 0, as TRL and verl's ``rloo_vectorized`` (verl's
    loop ``rloo`` gives r).
    """
    mean, _, flat, n = group_stats(rewards, group_ids)
    nf = n.to(rewards.dtype)
    adv = (rewards - mean) * nf / (nf - 1).clamp(min=1)
    return torch.where(flat, torch.zeros_like(adv), adv)


def estimate_advantages(name: str, rewards: Tensor, group_ids: Tensor, **options: object) -> Tensor:
    """Per-sample advantages [B] from the estimator registered as ``name``.

    ``options`` the estimator does not take are left out, so one call serves every
    estimator (``scale_rewards``/``eps`` reach ``grpo`` and are ignored by ``rloo``). An
    unknown name raises with the registered ones.
    """
    fn = lookup(ADVANTAGE_ESTIMATORS, name, "advantage estimator")
    params = inspect.signature(fn).parameters
    return fn(rewards, group_ids, **{k: v for k, v in options.items() if k in params})


def token_advantages(seq_advantages: Tensor, loss_mask: Tensor) -> Tensor:
    """Broadcast [B] advantages over the tokens of ``loss_mask`` [B, T]; 0 elsewhere."""
    return seq_advantages[:, None] * loss_mask.to(seq_advantages.dtype)


# -- fatal-failure clamp and mask (OpenSearch-VL, arXiv 2605.05185) -----------------------


def unanswered(turn_index: Tensor | None, fatal_turn: Tensor) -> Tensor:
    """[B] bool: flagged (f >= 1) with no token at turn >= f, i.e. the episode ended without an
    answer (f = number of turns) rather than in an error cascade. f = 0 is never unanswered.

    ``turn_index`` [B, T] (``NO_TURN`` = -1 off the assistant turns); None means turn 0 on
    every token, so every flagged f >= 1 sample counts as unanswered.
    """
    if turn_index is None or turn_index.shape[-1] == 0:
        last_turn = torch.zeros_like(fatal_turn)
    else:
        last_turn = turn_index.max(dim=1).values
    return (fatal_turn > 0) & (last_turn < fatal_turn)


def fatal_clamp(
    advantages: Tensor, fatal_turn: Tensor, turn_index: Tensor | None = None, clamp_unanswered: bool = True
) -> Tensor:
    """One-sided clamp ``A = max(A, 0)`` of flagged samples (``fatal_turn`` >= 0).

    ``clamp_unanswered=False`` leaves out the ones :func:`unanswered` finds (see ``fatal_grpo``).
    """
    clamped = fatal_turn >= 0
    if not clamp_unanswered:
        clamped = clamped & ~unanswered(turn_index, fatal_turn)
    return torch.where(clamped, advantages.clamp(min=0), advantages)


def fatal_mask(response_mask: Tensor, turn_index: Tensor | None, fatal_turn: Tensor) -> Tensor:
    """``response_mask`` without the tokens of flagged samples at turn >= f (bool [B, T]);
    ``turn_index`` None means turn 0 everywhere (so f = 0 drops the whole sample)."""
    mask = response_mask.bool()
    turn = torch.zeros_like(mask, dtype=torch.long) if turn_index is None else turn_index
    flagged = (fatal_turn >= 0)[:, None]
    return mask & ~(flagged & (turn >= fatal_turn[:, None]))


# -- loss aggregation ---------------------------------------------------------------------


def aggregate(loss_mat: Tensor, mask: Tensor, mode: str, loss_scale_factor: float | None = None) -> Tensor:
    """Reduce a [B, T] per-token loss to a scalar over ``mask``, as verl's ``agg_loss``.

    Rows without a loss token take no part in the ``seq-mean-*`` means (verl's behaviour;
    TRL would count them). ``seq-mean-token-sum-norm`` sums every row's token sum and
    divides by ``loss_scale_factor`` (default: T, the mask's width) with no mean over
    sequences. See the module docstring for every mode.
    """
    if mode not in LOSS_AGG_MODES:
        raise ValueError(f"unknown loss_agg_mode {mode!r}; known: {', '.join(LOSS_AGG_MODES)}")
    m = mask.to(loss_mat.dtype)
    seq = (loss_mat * m).sum(dim=-1)  # a multiply is ~10x cheaper than where() on CPU ...
    if not bool(torch.isfinite(seq).all()):
        # ... but NaN * 0 is NaN: a NaN on a masked-out token must not leak into the sum.
        zero = torch.zeros((), dtype=loss_mat.dtype, device=loss_mat.device)
        seq = torch.where(mask.bool(), loss_mat, zero).sum(dim=-1)
    tokens = m.sum(dim=-1)
    if mode == "token-mean":
        return seq.sum() / tokens.sum().clamp(min=1)
    if mode == "seq-mean-token-sum-norm":
        return seq.sum() / (loss_scale_factor if loss_scale_factor is not None else mask.shape[-1])
    if mode == "seq-mean-token-mean":
        seq = seq / tokens.clamp(min=1)
    nonempty = (tokens > 0).to(loss_mat.dtype)
    return (seq * nonempty).sum() / nonempty.sum().clamp(min=1)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    return aggregate(values, mask, "token-mean")


# -- policy loss --------------------------------------------------------------------------


@register_policy_loss("clipped")
def clipped_policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    clip_ratio_c: float | None = 3.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-token PPO clipped loss [B, T] and per-token diagnostics (not yet reduced).

    Written as the objective to maximise, min(ρA, clip(ρ)A), and negated at the end.
    ``info``: ``clipped`` / ``dual_clipped`` (bool), ``ratio``, ``log_ratio`` (detached).
    """
    log_ratio = (logp - old_logp).clamp(-20.0, 20.0)  # exp() of a stale logp must stay finite
    ratio = torch.exp(log_ratio)
    surrogate = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high) * advantages
    objective = torch.minimum(surrogate, clipped)
    with torch.no_grad():
        info = {"clipped": clipped < surrogate, "ratio": ratio.detach(), "log_ratio": log_ratio.detach()}
    if clip_ratio_c is not None:
        # Dual clip: for A < 0 the objective may not fall below c·A. For A >= 0 the floor
        # min(A, 0)·c = 0 never binds because the objective ρA is >= 0 there.
        floor = advantages.clamp(max=0.0) * clip_ratio_c
        with torch.no_grad():
            info["dual_clipped"] = objective < floor
        objective = torch.maximum(objective, floor)
    return -objective, info


# -- KL -----------------------------------------------------------------------------------


@register_kl_estimator("k1")
def kl_k1(logp: Tensor, ref_logp: Tensor) -> Tensor:
    return logp - ref_logp


@register_kl_estimator("k3")
def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    x = (ref_logp - logp).clamp(-20.0, 20.0)
    return (torch.exp(x) - x - 1.0).clamp(-10.0, 10.0)


# -- DAPO (arXiv 2503.14476) --------------------------------------------------------------


def nonzero_variance_groups(values: Tensor, group_ids: Tensor) -> Tensor:
    """[B] bool: True where the sample's group has at least two distinct ``values``.

    DAPO's dynamic sampling keeps only such groups: a group whose members all scored the
    same has zero advantage everywhere and only dilutes the loss.
    """
    check_finite(values, "filter values")
    _, inverse = torch.unique(group_ids, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if inverse.numel() else 0
    lo = torch.full((n_groups,), float("inf"), dtype=values.dtype, device=values.device)
    hi = torch.full((n_groups,), float("-inf"), dtype=values.dtype, device=values.device)
    lo = lo.scatter_reduce(0, inverse, values, reduce="amin")
    hi = hi.scatter_reduce(0, inverse, values, reduce="amax")
    return (hi > lo)[inverse]


def overlong_penalty(
    lengths: Tensor, max_response_length: int, overlong_buffer_len: int, penalty_factor: float = 1.0
) -> Tensor:
    """DAPO soft overlong punishment, per sample, with L_exp = L_max - L_cache:

    0 if L <= L_exp;  (L_exp - L) / L_cache if L_exp < L <= L_max;  -1 if L > L_max;
    times ``penalty_factor``.
    """
    if overlong_buffer_len <= 0 or overlong_buffer_len > max_response_length:
        raise ValueError("need 0 < overlong_buffer_len <= max_response_length")
    expected = max_response_length - overlong_buffer_len
    excess = (lengths.to(torch.float32) - expected).clamp(min=0)
    return -(excess / overlong_buffer_len).clamp(max=1.0) * penalty_factor


def check_loss_finite(loss: Tensor, per_sample: Tensor) -> None:
    """Raise instead of returning a NaN loss; ``per_sample`` [B] says which rows are bad."""
    if not bool(torch.isfinite(loss)):
        bad = ~torch.isfinite(per_sample)
        where = f"samples {sample_list(bad)}" if bool(bad.any()) else "the reduction"
        raise ValueError(f"loss is not finite; NaN or inf log-probs on loss tokens in {where}")
