"""TRL: GRPOTrainer trains the tiny model on Maze-v0 through the adapter, with the zoo's fatal_grpo."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("trl", reason="needs the trl extra (make test installs it)")

import algos  # noqa: E402
from algos import tiny  # noqa: E402
from algos.integrations.trl import MMSearchGRPOTrainer, env_dataset, environment_factory  # noqa: E402

ENV = "mmsearch_gym/Maze-v0"
KW = {"size": 3, "text_maze": True, "question_types": ("choice",), "max_turns": 4}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from trl.chat_template_utils import qwen2_5_chat_template

    tok = tiny.default_tokenizer(episodes=40)
    tok.chat_template = qwen2_5_chat_template  # a template TRL parses tool calls for
    return tiny.save_tiny_model(tmp_path_factory.mktemp("trl") / "tiny", "text", tokenizer=tok,
                                hidden=32, layers=1, heads=2)  # fmt: skip


def test_env_adapter_keeps_schemas_think_text_and_single_wrapping():
    cls = environment_factory(ENV, KW)
    env = cls()
    env.reset(seed=3)
    schema = {s["function"]["name"]: s for s in cls.tool_schemas}
    assert schema["path_tracer"]["function"]["parameters"]["properties"]["paths"]["items"]["required"] == [
        "start_point_2d", "end_point_2d"]  # fmt: skip  (nested schema kept whole)
    env.chat = [{"role": "assistant", "content": "<think>check the route</think>"}]
    reply = env.path_tracer(paths=[{"start_point_2d": [48, 48], "end_point_2d": [48, 96]}])
    assert isinstance(reply, list) and reply[-1]["text"].startswith("Drew 1 path")  # unwrapped text + the image
    assert reply[0]["type"] == "image" and reply[0]["image"].size[0] > 0
    turn = env.env.unwrapped.episode_record().turns[0]
    assert turn.well_formed and turn.action.startswith("<think>check the route</think><tool_call>")
    fields = env.finish("<think>done</think><answer>Z</answer>")
    assert fields["n_turns"] == 2 and not fields["success"] and fields["fatal_turn"] == -1
    rows = env_dataset("mmsearch_gym/DeepSearch-v0", [21])
    assert len(rows[0]["images"]) == 1 and rows[0]["prompt"][-1]["role"] == "user"  # the task image travels


def test_grpo_trainer_trains_the_tiny_model_on_maze_with_fatal_grpo(model_dir, tmp_path):
    from trl import GRPOConfig

    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=4, max_completion_length=48,
        max_steps=2, learning_rate=5e-3, logging_steps=1, report_to=[], use_cpu=True, bf16=False,
        max_tool_calling_iterations=2, save_strategy="no", temperature=1.0, seed=0, dataloader_num_workers=0,
    )  # fmt: skip
    algo = algos.make("fatal_grpo", clamp_unanswered=False, kl_coef=0.001)  # KL on: the ref log-probs path is checked too
    trainer = MMSearchGRPOTrainer(str(model_dir), env_id=ENV, env_kwargs=KW, algo=algo, args=args,
                                  train_dataset=env_dataset(ENV, range(8), KW, images=False))  # fmt: skip
    assert trainer.beta == algo.config.kl_coef  # TRL computes the reference log-probs the zoo's KL needs
    tools = trainer._env_tools[None]
    assert [t["function"]["name"] for t in tools] == ["path_tracer", "object_mapper"]  # rendered as JSON schemas
    assert trainer.env_class.unwrap_replies  # Qwen's template wraps tool replies itself
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [row for row in trainer.state.log_history if "env/fatal_rate" in row]
    # a random tiny model never answers: every episode is flagged, and the flags reach TRL's logs
    assert len(logged) == 2 and all(row["env/fatal_rate"] == 1.0 for row in logged)
    assert all(row["env/step_errors"] >= 1 and row["env/success"] == 0.0 for row in logged)
    assert all(row["algo/n_loss_tokens"] > 0 and "algo/kl" in row for row in logged)
    batch, adv = trainer.last_batch, trainer.last_advantages
    assert adv.shape == batch.response_mask.shape and bool((batch.fatal_turn >= 0).all())
    assert bool((adv == 0).all())  # every reward 0: no advantage (fatal_grpo drops nothing it should keep)

    # the loss TRL optimises is the zoo's: same value as algo.compute_loss, gradients into the model
    inputs = dict(trainer.last_inputs)
    mask = inputs["algos_loss_mask"].bool()
    inputs["advantages"] = torch.where(mask, torch.linspace(-1, 1, mask.numel()).view(mask.shape), 0.0)
    trainer.model.train()
    trainer.model.zero_grad()
    loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in trainer.model.parameters())
    with torch.no_grad():
        ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        logits = trainer.model(ids, attention_mask=torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)).logits
        T = inputs["completion_ids"].size(1)
        logp = torch.log_softmax(logits[:, -T - 1 : -1].float(), -1).gather(-1, inputs["completion_ids"][..., None])[..., 0]
    ref = algos.EpisodeBatch(input_ids=inputs["completion_ids"], response_mask=mask, group_ids=torch.zeros(4, dtype=torch.long),
                             rewards=torch.zeros(4), ref_logp=inputs["ref_per_token_logps"])  # fmt: skip
    expected, _ = algo.compute_loss(logp, ref, inputs["advantages"], mask)
    torch.testing.assert_close(loss.detach(), expected, atol=1e-5, rtol=1e-4)
