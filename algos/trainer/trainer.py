"""``Trainer``: SFT warm start on teacher trajectories, then RL with any registered algorithm.

    cfg = load_config("train.yaml", env="mmsearch_gym/Maze-v0", algo="fatal_grpo", model="runs/tiny")
    summary = Trainer(cfg).fit()            # fit(resume=True) continues from the last checkpoint
    summary["evals"]                        # success on held-out tasks: before / after_sft / after_rl

One RL step: roll out ``tasks_per_step`` tasks x ``group_size`` episodes with the policy
(:mod:`algos.rollout`; with ``rollout.backend: vllm`` a vLLM engine samples, its weights
replaced by the trained ones whenever an update changed them), score them (reference and old log-probs, the algorithm's
advantages and loss mask), and take one AdamW step per PPO epoch over micro-batches.
Everything a step draws from (model, optimizer, scheduler, RNG states, step counters, the
next task and SFT sample) is in the checkpoint, so a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import algos
from algos.rollout import HFPolicy, RolloutEngine, SamplingParams, load_pretrained
from algos.rollout.engine import model_inputs
from algos.rollout.loading import check_model_dir, save_tokenizer
from algos.rollout.tokens import collate
from algos.trainer import checkpoint as ckpt
from algos.trainer.config import ConfigError, TrainConfig
from algos.trainer.data import check_env_id, make_envs, next_rows, rl_seeds, sft_seeds, teacher_data
from algos.trainer.metrics import MetricsLogger, plot_curves
from algos.trainer.report import eval_metrics, progress, rollout_metrics
from algos.trainer.update import batch_logprobs, rl_step, sft_step

Callback = Callable[["Trainer", dict[str, Any]], None]


class Trainer:
    """Runs one training job described by a :class:`TrainConfig`.

    Args:
        callbacks: called as ``cb(trainer, metrics)`` after every optimizer step (after its checkpoint).
        console: a ``rich`` console for progress bars and messages.
        algorithm: an :class:`algos.Algorithm` instance to use instead of ``algos.make(config.algo,
            **config.algo_options)`` (e.g. a variant not in the registry).
    """

    def __init__(
        self, config: TrainConfig, callbacks: Sequence[Callback] = (), console: Any = None, algorithm: Any = None
    ):
        self.cfg = cfg = config
        if not cfg.env or not cfg.model:
            raise ConfigError("env and model are required (--env ID --model PATH)")
        check_env_id(cfg.env)
        self.algo = algorithm if algorithm is not None else algos.make(cfg.algo, **cfg.algo_options)
        kl = getattr(self.algo.config, "kl_coef", 0.0)
        if kl > 0 and cfg.ref_model is None:
            raise ConfigError(
                f"{cfg.algo} has kl_coef={kl} > 0 and needs a reference model: set ref_model "
                "(init or a path) or algo_options.kl_coef: 0"
            )
        check_model_dir(cfg.model)
        self.callbacks, self.console = list(callbacks), console
        auto = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(auto if cfg.device == "auto" else cfg.device)
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and self.device.type == "cuda")
        self.amp = torch.bfloat16 if bf16 else None  # autocast dtype; the weights and optimizer stay fp32
        loaded = load_pretrained(cfg.model, device=str(self.device))
        self.model, self.tokenizer, self.processor = loaded.model, loaded.tokenizer, loaded.processor
        self.model.train()
        self.policy = HFPolicy(self.model, self.tokenizer, self.processor, autocast_dtype=self.amp)
        self.chat = self.policy.chat_format()
        r = cfg.rollout
        self.sampling = SamplingParams(r.max_new_tokens, r.temperature, r.top_p, r.top_k)
        self.rollout_policy: Any = self.policy
        if r.backend == "vllm":
            from algos.rollout.vllm import VLLMPolicy

            self.rollout_policy = VLLMPolicy(cfg.model, seed=cfg.seed, **r.vllm)
        self.engine = RolloutEngine(
            self.rollout_policy, self.sampling, chat=self.chat, max_episode_tokens=r.max_episode_tokens
        )
        self._engine_stale = False  # the vLLM engine's weights lag the model's
        self.envs = make_envs(cfg.env, cfg.env_kwargs, r.tasks_per_step * r.group_size, r.vector_env)
        self.out = Path(cfg.out_dir)
        self.ckpt_dir = self.out / "checkpoints"
        self.state: dict[str, Any] = {"phase": "sft" if cfg.sft.steps else "rl", "step": 0, "sft_step": 0}
        self.state.update(rl_step=0, sft_cursor=0, task_cursor=0, evals={}, optimizer_phase=None)
        self.ref_model: Any = None
        self.optimizer: Any = None
        self.scheduler: Any = None
        self._sft_data: list[Any] | None = None
        self._eval_envs: list[gym.Env] | None = None

    # ---- the job ----------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train (or continue with ``resume``); return ``{"evals", "step", "out_dir"}``."""
        latest = ckpt.latest_checkpoint(self.ckpt_dir)
        if latest is not None and not resume:
            raise ConfigError(
                f"{str(self.out)!r} already holds checkpoints; resume (--resume) or choose another out_dir"
            )
        self.out.mkdir(parents=True, exist_ok=True)
        payload = self._resume(latest) if resume and latest is not None else None
        if payload is None:
            ckpt.seed_everything(self.cfg.seed)
        self.logger = MetricsLogger(self.out, self.cfg.logging.tensorboard, self.state["step"] if payload else None)
        try:
            if payload is None and self.cfg.eval.before:
                self.evaluate("before")
            if self.state["phase"] == "sft":
                self._run_sft(payload)
                payload = None
            if self.state["phase"] == "rl":
                self._run_rl(payload)
            self._finish()
        finally:
            self.logger.close()
        return {"evals": dict(self.state["evals"]), "step": self.state["step"], "out_dir": str(self.out)}

    def _run_sft(self, payload: dict[str, Any] | None) -> None:
        cfg = self.cfg
        self._new_optimizer("sft", cfg.sft.lr, payload)
        data = self.sft_data()
        with self._progress("SFT", cfg.sft.steps, self.state["sft_step"]) as advance:
            while self.state["sft_step"] < cfg.sft.steps:
                rows, self.state["sft_cursor"] = next_rows(
                    self.state["sft_cursor"], len(data), cfg.sft.batch_size, cfg.seed
                )
                eps = [data[i] for i in rows]
                response = collate(eps, self.engine.pad_id)["response_mask"].to(self.device)
                self.optimizer.zero_grad(set_to_none=True)
                inputs = functools.partial(self._sft_inputs, eps)
                metrics = sft_step(self.model, inputs, response, cfg.optim.micro_batch_size, self.amp)
                metrics.update(self._optimizer_step())
                self.state["sft_step"] += 1
                self.state["step"] += 1
                self._after_step("sft", metrics)
                advance(f"loss {metrics['loss']:.3f}")
        self.evaluate("after_sft")
        self.state["phase"] = "rl"
        self._save()

    def _run_rl(self, payload: dict[str, Any] | None) -> None:
        cfg = self.cfg
        self._setup_ref()
        self._new_optimizer("rl", cfg.rl.lr, payload)
        with self._progress("RL", cfg.rl.steps, self.state["rl_step"]) as advance:
            while self.state["rl_step"] < cfg.rl.steps:
                metrics = self.rl_step()
                self.state["rl_step"] += 1
                self.state["step"] += 1
                n = self.state["rl_step"]
                if cfg.eval.every and n % cfg.eval.every == 0 and n < cfg.rl.steps:
                    self.evaluate(f"rl_{n}")
                self._after_step("rl", metrics)
                advance(f"reward {metrics['reward_mean']:.3f} success {metrics['success_rate']:.2f}")
        if cfg.rl.steps:
            self.evaluate("after_rl")
        self.state["phase"] = "done"
        self._save()

    def rl_step(self) -> dict[str, Any]:
        """One RL step (rollout, scoring, update); returns its metrics."""
        cfg, t0 = self.cfg, time.perf_counter()
        sync_s = self.sync_rollout_weights()
        k = self.state["task_cursor"]
        seeds = rl_seeds(cfg.seed, k, cfg.rollout.tasks_per_step)
        result = self.engine.rollout(self.envs, seeds, cfg.rollout.group_size)
        self.state["task_cursor"] = k + cfg.rollout.tasks_per_step
        t1 = time.perf_counter()
        batch = result.batch.to(self.device)
        T, mb, temp = batch.seq_len, cfg.optim.micro_batch_size, max(cfg.rollout.temperature, 1e-6)

        def inputs(rows: list[int]) -> dict[str, Any]:
            return result.model_inputs(rows, self.device, width=max(len(result.tokens[r]) for r in rows))

        extra = {}
        if self.ref_model is not None:
            extra["ref_logp"] = batch_logprobs(self.ref_model, inputs, batch.batch_size, mb, temp, self.amp, T)
        if cfg.rl.ppo_epochs > 1:
            extra["old_logp"] = batch_logprobs(self.model, inputs, batch.batch_size, mb, temp, self.amp, T)
        batch = dataclasses.replace(batch, **extra) if extra else batch
        shaped = self.algo.shape_rewards(batch, step=self.state["rl_step"])  # e.g. at_grpo's ΔS term
        advantages, loss_mask = self.algo.compute_advantages(batch, step=self.state["rl_step"], rewards=shaped)
        t2 = time.perf_counter()
        for _ in range(cfg.rl.ppo_epochs):
            self.optimizer.zero_grad(set_to_none=True)
            losses = rl_step(self.model, self.algo, batch, inputs, advantages, loss_mask, mb, temp, self.amp)
            losses.update(self._optimizer_step())
        t3 = time.perf_counter()
        metrics = rollout_metrics(result)
        metrics.update(losses)
        metrics["adv_abs_mean"] = float(advantages[loss_mask].abs().mean()) if bool(loss_mask.any()) else 0.0
        metrics["shaped_reward_mean"] = float(torch.as_tensor(shaped, dtype=torch.float32).mean())
        if result.rollout_logp is not None and batch.old_logp is not None and bool(batch.response_mask.any()):
            # the engine's log-probs against the trained model's on the same tokens: ~0 when the weights are in sync
            gap = (result.rollout_logp.to(self.device) - batch.old_logp)[batch.response_mask].abs()
            metrics["rollout_logp_abs_diff"] = float(gap.mean())
            metrics["rollout_logp_abs_diff_max"] = float(gap.max())
        tok = result.timings.get("tokenize", 0.0)
        metrics.update(
            {
                "time_weight_sync": sync_s,
                "time_generation": result.timings.get("generation", 0.0),
                "time_env": result.timings.get("env", 0.0) + tok,
                "time_scoring": t2 - t1,
                "time_update": t3 - t2,
                "time_step": t3 - t0,
            }
        )
        return metrics

    # ---- evaluation --------------------------------------------------------------------------
    def evaluate(self, tag: str) -> dict[str, Any]:
        """Success rate etc. on ``eval.episodes`` held-out tasks; logged and kept in ``state["evals"]``."""
        cfg = self.cfg.eval
        if cfg.episodes == 0:
            return {}
        seeds = [cfg.seed + i for i in range(cfg.episodes)]
        if self._eval_envs is None:
            kwargs = {**self.cfg.env_kwargs, **cfg.env_kwargs}
            self._eval_envs = [gym.make(self.cfg.env, **kwargs) for _ in range(cfg.episodes * max(1, cfg.sampled))]
        sampling = dataclasses.replace(self.sampling, temperature=cfg.temperature)
        self.sync_rollout_weights()
        result = self.engine.rollout(self._eval_envs[: cfg.episodes], seeds, 1, sampling=sampling)
        metrics = eval_metrics(result)
        if cfg.sampled:
            # its own RNG stream: the same model gives the same numbers, and evaluating never
            # changes what training samples next
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed(cfg.seed)
                sampled = self.engine.rollout(self._eval_envs, seeds, cfg.sampled)
            metrics.update({f"sampled_{k}": v for k, v in eval_metrics(sampled).items()})
        self.state["evals"][tag] = metrics
        self.logger.log(self.state["step"], "eval", {"tag": tag, **metrics})
        self._say(f"eval \\[{tag}] success {metrics['success_rate']:.3f}, reward {metrics['reward_mean']:.3f}")
        return metrics

    def sft_data(self) -> list[Any]:
        """Teacher trajectories, tokenised teacher-forced (deterministic: re-collected on resume)."""
        if self._sft_data is None:
            cfg = self.cfg
            self._sft_data = teacher_data(
                cfg.env,
                cfg.env_kwargs,
                cfg.sft.teacher,
                self.chat,
                self.sampling,
                cfg.rollout.max_episode_tokens,
                sft_seeds(cfg.seed, cfg.sft.episodes),
                cfg.sft.successful_only,
            )
        return self._sft_data

    def sync_rollout_weights(self) -> float:
        """Copy the model's weights into the vLLM engine if an update changed them; returns the seconds it took."""
        if self.rollout_policy is self.policy or not self._engine_stale:
            return 0.0
        start = time.perf_counter()
        self.rollout_policy.load_weights(self.model)
        self._engine_stale = False
        return time.perf_counter() - start

    def close(self) -> None:
        """Stop the vLLM engine, if one samples the rollouts."""
        if self.rollout_policy is not self.policy:
            self.rollout_policy.close()

    # ---- internals ---------------------------------------------------------------------------
    def _sft_inputs(self, episodes: list[Any], rows: list[int]) -> dict[str, Any]:
        return model_inputs([episodes[i] for i in rows], self.engine.pad_id, self.device)

    def _setup_ref(self) -> None:
        ref = self.cfg.ref_model
        if ref is None or getattr(self.algo.config, "kl_coef", 0.0) == 0:
            return
        path = self.out / "ref_model.pt"
        if ref == "init":
            self.ref_model = copy.deepcopy(self.model)
            if self.state["rl_step"] == 0 or not path.exists():
                torch.save(self.ref_model.state_dict(), path)
            else:  # resumed mid-RL: the policy has moved on, the reference has not
                self.ref_model.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))
        else:
            self.ref_model = load_pretrained(ref, device=str(self.device)).model
        self.ref_model.eval().requires_grad_(False)

    def _new_optimizer(self, phase: str, lr: float, payload: dict[str, Any] | None) -> None:
        o = self.cfg.optim
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay
        )
        warm = o.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0
        )
        if payload is not None and self.state.get("optimizer_phase") == phase:
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scheduler.load_state_dict(payload["scheduler"])
        self.state["optimizer_phase"] = phase

    def _optimizer_step(self) -> dict[str, float]:
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.max_grad_norm)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self._engine_stale = True
        return {"grad_norm": float(norm), "lr": lr}

    def _after_step(self, phase: str, metrics: dict[str, Any]) -> None:
        """Log the step's metrics, checkpoint when due, run the callbacks."""
        self.logger.log(self.state["step"], phase, metrics)
        if self.state["step"] % self.cfg.checkpoint.every == 0:
            self._save()
        for cb in self.callbacks:
            cb(self, metrics)

    def _save(self) -> None:
        ckpt.save_checkpoint(
            self.ckpt_dir,
            self.state["step"],
            self.model,
            self.optimizer,
            self.scheduler,
            {**self.state, "config": self.cfg.to_dict()},
            keep=self.cfg.checkpoint.keep,
        )

    def _resume(self, path: Path) -> dict[str, Any]:
        state, payload = ckpt.load_checkpoint(path, self.model)
        self._engine_stale = True
        state.pop("config", None)
        self.state.update(state)
        ckpt.set_rng_state(payload["rng"])
        self._say(f"resumed from {path} (step {self.state['step']}, phase {self.state['phase']})")
        return payload

    def _finish(self) -> None:
        final = self.out / "final"
        self.model.save_pretrained(final)
        save_tokenizer(final, self.tokenizer, self.processor)  # loadable by AutoTokenizer / AutoProcessor
        if self.cfg.logging.plot:
            plot_curves(self.logger.path, self.out / "curves.png", title=f"{self.cfg.env} · {self.cfg.algo}")

    def _progress(self, label: str, total: int, done: int) -> Any:
        return progress(label, total, done, enabled=self.cfg.logging.progress, console=self.console)

    def _say(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text)
