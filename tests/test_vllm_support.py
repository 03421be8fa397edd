"""What the vLLM path rests on, tested without vLLM (in ``make test``): rollout log-probs in the batch,
``VLLMPolicy``'s calls to vLLM's offline API for log-probs and weight sync (the ``vllm`` module
replaced at the edge), the worker's re-packing of tied CPU heads, the trainer's ``rollout.backend``,
text-only HTTP requests, and the tiny model sizes vLLM's CPU attention takes.

The same paths against the real engine: ``tests/test_vllm_engine.py``, ``test_vllm_trainer.py``,
``test_vllm_serve.py`` (``make test-vllm``).
"""

from __future__ import annotations

import json
import sys
import types

import gymnasium as gym
import pytest
import torch
from chat_server import ChatServer
from fake_model import images_of, maze_model

import mmsearch_gym  # noqa: F401
from algos import tiny
from algos.rollout import ChatFormat, Generation, HTTPPolicy, RolloutEngine, SamplingParams, VLLMPolicy
from algos.rollout.tokens import EpisodeTokens
from algos.rollout.vllm_worker import METHOD, refresh_packed_heads
from algos.trainer import Trainer
from algos.trainer.config import ConfigError, load_config
from mmsearch_gym.cli import main

ENV = "mmsearch_gym/Maze-v0"
KW = {"size": 2, "text_maze": True, "question_types": ("moves",), "max_turns": 3}


@pytest.fixture(scope="module")
def tok():
    return tiny.default_tokenizer(episodes=40)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tok):
    return tiny.save_tiny_model(tmp_path_factory.mktemp("vs") / "tiny", "text", tokenizer=tok, hidden=32, layers=1,
                                heads=2)


class ScoredPolicy:
    """A token policy that writes ``text`` every turn and reports a log-prob per id (``-0.01 * (k + 1)``)."""

    def __init__(self, chat: ChatFormat, text: str, report: bool = True):
        self.chat, self.report = chat, report
        self.ids = chat.tokenizer(text, add_special_tokens=False)["input_ids"] + [chat.turn_stop_id]

    def chat_format(self) -> ChatFormat:
        return self.chat

    def generate(self, prompts, params, stop_ids):
        lp = [-0.01 * (k + 1) for k in range(len(self.ids))] if self.report else None
        return [Generation(list(self.ids), "stop", lp) for _ in prompts]


def test_rollout_logp_holds_each_sampled_ids_reported_logprob_and_zero_elsewhere(tok):
    chat = ChatFormat(tok)
    policy = ScoredPolicy(chat, "<think>hmm</think><tool_call>{oops</tool_call>")  # a parse error each turn
    result = RolloutEngine(policy, SamplingParams(max_new_tokens=64)).rollout(
        [gym.make(ENV, **KW) for _ in range(2)], seeds=[0], group_size=2
    )
    lp, mask = result.rollout_logp, result.batch.response_mask
    assert lp is not None and lp.shape == mask.shape and lp.dtype == torch.float32
    expected = torch.tensor([-0.01 * (k + 1) for k in range(len(policy.ids))])
    for row, ep in enumerate(result.tokens):
        assert len(ep.spans) == 3
        for start, end in ep.spans:
            assert torch.allclose(lp[row, start:end], expected)
    assert not lp[~mask].any()


def test_no_reported_logprobs_gives_none_and_a_count_mismatch_is_refused(tok):
    chat = ChatFormat(tok)
    result = RolloutEngine(ScoredPolicy(chat, "<answer>R</answer>", report=False)).rollout(
        [gym.make(ENV, **KW)], seeds=[0]
    )
    assert result.batch is not None and result.rollout_logp is None
    with pytest.raises(ValueError, match="2 log-probs for 3 sampled ids"):
        EpisodeTokens().append_turn([1, 2, 3], 0, [-0.1, -0.2])


def fake_vllm(reply_ids: list[int]):
    """The parts of ``vllm`` VLLMPolicy calls, recording the calls; replies carry per-token log-probs."""
    calls: list[tuple] = []

    class LLM:
        def __init__(self, **kw):
            calls.append(("LLM", kw))

        def generate(self, prompts, sampling_params=None, use_tqdm=True):
            logprobs = [{t: types.SimpleNamespace(logprob=-0.5 - k)} for k, t in enumerate(reply_ids)]
            out = types.SimpleNamespace(token_ids=list(reply_ids), logprobs=logprobs)
            return [types.SimpleNamespace(outputs=[out]) for _ in prompts]

        def collective_rpc(self, method, args=(), **kw):
            calls.append(("rpc", method, args))
            return [None]

        def reset_prefix_cache(self):
            calls.append(("reset_prefix_cache",))

    module = types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: types.SimpleNamespace(kw=kw))
    return module, calls


def test_vllm_policy_returns_logprobs_and_loads_weights_as_one_safetensors_blob(monkeypatch, tok, model_dir):
    from safetensors.torch import load

    from algos.rollout import load_pretrained

    reply = tok("<answer>R</answer>", add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    module, calls = fake_vllm(reply)
    monkeypatch.setitem(sys.modules, "vllm", module)
    policy = VLLMPolicy(model_dir)
    assert calls[0][1]["worker_extension_cls"] == "algos.rollout.vllm_worker.WeightSyncExtension"
    assert calls[0][1]["logprobs_mode"] == "processed_logprobs"
    result = RolloutEngine(policy, SamplingParams(max_new_tokens=32)).rollout([gym.make(ENV, **KW)], seeds=[0])
    start, end = result.tokens[0].spans[0]
    assert result.rollout_logp[0, start:end].tolist() == [-0.5 - k for k in range(len(reply))]

    model = load_pretrained(model_dir).model
    with torch.no_grad():
        model.model.embed_tokens.weight.add_(1.0)  # the tied head moves with it
    assert policy.load_weights(model) == len(dict(model.named_parameters()))
    (_, method, (blob,)), reset = calls[-2:]
    assert method == METHOD and reset == ("reset_prefix_cache",)  # cached prefixes were computed with old weights
    sent = load(blob)
    assert set(sent) == {n for n, _ in model.named_parameters()} and "lm_head.weight" not in sent
    for name, p in model.named_parameters():
        assert torch.equal(sent[name], p.detach())


def test_vllm_policy_clones_shared_tensors_given_by_name(monkeypatch, tok, model_dir):
    from safetensors.torch import load

    module, calls = fake_vllm([1])
    monkeypatch.setitem(sys.modules, "vllm", module)
    w = torch.randn(4, 4)
    assert VLLMPolicy(model_dir).load_weights({"a.weight": w, "b.weight": w}) == 2  # safetensors refuses shared storage
    sent = load(calls[-2][2][0])
    assert torch.equal(sent["a.weight"], w) and torch.equal(sent["b.weight"], w)


def test_refresh_packed_heads_repacks_only_cpu_layers_that_kept_their_weight():
    processed = []

    class Method:
        def process_weights_after_loading(self, layer):
            processed.append(layer.tag)

    def layer(tag: str, numel: int, cpu: bool) -> torch.nn.Module:
        m = torch.nn.Module()
        m.tag, m.quant_method = tag, Method()
        m.weight = torch.nn.Parameter(torch.zeros(numel), requires_grad=False)
        if cpu:
            m.cpu_linear = object()
        return m

    model = torch.nn.Sequential(layer("tied_head", 8, True), layer("packed_linear", 0, True), layer("gpu", 8, False))
    assert refresh_packed_heads(model) == 1 and processed == ["tied_head"]


def test_trainer_rollout_backend_is_checked():
    with pytest.raises(ConfigError, match="rollout.backend must be hf or vllm"):
        load_config(sets=["rollout.backend=sglang"])
    with pytest.raises(ConfigError, match="rollout.vllm must be a mapping"):
        load_config(sets=["rollout.vllm=3"])
    assert load_config(sets=["rollout.backend=vllm", "rollout.vllm={dtype: float32}"]).rollout.vllm == {
        "dtype": "float32"
    }


def test_trainer_syncs_the_engine_only_after_an_update(monkeypatch, tok, model_dir, tmp_path):
    reply = tok("<answer>R</answer>", add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    module, calls = fake_vllm(reply)
    monkeypatch.setitem(sys.modules, "vllm", module)
    cfg = load_config(
        env=ENV, model=str(model_dir), out_dir=str(tmp_path / "run"), ref_model=None, device="cpu",
        env_kwargs=dict(KW),
        sets=["rollout.backend=vllm", "rollout.tasks_per_step=1", "rollout.group_size=2", "rollout.max_new_tokens=16",
              "rl.steps=3", "rl.ppo_epochs=2", "eval.episodes=0", "checkpoint.every=100",
              "logging={tensorboard: false, progress: false, plot: false}"],
    )
    steps = []
    trainer = Trainer(cfg, callbacks=[lambda t, m: steps.append(dict(m))])
    assert isinstance(trainer.engine.policy, VLLMPolicy) and trainer.engine.chat is trainer.chat
    trainer.fit()
    syncs = [c for c in calls if c[0] == "rpc"]
    assert len(syncs) == 2  # before RL steps 2 and 3, none before step 1 (the engine loaded the same weights)
    assert [m["time_weight_sync"] > 0 for m in steps] == [False, True, True]
    assert all("rollout_logp_abs_diff" in m for m in steps)  # the fake's log-probs, held against the model's


def test_http_policy_can_send_text_only(tok):
    policy = HTTPPolicy("http://127.0.0.1:1/v1", "m", send_images=False)
    image = torch.zeros(8, 8, 3, dtype=torch.uint8).numpy()
    body = policy.body([{"role": "user", "content": "look at img_1", "images": [image]}], SamplingParams())
    assert body["messages"] == [{"role": "user", "content": "look at img_1"}]
    with_images = HTTPPolicy("http://127.0.0.1:1/v1", "m").body(
        [{"role": "user", "content": "look", "images": [image]}], SamplingParams()
    )
    assert len(images_of(with_images["messages"][0])) == 1


def test_eval_no_images_sends_no_image_parts(tmp_path, capsys):
    with ChatServer(maze_model) as srv:
        code = main(["eval", ENV, "--policy", srv.api, "--model", "served-model", "--episodes", "2", "--no-images",
                     "--no-report", "--out", str(tmp_path / "run"), "--kw", "size=2", "--kw", "text_maze=true"])
        requests = list(srv.requests)
    assert code == 0, capsys.readouterr().out
    chats = [r["body"] for r in requests if r["path"].endswith("/chat/completions")]
    assert len(chats) >= 2 and all(isinstance(m["content"], str) for b in chats for m in b["messages"])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["send_images"] is False


def test_a_text_only_server_refusing_images_says_to_send_text_only(tmp_path, capsys):
    refuse = {"error": {"message": "/models/tiny is not a multimodal model", "code": 400}}
    with ChatServer(lambda i: (400, refuse)) as srv:
        code = main(["eval", ENV, "--policy", srv.api, "--model", "served-model", "--episodes", "1", "--no-report",
                     "--out", str(tmp_path / "run"), "--kw", "size=2"])
    said = " ".join(capsys.readouterr().out.split())
    assert code == 1 and "not a multimodal model" in said and "--no-images" in said


def test_tiny_vllm_sizes_give_a_head_size_vllms_cpu_attention_takes(tmp_path):
    assert tiny.main([str(tmp_path / "v"), "--vllm", "--layers", "1"]) == 0
    cfg = json.loads((tmp_path / "v" / "config.json").read_text())
    assert cfg["hidden_size"] // cfg["num_attention_heads"] == 64
    assert tiny.main([str(tmp_path / "d"), "--layers", "1"]) == 0  # the default is unchanged (head_dim 16)
    cfg = json.loads((tmp_path / "d" / "config.json").read_text())
    assert (cfg["hidden_size"], cfg["num_attention_heads"]) == (64, 4)
