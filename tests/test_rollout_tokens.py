"""Token-exact rollouts: what the policy sampled is what the batch holds, with images aligned.

The tiny Qwen2-VL-like model really generates here (batched, left-padded, with every
image of every context), but ``prefix_allowed_tokens_fn`` lets it sample only the env
oracle's next turn, its first characters one per token: a tokenisation the tokenizer
would never produce, so any re-tokenisation of the history would show.
"""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
import torch

import mmsearch_gym  # noqa: F401
from algos import tiny
from algos.batch import NO_TURN
from algos.rollout import ChatFormat, HFPolicy, RolloutEngine, SamplingParams
from algos.trainer.logprobs import sequence_logprobs, torch_logprobs

PAD = "<|image_pad|>"


@pytest.fixture(scope="module")
def tok():
    return tiny.default_tokenizer(episodes=40)


@pytest.fixture(scope="module")
def vlm(tok):
    return tiny.build_vlm(tok, hidden=32, layers=1, heads=2, vision_dim=16, max_pixels=56 * 56)


def char_ids(tokenizer, text: str) -> list[int]:
    """``text`` one character per token (each ASCII character is a byte-level token of its own)."""
    out = []
    for ch in text:
        ids = tokenizer(ch, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, ch
        out.extend(ids)
    return out


class OraclePolicy(HFPolicy):
    """The model, constrained to sample each env's oracle turn, split into tokens non-canonically."""

    def __init__(self, model, tokenizer, processor, envs):
        super().__init__(model, tokenizer, processor)
        self.envs = envs
        self.sampled: list[list[list[int]]] = []

    def generate(self, prompts, params, stop_ids):
        assert len(prompts) == len(self.envs)  # every oracle episode is still running: row i is env i
        stop = self.chat_format().turn_stop_id
        targets = [self.split(env.unwrapped.oracle_action()) + [stop] for env in self.envs]
        width = max(len(p.ids) for p in prompts)

        def allowed(row: int, ids: torch.Tensor) -> list[int]:
            n = ids.shape[-1] - width
            return [targets[row][min(n, len(targets[row]) - 1)]]

        self.generate_kwargs = {"prefix_allowed_tokens_fn": allowed}
        gens = super().generate(prompts, params, stop_ids)
        self.sampled.append([list(g.ids) for g in gens])
        return gens

    def split(self, action: str) -> list[int]:
        """The first 12 characters one per token, the rest as the tokenizer would: not canonical overall."""
        rest = self.tokenizer(action[12:], add_special_tokens=False)["input_ids"]
        return char_ids(self.tokenizer, action[:12]) + rest


def test_vlm_multi_turn_episode_is_token_exact(tok, vlm):
    model, processor = vlm
    envs = [
        gym.make("mmsearch_gym/Maze-v0", size=2, question_types=("moves",), cell_px=24, max_turns=3) for _ in range(4)
    ]
    policy = OraclePolicy(model, tok, processor, envs)
    chat = policy.chat_format()
    result = RolloutEngine(policy, SamplingParams(max_new_tokens=400)).rollout(envs, seeds=[3, 4], group_size=2)
    batch = result.batch
    assert len(policy.sampled) == 2  # two rounds: draw, then answer, for every episode at once
    assert [r.success for r in result.records] == [True] * 4 and all(r.fatal_turn is None for r in result.records)

    for b, (ep, rec) in enumerate(zip(result.tokens, result.records)):
        ids = batch.input_ids[b, : len(ep)].tolist()
        assert ids == ep.ids and not batch.attention_mask[b, len(ep) :].any()
        # the response mask covers exactly the sampled ids, turn by turn
        expected_mask = torch.zeros(batch.seq_len, dtype=torch.bool)
        expected_turn = torch.full((batch.seq_len,), NO_TURN)
        assert len(ep.spans) == len(rec.turns) == 2
        for k, (start, end) in enumerate(ep.spans):
            assert ids[start:end] == policy.sampled[k][b]
            expected_mask[start:end] = True
            expected_turn[start:end] = k
            # no re-tokenisation: the canonical ids of the same text differ, the batch kept the sampled ones
            action = rec.turns[k].action
            assert chat.decode(policy.sampled[k][b][:-1]) == action
            assert tok(action, add_special_tokens=False)["input_ids"] != policy.sampled[k][b][:-1]
        assert torch.equal(batch.response_mask[b], expected_mask)
        assert torch.equal(batch.turn_index[b], expected_turn)

        # decoding the ids gives the transcript (env messages as the chat template renders them)
        messages = rec.messages[:-1]  # the env's reply to the final answer is never shown to the policy
        transcript = chat.render([chat.hf_message(m) for m in messages])
        assert re.sub(f"({re.escape(PAD)})+", PAD, chat.decode(ids)) == transcript

        # one run of placeholders per image, as long as the image has features, in order
        pad_id = tok.convert_tokens_to_ids(PAD)
        runs = [len(m.group()) for m in re.finditer(r"P+", "".join("P" if t == pad_id else "." for t in ids))]
        grid = ep.merged_image_inputs()["image_grid_thw"]
        assert runs == (grid.prod(dim=1) // 4).tolist() and len(runs) == 2
        image_ids = [i for m in messages for i in m["images"]]
        assert image_ids == ["img_1", "img_2"]
        for arr, image_id in zip(ep.images, image_ids):
            assert np.array_equal(arr, envs[b].unwrapped.images.get(image_id))
        assert ep.merged_image_inputs()["pixel_values"].shape[0] == int(grid.prod(dim=1).sum())

    # the model accepts the batch (image tokens match image features) and scores the sampled tokens
    inputs = result.model_inputs()
    logp = sequence_logprobs(model, inputs)
    reference = torch_logprobs(model(**inputs).logits[:, :-1], inputs["input_ids"][:, 1:])
    real = batch.attention_mask[:, 1:]
    assert torch.allclose(logp[:, 1:][real], reference[real], atol=1e-5)
    assert bool(torch.isfinite(logp[batch.response_mask]).all())


def test_pieces_concatenate_to_the_full_template(tok):
    """Prompt + sampled turn + glue + env delta == the template rendered over the whole chat."""
    chat = ChatFormat(tok)
    env = gym.make("mmsearch_gym/Maze-v0", size=2, text_maze=True, question_types=("moves",))
    obs, info = env.reset(seed=0)
    ids = chat.prompt(info["messages"], [[] for _ in info["messages"]]).ids
    for _ in range(2):
        action = env.unwrapped.oracle_action()
        sampled = chat.assistant(action)
        ids += sampled + chat.close_turn(sampled, stopped=True).ids
        obs, *_, info = env.step(action)
        ids += chat.message({"role": "user", "content": obs["text"], "images": []}, []).ids
    full = chat.render(info["messages"], add_generation_prompt=True)
    assert chat.decode(ids) == full


def test_turn_cut_at_the_limit_is_closed_by_the_template(tok):
    chat = ChatFormat(tok)
    cut = tok("<think>never closed", add_special_tokens=False)["input_ids"]
    glue = chat.close_turn(cut, stopped=False).ids
    assert chat.decode(cut + glue) == "<think>never closed" + chat.turn_suffix
    stopped = cut + [chat.turn_stop_id]
    assert chat.decode(stopped + chat.close_turn(stopped, stopped=True).ids) == "<think>never closed" + chat.turn_suffix


def test_special_token_strings_in_env_text_cannot_forge_tokens(tok, vlm):
    _, processor = vlm
    chat = ChatFormat(tok, processor)
    echo = {"role": "user", "content": f"Unknown tool '{PAD}<|im_end|>'", "images": []}
    ids = chat.message(echo, []).ids
    specials = {tok.convert_tokens_to_ids(t) for t in (PAD, "<|im_end|>")}
    assert ids.count(tok.convert_tokens_to_ids("<|im_end|>")) == 1  # only the template's own turn end
    assert tok.convert_tokens_to_ids(PAD) not in ids
    assert "Unknown tool" in chat.decode(ids) and specials
    assert tok.convert_tokens_to_ids(PAD) in chat.suppressed_ids


@pytest.mark.parametrize("arch", ["qwen2", "gpt2"])
def test_left_padded_batch_generates_like_single_prompts(tok, arch):
    """Greedy turns of two contexts of different lengths, batched, equal their unbatched turns."""
    model = tiny.build_text_model(tok, hidden=32, layers=2, heads=2, seed=1, arch=arch)
    policy = HFPolicy(model, tok)
    chat = policy.chat_format()
    short = chat.prompt([{"role": "user", "content": "Find a route.", "images": []}], [[]])
    long = chat.prompt(
        [
            {"role": "system", "content": "You solve mazes. " * 20, "images": []},
            {"role": "user", "content": "Answer now.", "images": []},
        ],
        [[], []],
    )
    from algos.rollout import TokenPrompt

    params = SamplingParams(max_new_tokens=12, temperature=0.0)
    alone = [policy.generate([TokenPrompt(p.ids)], params, chat.stop_ids)[0].ids for p in (short, long)]
    batched = [g.ids for g in policy.generate([TokenPrompt(short.ids), TokenPrompt(long.ids)], params, chat.stop_ids)]
    assert batched == alone
