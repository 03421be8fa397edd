"""``HTTPPolicy`` and ``mmsearch-gym eval`` against a real ``vllm serve`` of the tiny model on 127.0.0.1
(``make test-vllm``; skipped where vLLM is absent).

The server is started once for the module on a free port, waited for on ``/v1/models``, and
stopped (its whole process group: vLLM spawns its engine) when the module ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import httpx
import pytest
import torch

pytest.importorskip("vllm", reason="vLLM is not installed: `make vllm` (CPU) then `make test-vllm`")

import mmsearch_gym  # noqa: E402,F401
from algos.eval import RunStore  # noqa: E402
from algos.rollout import ChatFormat, HFPolicy, HTTPPolicy, RolloutEngine, SamplingParams  # noqa: E402
from algos.trainer.logprobs import sequence_logprobs  # noqa: E402
from mmsearch_gym.cli import main  # noqa: E402
from vllm_cpu import ENGINE, ENV, KW, LOGP_TOL, free_port, tiny_vllm_model  # noqa: E402

pytestmark = pytest.mark.timeout(900)
SEEDS = (0, 1)


class Served:
    def __init__(self, model: Path, log: Path):
        self.model, self.log, self.port = str(model), log, free_port()
        self.api = f"http://127.0.0.1:{self.port}/v1"
        exe = Path(sys.executable).with_name("vllm")
        cmd = [str(exe), "serve", self.model] if exe.exists() else [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--seed", "0", "--dtype", ENGINE["dtype"],
                "--max-model-len", str(ENGINE["max_model_len"]), "--enforce-eager",
                "--kv-cache-memory-bytes", str(ENGINE["kv_cache_memory_bytes"])]
        self.started = time.perf_counter()
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 400.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.api}/models", timeout=2.0).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        raise TimeoutError(f"vllm serve was not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server and the engine it spawned
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_vllm_model(tmp_path_factory.mktemp("serve") / "tiny")


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    srv = Served(model_dir, tmp_path_factory.mktemp("serve-log") / "vllm-serve.log")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def hf(model_dir):
    return HFPolicy.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def hf_greedy(hf):
    """The HF model's greedy episodes on the tasks every test here plays (the reference)."""
    params = SamplingParams(max_new_tokens=16, temperature=0.0)
    return RolloutEngine(hf, params).rollout([gym.make(ENV, **KW) for _ in SEEDS], seeds=list(SEEDS))


def opening(seed: int) -> list[dict]:
    _, info = gym.make(ENV, **KW).reset(seed=seed)
    return [{"role": m["role"], "content": m["content"], "images": []} for m in info["messages"]]


def test_the_server_runs_our_tiny_model_token_for_token(server, hf):
    """Same prompt ids as our chat format, and the served log-probs are the HF model's on the same ids."""
    chat = hf.chat_format()
    messages = opening(0)
    body = {
        "model": server.model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "max_tokens": 16,
        "temperature": 1.0,
        "seed": 3,
        "logprobs": True,
        "return_token_ids": True,
    }
    reply = httpx.post(f"{server.api}/chat/completions", json=body, timeout=120).json()
    prompt = chat.prompt(messages, [[] for _ in messages]).ids
    assert reply["prompt_token_ids"] == prompt
    ids = reply["choices"][0]["token_ids"]
    served = torch.tensor([t["logprob"] for t in reply["choices"][0]["logprobs"]["content"]])
    seq = torch.tensor([prompt + ids])
    with torch.no_grad():
        ours = sequence_logprobs(hf.model, {"input_ids": seq, "attention_mask": torch.ones_like(seq)})[0, len(prompt):]
    assert len(ids) == 16 and float((served - ours).abs().max()) < LOGP_TOL


def test_http_policy_multi_turn_against_vllm_serve_matches_hf_greedy(server, hf, hf_greedy):
    chat = ChatFormat(hf.tokenizer)
    # stop where our chat format stops, and keep special tokens in the text as our decoding does
    extra = {"stop_token_ids": sorted(chat.stop_ids), "skip_special_tokens": False,
             "spaces_between_special_tokens": False}
    policy = HTTPPolicy(server.api, server.model, send_images=False, extra_body=extra)
    result = RolloutEngine(policy, SamplingParams(max_new_tokens=16, temperature=0.0), chat=chat).rollout(
        [gym.make(ENV, **KW) for _ in SEEDS], seeds=list(SEEDS)
    )
    for ours, ref in zip(result.records, hf_greedy.records):
        served = [m["content"] for m in ours.messages if m["role"] == "assistant"]
        assert len(served) >= 2 and served == [m["content"] for m in ref.messages if m["role"] == "assistant"]
        assert ours.termination_reason == ref.termination_reason
    assert [ep.ids for ep in result.tokens] == [ep.ids for ep in hf_greedy.tokens]  # teacher-forced ids agree too


def test_eval_command_against_vllm_serve(server, hf, hf_greedy, tmp_path, capsys):
    base = ["eval", ENV, "--policy", server.api, "--model", server.model, "--episodes", str(len(SEEDS)),
            "--seed", str(SEEDS[0]), "--max-new-tokens", "16", "--concurrency", "2", "--no-report"]
    base += [a for k, v in KW.items() for a in ("--kw", f"{k}={json.dumps(v)}")]
    # a text-only model refuses the task image: the run stops on a clear error and says how to resume
    assert main([*base, "--out", str(tmp_path / "with-images")]) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert "is not a multimodal model" in said and "--no-images" in said
    out = tmp_path / "text-only"
    assert main([*base, "--no-images", "--out", str(out)]) == 0, capsys.readouterr().out
    lines = sorted(RunStore(out).lines(), key=lambda x: x["seed"])
    assert [x["seed"] for x in lines] == list(SEEDS)
    stop = hf.chat_format().stop_ids
    for line, ref in zip(lines, hf_greedy.tokens):
        # the server's greedy first turn (decoded as vLLM does by default: special tokens dropped) is the HF model's
        start, end = ref.spans[0]
        ids = [t for t in ref.ids[start:end] if t not in stop]
        first = next(m["content"] for m in line["record"]["messages"] if m["role"] == "assistant")
        assert first == hf.tokenizer.decode(ids, skip_special_tokens=True)
    summary = json.loads(RunStore(out).summary_path.read_text())
    assert summary["envs"]["Maze-v0"]["episodes"] == len(SEEDS)
