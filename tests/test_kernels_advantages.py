"""kernels.advantages_and_mask against the reference built from algos.core and fatal_grpo."""

import itertools

import pytest
import torch

import algos
from algos import EpisodeBatch, kernels
from algos.kernels import reference

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def triton_backend(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.setenv(kernels.ENV_VAR, "triton")


def _batch(B=13, T=37, seed=0):
    """Non-contiguous group ids, a group of one, a group of equal rewards, every kind of fatal turn."""
    g = torch.Generator().manual_seed(seed)
    group_ids = torch.tensor([7, 7, 3, 3, 3, 9, 7, 42, 5, 5, 5, 5, 7][:B])
    rewards = torch.rand(B, generator=g)
    rewards[8:12] = 0.5  # group 5: all equal -> advantage exactly 0
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[3] = 0  # a fully masked row
    pos = torch.arange(T)[None, :]
    response = pos < lengths[:, None]
    turn_index = torch.where(response, (pos * 4) // T, -1)
    fatal_turn = torch.tensor([-1, 0, 1, -1, 2, 0, -1, 1, 3, -1, 0, -1, 2][:B])
    return [t.to(DEVICE) for t in (rewards, group_ids, response, turn_index, fatal_turn)]


CASES = [
    (est, scale, clamp, mask)
    for est, scale in [("grpo", "group"), ("grpo", "batch"), ("grpo", "none"), ("dr_grpo", "group"), ("rloo", "group")]
    for clamp, mask in [(True, True), (False, True), (True, False)]
]


@pytest.mark.parametrize("estimator, scale_rewards, clamp_fatal, mask_fatal", CASES)
def test_matches_reference(triton_backend, estimator, scale_rewards, clamp_fatal, mask_fatal):
    rewards, group_ids, response, turn_index, fatal_turn = _batch()
    kw = {"estimator": estimator, "scale_rewards": scale_rewards, "clamp_fatal": clamp_fatal, "mask_fatal": mask_fatal}
    adv, mask = kernels.advantages_and_mask(rewards, group_ids, response, turn_index, fatal_turn, **kw)
    r_adv, r_mask = reference.advantages_and_mask(rewards, group_ids, response, turn_index, fatal_turn, **kw)
    assert mask.dtype == torch.bool and torch.equal(mask, r_mask)
    assert adv.dtype == rewards.dtype
    torch.testing.assert_close(adv, r_adv, rtol=1e-6, atol=1e-7)
    assert torch.equal(adv[8:12], torch.zeros_like(adv[8:12]))  # the equal-reward group
    assert torch.equal(adv[7], torch.zeros_like(adv[7]))  # the group of one


@pytest.mark.parametrize("estimator", ["grpo", "dr_grpo", "rloo"])
@pytest.mark.parametrize("with_turns", [True, False])
def test_clamp_unanswered_matches_reference(triton_backend, estimator, with_turns):
    rewards, group_ids, response, turn_index, fatal_turn = _batch(seed=3)
    rewards[2] = -1.0  # lowest of its group: negative advantage; f = 1 and only turn-0 tokens: unanswered
    response[2, :5] = True
    turn_index[2] = torch.where(response[2], 0, -1)
    args = (rewards, group_ids, response, turn_index if with_turns else None, fatal_turn)
    adv, mask = kernels.advantages_and_mask(*args, estimator=estimator, clamp_unanswered=False)
    r_adv, r_mask = reference.advantages_and_mask(*args, estimator=estimator, clamp_unanswered=False)
    assert torch.equal(mask, r_mask)
    torch.testing.assert_close(adv, r_adv, rtol=1e-6, atol=1e-7)
    clamped, _ = reference.advantages_and_mask(*args, estimator=estimator)
    assert not torch.equal(adv, clamped)  # some flagged, unanswered sample keeps a negative advantage


@pytest.mark.parametrize("with_turns, with_fatal", list(itertools.product([True, False], [True, False])))
def test_optional_turns_and_fatal(triton_backend, with_turns, with_fatal):
    rewards, group_ids, response, turn_index, fatal_turn = _batch(seed=1)
    args = (rewards, group_ids, response, turn_index if with_turns else None, fatal_turn if with_fatal else None)
    adv, mask = kernels.advantages_and_mask(*args, estimator="rloo")
    r_adv, r_mask = reference.advantages_and_mask(*args, estimator="rloo")
    assert torch.equal(mask, r_mask)
    torch.testing.assert_close(adv, r_adv, rtol=1e-6, atol=1e-7)


def test_batch_spanning_several_scan_blocks(triton_backend):
    # B = 45: three scan blocks under the interpreter (16 lanes), T = 3 keeps it fast
    g = torch.Generator().manual_seed(2)
    B, T = 45, 3
    rewards = torch.rand(B, generator=g).to(DEVICE)
    group_ids = torch.randint(0, 12, (B,), generator=g).to(DEVICE)
    response = torch.rand(B, T, generator=g).to(DEVICE) > 0.3
    for scale in ("group", "batch"):
        adv, mask = kernels.advantages_and_mask(rewards, group_ids, response, scale_rewards=scale)
        r_adv, r_mask = reference.advantages_and_mask(rewards, group_ids, response, scale_rewards=scale)
        assert torch.equal(mask, r_mask)
        torch.testing.assert_close(adv, r_adv, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["fatal_grpo", "grpo", "rloo", "dr_grpo"])
def test_same_as_the_algorithm_zoo(triton_backend, name):
    rewards, group_ids, response, turn_index, fatal_turn = _batch(seed=3)
    batch = EpisodeBatch(
        input_ids=torch.zeros(response.shape, dtype=torch.long, device=DEVICE),
        response_mask=response,
        group_ids=group_ids,
        rewards=rewards,
        turn_index=turn_index,
        fatal_turn=fatal_turn,
    )
    algo = algos.make(name)
    want_adv, want_mask = algo.compute_advantages(batch)
    shaped = algo.shape_rewards(batch)
    if name == "fatal_grpo":
        got = kernels.advantages_and_mask(shaped, group_ids, response, turn_index, fatal_turn, estimator="rloo")
    else:
        estimator = {"grpo": "grpo", "rloo": "rloo", "dr_grpo": "dr_grpo"}[name]
        got = kernels.advantages_and_mask(shaped, group_ids, response, estimator=estimator)
    assert torch.equal(got[1], want_mask)
    torch.testing.assert_close(got[0], want_adv, rtol=1e-6, atol=1e-7)


def test_torch_path_is_the_reference(monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "torch")
    args = _batch(seed=4)
    for got, want in zip(kernels.advantages_and_mask(*args), reference.advantages_and_mask(*args)):
        assert torch.equal(got, want)


def test_bad_options_list_the_known_ones():
    args = _batch()
    with pytest.raises(ValueError, match="unknown advantage estimator 'ppo'; known: dr_grpo, grpo, rloo"):
        kernels.advantages_and_mask(*args, estimator="ppo")
    with pytest.raises(ValueError, match="scale_rewards must be one of"):
        kernels.advantages_and_mask(*args, scale_rewards="global")
    with pytest.raises(ValueError, match="turn_index has shape"):
        kernels.advantages_and_mask(args[0], args[1], args[2], args[3][:, :5])
