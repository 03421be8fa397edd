"""Policy backends: HTTP against a local server, vLLM's adapter without vLLM, scripted agents, loading."""

from __future__ import annotations

import sys
import types

import gymnasium as gym
import numpy as np
import pytest
from chat_server import ChatServer, completion

import mmsearch_gym  # noqa: F401
from algos import tiny
from algos.rollout import (
    ChatFormat,
    HFPolicy,
    HTTPPolicy,
    ModelPathError,
    PolicyError,
    RolloutEngine,
    SamplingParams,
    ScriptedTextPolicy,
    TokenPrompt,
    VLLMPolicy,
    load_pretrained,
)
from algos.rollout.vllm import VLLM_DEFAULTS, collapse_runs

ENV = "mmsearch_gym/Maze-v0"
ANSWER = "<think>I guess.</think><answer>R, D</answer>"


@pytest.fixture
def server():
    servers = []

    def start(script):
        servers.append(ChatServer(script))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_http_policy_plays_episodes_with_images(server):
    srv = server(lambda i: (200, completion(ANSWER)))
    envs = [gym.make(ENV, size=2, question_types=("moves",)) for _ in range(3)]
    policy = HTTPPolicy(srv.api, "served-model", max_retries=0)
    result = RolloutEngine(policy, SamplingParams(max_new_tokens=64, temperature=0.0)).rollout(envs, seeds=[0, 1, 2])
    assert len(srv.requests) == 3 and all(r["path"] == "/v1/chat/completions" for r in srv.requests)
    body = srv.requests[0]["body"]
    assert body["model"] == "served-model" and body["max_tokens"] == 64 and body["temperature"] == 0.0
    system, user = body["messages"]
    assert system["role"] == "system" and isinstance(system["content"], str)
    image, text = user["content"]
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")
    assert "maze" in text["text"]
    assert [len(r.turns) for r in result.records] == [1, 1, 1]
    assert all(r.turns[0].action == ANSWER and r.termination_reason == "answered" for r in result.records)
    assert result.batch is None  # served models give text, not training tensors


def test_http_server_failing_mid_rollout_raises_a_clear_error(server):
    def script(i):  # the first turn of each episode works, then the server breaks for good
        return (
            (200, completion('<think>t</think><tool_call>{"name": "nope", "arguments": {}}</tool_call>'))
            if i < 2
            else (500, "boom")
        )

    srv = server(script)
    envs = [gym.make(ENV, size=2, question_types=("moves",)) for _ in range(2)]
    policy = HTTPPolicy(srv.api, "m", max_retries=2, backoff=0.01)
    with pytest.raises(PolicyError, match=r"failed after 3 attempts; last error: HTTP 500: 'boom'") as err:
        RolloutEngine(policy).rollout(envs, seeds=[0, 1])
    assert srv.api in str(err.value)
    assert len(srv.requests) == 2 + 2 * 3  # two good turns, then 3 attempts for each episode


def test_http_transient_failure_is_retried(server):
    srv = server(lambda i: (503, "busy") if i == 0 else (200, completion(ANSWER)))
    text = HTTPPolicy(srv.api, "m", max_retries=1, backoff=0.01).act(
        [types.SimpleNamespace(messages=[{"role": "user", "content": "hi", "images": []}])], SamplingParams()
    )
    assert text == [ANSWER] and len(srv.requests) == 2


@pytest.mark.parametrize(
    "status, reply, match",
    [
        (200, "not json", "not a chat completion"),
        (200, {"choices": []}, "not a chat completion"),
        (400, {"error": "bad model"}, "HTTP 400"),
    ],
)
def test_http_bad_replies(server, status, reply, match):
    srv = server(lambda i: (status, reply))
    with pytest.raises(PolicyError, match=match):
        HTTPPolicy(srv.api, "m", max_retries=3, backoff=0.01).act(
            [types.SimpleNamespace(messages=[{"role": "user", "content": "hi", "images": []}])], SamplingParams()
        )
    assert len(srv.requests) == 1  # not retried


def test_http_unreachable_server():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policy = HTTPPolicy(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, backoff=0.01, timeout=2)
    with pytest.raises(PolicyError, match="ConnectError"):
        policy.act([types.SimpleNamespace(messages=[{"role": "user", "content": "x", "images": []}])], SamplingParams())


# ---- vLLM -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tok():
    return tiny.default_tokenizer(episodes=40)


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory, tok):
    return tiny.save_tiny_model(
        tmp_path_factory.mktemp("vlm"),
        "vlm",
        tokenizer=tok,
        hidden=32,
        layers=1,
        heads=2,
        vision_dim=16,
        max_pixels=112 * 112,
    )


def test_vllm_missing_says_how_to_install(monkeypatch, vlm_dir):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'mmsearch-gym\[vllm\]'"):
        VLLMPolicy(vlm_dir)


def fake_vllm(reply_ids):
    """A stand-in for the ``vllm`` module recording what VLLMPolicy asks of vLLM's offline API."""
    calls = []

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LLM:
        def __init__(self, **kw):
            calls.append(("LLM", kw))

        def generate(self, prompts, sampling_params=None, use_tqdm=True):
            calls.append(("generate", prompts, sampling_params))
            out = types.SimpleNamespace(token_ids=list(reply_ids), finish_reason="stop")
            return [types.SimpleNamespace(outputs=[out]) for _ in prompts]

    return types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams), calls


def test_vllm_policy_requests_follow_the_offline_api(monkeypatch, vlm_dir, tok):
    chat_ids = tok(ANSWER, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    module, calls = fake_vllm(chat_ids)
    monkeypatch.setitem(sys.modules, "vllm", module)
    policy = VLLMPolicy(vlm_dir, gpu_memory_utilization=0.5)
    assert calls[0] == (
        "LLM",
        {"model": str(vlm_dir), "tokenizer": str(vlm_dir), "seed": 0, "gpu_memory_utilization": 0.5, **VLLM_DEFAULTS},
    )
    envs = [gym.make(ENV, size=2, question_types=("moves",)) for _ in range(2)]
    result = RolloutEngine(policy, SamplingParams(max_new_tokens=50, top_k=0)).rollout(envs, seeds=[0], group_size=2)
    _, prompts, params = calls[1]
    pad = tok.convert_tokens_to_ids("<|image_pad|>")
    for prompt, ep in zip(prompts, result.tokens):
        context = ep.ids[: ep.spans[0][0]]
        assert prompt["prompt_token_ids"] == collapse_runs(context, pad) and context.count(pad) > 1
        assert prompt["prompt_token_ids"].count(pad) == 1 == len(prompt["multi_modal_data"]["image"])
        assert np.array_equal(np.asarray(prompt["multi_modal_data"]["image"][0]), ep.images[0])
        assert ep.ids[ep.spans[0][0] : ep.spans[0][1]] == chat_ids  # kept exactly as vLLM returned them
    assert params[0].kw["max_tokens"] == 50 and params[0].kw["top_k"] == -1 and params[0].kw["logprobs"] == 0
    assert params[0].kw["stop_token_ids"] == sorted(policy.chat_format().stop_ids)
    assert [r.termination_reason for r in result.records] == ["answered", "answered"]


def test_collapse_runs():
    assert collapse_runs([1, 5, 5, 5, 2, 5, 3, 5, 5], 5) == [1, 5, 2, 5, 3, 5]


# ---- scripted and local models --------------------------------------------------------------


def test_scripted_oracle_and_random_agents():
    envs = [gym.make(ENV, size=3, question_types=("moves", "choice")) for _ in range(4)]
    oracle = RolloutEngine(ScriptedTextPolicy("oracle")).rollout(envs, seeds=[0, 1, 2, 3])
    assert all(r.success for r in oracle.records)
    rnd = RolloutEngine(ScriptedTextPolicy("random", seed=0)).rollout(envs, seeds=[0, 1, 2, 3])
    assert sum(r.success for r in rnd.records) < 4
    with pytest.raises(ValueError, match="unknown scripted policy 'genius'"):
        ScriptedTextPolicy("genius")


def test_hf_policy_loads_saved_tiny_models(tmp_path, tok, vlm_dir):
    text_dir = tiny.save_tiny_model(tmp_path / "text", "text", tokenizer=tok, hidden=32, layers=1, heads=2)
    text = "<think>The drawn route (right) stays between the walls.</think><answer>R</answer>\n+---+---+"
    for path, is_vlm in ((text_dir, False), (vlm_dir, True)):
        loaded = load_pretrained(path)
        assert loaded.is_vlm == is_vlm and (loaded.processor is not None) == is_vlm
        # the saved tokenizer comes back as saved (not re-built as the model family's tokenizer class)
        assert loaded.tokenizer(text)["input_ids"] == tok(text)["input_ids"]
        policy = HFPolicy.from_pretrained(path)
        chat = policy.chat_format()
        prompt = chat.prompt([{"role": "user", "content": "Go.", "images": []}], [[]])
        gen = policy.generate([TokenPrompt(prompt.ids)], SamplingParams(max_new_tokens=5), chat.stop_ids)[0]
        assert 1 <= len(gen.ids) <= 5


@pytest.mark.parametrize(
    "case, match",
    [
        ("missing", "does not exist"),
        ("empty", "has no config.json"),
        ("no_weights", "has no weights"),
        ("no_tokenizer", "has no tokenizer files"),
    ],
)
def test_bad_model_paths(tmp_path, case, match):
    path = tmp_path / "model"
    if case != "missing":
        path.mkdir()
    if case in ("no_weights", "no_tokenizer"):
        (path / "config.json").write_text("{}")
    if case == "no_tokenizer":
        (path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelPathError, match=match):
        HFPolicy.from_pretrained(path)


def test_chat_format_needs_a_template(tok):
    bare = tiny.default_tokenizer(episodes=40)
    bare.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        ChatFormat(bare)
