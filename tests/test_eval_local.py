"""``eval`` with local policies (tiny HF model, vLLM's adapter, scripted agents), suites and per-env metrics."""

from __future__ import annotations

import json
import sys
import types

import pytest

import mmsearch_gym  # noqa: F401
from algos import tiny
from algos.eval import (
    EvalConfig,
    PolicySpec,
    PolicySpecError,
    RunStore,
    SuiteError,
    build_jobs,
    load_suite,
    make_policy,
    parse_policy_spec,
    run_eval,
)
from algos.rollout import ScriptedTextPolicy, VLLMPolicy
from algos.rollout.vllm import VLLM_DEFAULTS
from mmsearch_gym.cli import main

MAZE = "mmsearch_gym/Maze-v0"


@pytest.fixture(scope="module")
def tok():
    return tiny.default_tokenizer(episodes=40)


@pytest.fixture(scope="module")
def text_model(tmp_path_factory, tok):
    return tiny.save_tiny_model(tmp_path_factory.mktemp("tiny"), "text", tokenizer=tok, hidden=32, layers=1, heads=2)


def write_suite(path, text):
    path.write_text(text)
    return str(path)


def test_policy_specs_parse_and_fail_with_the_valid_forms():
    assert parse_policy_spec("http://127.0.0.1:8000/v1/") == PolicySpec("http", "http://127.0.0.1:8000/v1")
    assert parse_policy_spec("hf:runs/tiny") == PolicySpec("hf", "runs/tiny")
    assert parse_policy_spec("vllm:/models/q") == PolicySpec("vllm", "/models/q")
    assert parse_policy_spec("oracle") == PolicySpec("scripted", "oracle")
    assert parse_policy_spec("no_vision") == PolicySpec("scripted", "no_vision")
    assert parse_policy_spec("scripted:my_agent") == PolicySpec("scripted", "my_agent")
    for bad, match in [
        ("genius", "unknown policy 'genius'; a policy is one of: http://"),
        ("hf:", "names no model"),
        ("", "empty policy spec"),
        ("http:///v1", "has no host"),
    ]:
        with pytest.raises(PolicySpecError, match=match):
            parse_policy_spec(bad)
    with pytest.raises(PolicySpecError, match="not an HTTP policy"):
        make_policy("oracle", model="gpt")
    assert isinstance(make_policy("random", seed=3), ScriptedTextPolicy)


def test_tiny_hf_model_on_maze_and_deep_search_suite(tmp_path, text_model, capsys):
    suite = write_suite(
        tmp_path / "suite.yaml",
        f"""
name: tiny-suite
envs:
  - env: {MAZE}
    weight: 2
    kwargs: {{size: 3, max_turns: 2}}
  - name: deep
    env: mmsearch_gym/DeepSearch-v0
    weight: 1
    kwargs: {{max_turns: 2, min_hops: 2, max_hops: 2}}
""",
    )
    out = tmp_path / "run"
    code = main(
        [
            "eval",
            suite,
            "--policy",
            f"hf:{text_model}",
            "--episodes",
            "3",
            "--out",
            str(out),
            "--max-new-tokens",
            "8",
            "--temperature",
            "1.0",
            "--concurrency",
            "2",
        ]
    )
    assert code == 0, capsys.readouterr().out
    lines = RunStore(out).lines()
    assert sorted((x["env"], x["seed"]) for x in lines) == [("Maze-v0", 0), ("Maze-v0", 1), ("deep", 0)]
    for x in lines:
        turns = x["record"]["turns"]
        assert 1 <= len(turns) <= 2 and x["usage"]["completion_tokens"] >= len(turns)  # sampled ids counted
        assert x["usage"]["context_tokens"] > x["usage"]["completion_tokens"]
        assert (out / x["images"]["img_1"]).is_file()
    deep = next(x for x in lines if x["env"] == "deep")
    assert deep["env_id"] == "mmsearch_gym/DeepSearch-v0" and deep["record"]["task"]["hops"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["envs"]) == {"Maze-v0", "deep"} and summary["weights"] == {"Maze-v0": 2.0, "deep": 1.0}
    assert {"accuracy", "format", "query", "overall"} <= set(summary["envs"]["deep"]["metrics"])
    assert "anchor" in summary["envs"]["deep"]["tags"] and "question_type" in summary["envs"]["Maze-v0"]["tags"]


def test_vllm_spec_runs_through_the_engine_with_vllms_offline_api(monkeypatch, tmp_path, tok, text_model):
    answer = tok("<think>go</think><answer>A</answer>", add_special_tokens=False)["input_ids"]
    stop = tok.convert_tokens_to_ids("<|im_end|>")
    calls = []

    class LLM:
        def __init__(self, **kw):
            calls.append(("LLM", kw))

        def generate(self, prompts, sampling_params=None, use_tqdm=True):
            calls.append(("generate", len(prompts), sampling_params[0].kw))
            out = types.SimpleNamespace(token_ids=answer + [stop])
            return [types.SimpleNamespace(outputs=[out]) for _ in prompts]

    module = types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: types.SimpleNamespace(kw=kw))
    monkeypatch.setitem(sys.modules, "vllm", module)
    policy = make_policy(f"vllm:{text_model}", seed=5)
    assert isinstance(policy, VLLMPolicy) and calls[0] == (
        "LLM",
        {"model": str(text_model), "tokenizer": str(text_model), "seed": 5, **VLLM_DEFAULTS},
    )
    result = run_eval(
        EvalConfig(
            MAZE,
            f"vllm:{text_model}",
            tmp_path,
            episodes=3,
            concurrency=3,
            max_new_tokens=16,
            env_kwargs={"size": 3, "question_types": ["choice"]},
        ),
        policy=policy,
        progress=False,
    )
    assert calls[1][:2] == ("generate", 3) and calls[1][2]["max_tokens"] == 16  # one batched call for the chunk
    records = [x["record"] for x in RunStore(tmp_path).lines()]
    assert [r["answer"] for r in records] == ["A", "A", "A"] and all(
        r["termination_reason"] == "answered" for r in records
    )
    assert result.summary["envs"]["Maze-v0"]["metrics"]["success"]["mean"] == pytest.approx(
        sum(r["success"] for r in records) / 3
    )


def test_scripted_env_agent_and_unknown_agent(tmp_path, capsys):
    ds = ["--kw", "max_turns=12", "--kw", "min_hops=2", "--kw", "max_hops=2"]
    code = main(
        [
            "eval",
            "mmsearch_gym/DeepSearch-v0",
            "--policy",
            "scripted:single_search",
            "--episodes",
            "2",
            "--out",
            str(tmp_path / "a"),
            *ds,
        ]
    )
    assert code == 0, capsys.readouterr().out
    lines = RunStore(tmp_path / "a").lines()
    assert all(x["record"]["turns"][0]["tool"] == "text_search" for x in lines)
    assert (
        main(
            [
                "eval",
                "mmsearch_gym/DeepSearch-v0",
                "--policy",
                "scripted:telepathy",
                "--episodes",
                "1",
                "--out",
                str(tmp_path / "b"),
                *ds,
            ]
        )
        == 2
    )
    assert (
        "scripted policy 'telepathy' cannot play mmsearch_gym/DeepSearch-v0: unknown DeepSearch agent"
        in capsys.readouterr().out
    )


def test_samples_give_pass_at_k_and_mean_at_k(tmp_path):
    result = run_eval(
        EvalConfig(MAZE, "random", tmp_path, episodes=12, samples=3, env_kwargs={"size": 3}), progress=False
    )
    lines = RunStore(tmp_path).lines()
    assert len(lines) == 36 and {x["sample"] for x in lines} == {0, 1, 2}
    by_task: dict[int, list[bool]] = {}
    for x in lines:
        by_task.setdefault(x["seed"], []).append(x["record"]["success"])
    pk = result.summary["envs"]["Maze-v0"]["pass_at_k"]
    assert pk["k"] == 3 and pk["tasks"] == 12
    assert pk["pass@3"]["mean"] == pytest.approx(sum(any(v) for v in by_task.values()) / 12)
    assert pk["mean@3"]["mean"] == pytest.approx(sum(sum(v) / 3 for v in by_task.values()) / 12)
    assert pk["pass@1"]["mean"] == pytest.approx(pk["mean@3"]["mean"])  # unbiased pass@1 is the mean


def test_suite_weights_metrics_and_tags(tmp_path):
    suite = write_suite(
        tmp_path / "s.yaml",
        f"""
envs:
  - env: {MAZE}
    name: small
    weight: 2
    kwargs: {{size: 3}}
  - env: {MAZE}
    name: big
    kwargs: {{size: 4}}
    metrics: [success, accuracy]
    tags: [question_type]
""",
    )
    result = run_eval(EvalConfig(suite, "oracle", tmp_path / "run", episodes=6), progress=False)
    envs = result.summary["envs"]
    assert (envs["small"]["episodes"], envs["big"]["episodes"]) == (4, 2)
    assert list(envs["big"]["metrics"]) == ["success", "accuracy"] and list(envs["big"]["tags"]) == ["question_type"]
    assert "size" in envs["small"]["tags"] or "question_type" in envs["small"]["tags"]
    small, big = envs["small"]["metrics"]["reward"]["mean"], envs["big"]["metrics"]["success"]["mean"]
    assert (
        result.summary["overall"]["success"]["mean"]
        == pytest.approx((2 * envs["small"]["metrics"]["success"]["mean"] + big) / 3)
        and small == 1.0
    )


@pytest.mark.parametrize(
    "text, match",
    [
        ("envs: []", "non-empty list under 'envs'"),
        (f"envs: [{{env: {MAZE}, colour: red}}]", r"unknown keys \['colour'\]"),
        (f"envs: [{{env: {MAZE}, weight: -1}}]", "weight must be a positive number"),
        ("envs: [{env: mmsearch_gym/Nope-v0}]", "unknown env 'mmsearch_gym/Nope-v0'"),
        (f"envs: [{{env: {MAZE}}}, {{env: {MAZE}}}]", "appear twice"),
        (f"envs: [{{env: {MAZE}, prompt_template: 'no slot'}}]", r"must contain \{prompt\}"),
        (f"envs: [{{env: {MAZE}, name: ../up}}]", "names a folder"),
    ],
)
def test_bad_suites_say_what_to_fix(tmp_path, text, match):
    with pytest.raises(SuiteError, match=match):
        load_suite(write_suite(tmp_path / "s.yaml", text))


def test_allocation_by_weight_and_fixed_counts(tmp_path):
    suite = load_suite(
        write_suite(
            tmp_path / "s.yaml",
            f"""
envs:
  - {{env: {MAZE}, name: a, weight: 2}}
  - {{env: {MAZE}, name: b, weight: 1}}
  - {{env: {MAZE}, name: c, weight: 1}}
  - {{env: {MAZE}, name: d, episodes: 7, by_index: true}}
""",
        )
    )
    # 10 over weights 2:1:1 -> 5, 2.5, 2.5: the half left over goes to the first by name
    assert suite.allocate(10) == {"a": 5, "b": 3, "c": 2, "d": 7}
    jobs = build_jobs(suite, 10, 2, seed=100)
    assert len(jobs) == 2 * 17 and jobs[0].key == "a/100/0" and jobs[-1].key == "d/106/1"
    assert len({j.key for j in jobs}) == len(jobs)
    with pytest.raises(SuiteError, match="fewer than the 3 weighted envs"):
        suite.allocate(2)


def test_eval_cli_rejects_bad_options(tmp_path, capsys):
    assert main(["eval", MAZE, "--policy", "oracle", "--episodes", "0", "--out", str(tmp_path)]) == 2
    assert "episodes must be an integer >= 1" in capsys.readouterr().out
    assert main(["eval", MAZE, "--policy", "oracle", "--kw", "size=1", "--out", str(tmp_path)]) == 2
    assert "size must be an integer between 2 and 25" in capsys.readouterr().out
    assert main(["eval", "mmsearch_gym/MazeGrid-v0", "--policy", "oracle", "--out", str(tmp_path)]) == 2
    assert "eval plays tool envs" in capsys.readouterr().out
    assert main(["eval", MAZE, "--policy", "hf:/nowhere", "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().out
    suite = write_suite(tmp_path / "s.yaml", f"envs: [{{env: {MAZE}, by_index: true}}]")
    assert main(["eval", suite, "--policy", "oracle", "--out", str(tmp_path / "x")]) == 2
    assert "cannot reset Maze-v0 with options {'index': 0}: unknown reset options" in capsys.readouterr().out


def test_dataset_by_index_plays_each_task_once_with_a_registered_metric(tmp_path):
    from algos.eval import register_metric

    assert (
        main(
            ["data", "build", "deep_search", "--split", "rl", "--n", "3", "--seed", "0", "--out", str(tmp_path / "ds")]
        )
        == 0
    )
    order = [json.loads(line)["task_id"] for line in (tmp_path / "ds" / "tasks.jsonl").read_text().splitlines()]
    register_metric("searches", lambda line: float(sum(t["tool"] == "text_search" for t in line["record"]["turns"])))
    suite = write_suite(
        tmp_path / "s.yaml",
        f"""
envs:
  - name: dev
    env: mmsearch_gym/DeepSearch-v0
    kwargs: {{dataset: {tmp_path / "ds"}, max_turns: 20}}
    by_index: true
    episodes: 3
    metrics: [success, searches]
""",
    )
    result = run_eval(EvalConfig(suite, "oracle", tmp_path / "run", episodes=1), progress=False)
    lines = sorted(RunStore(tmp_path / "run").lines(), key=lambda x: x["index"])
    assert [x["record"]["task_id"] for x in lines] == order  # task i is dataset row i
    searches = [sum(t["tool"] == "text_search" for t in x["record"]["turns"]) for x in lines]
    metrics = result.summary["envs"]["dev"]["metrics"]
    assert list(metrics) == ["success", "searches"] and metrics["searches"]["mean"] == pytest.approx(sum(searches) / 3)
    assert metrics["success"]["mean"] == 1.0


def test_suite_changes_that_keep_episodes_resume_and_others_are_refused(tmp_path):
    def suite(weight, metrics, size):
        return write_suite(
            tmp_path / "s.yaml",
            f"""
envs:
  - {{env: {MAZE}, name: m, weight: {weight}, metrics: {metrics}, kwargs: {{size: {size}}}}}
""",
        )

    run_eval(EvalConfig(suite(1, "[success]", 3), "oracle", tmp_path / "run", episodes=2), progress=False)
    again = run_eval(
        EvalConfig(suite(5, "[success, turns]", 3), "oracle", tmp_path / "run", episodes=3), progress=False
    )
    assert (again.skipped, again.played) == (2, 1) and list(again.summary["envs"]["m"]["metrics"]) == [
        "success",
        "turns",
    ]
    with pytest.raises(SuiteError, match=r"m\.kwargs: \{'size': 3\} → \{'size': 4\}"):
        run_eval(EvalConfig(suite(5, "[success]", 4), "oracle", tmp_path / "run", episodes=3), progress=False)
