"""The benchmark harness: any policy on any env suite, resumable, with a report.

    from algos.eval import EvalConfig, run_eval, make_policy, write_comparison
    result = run_eval(EvalConfig("mmsearch_gym/DeepSearch-v0", policy="http://127.0.0.1:8000/v1",
                                 model="qwen2.5-vl-7b", episodes=200, out="runs/ds-qwen"))
    write_comparison(["runs/ds-base", "runs/ds-qwen"], "runs/comparison.html")

Modules: :mod:`~algos.eval.policies` (policy specs), :mod:`~algos.eval.suite` (env suites),
:mod:`~algos.eval.drivers` (concurrent episodes), :mod:`~algos.eval.store` (the run folder),
:mod:`~algos.eval.metrics` and :mod:`~algos.eval.stats` (numbers and intervals),
:mod:`~algos.eval.summary`, :mod:`~algos.eval.report` and :mod:`~algos.eval.compare` (pages).
"""

from algos.eval.compare import compare_runs, write_comparison
from algos.eval.metrics import pass_at_k, register_metric
from algos.eval.policies import PolicySpec, PolicySpecError, check_endpoint, make_policy, parse_policy_spec
from algos.eval.report import write_report
from algos.eval.runner import EvalConfig, EvalResult, EvalStopped, build_jobs, run_eval
from algos.eval.stats import bootstrap_ci, paired_comparison
from algos.eval.store import Job, RunStore
from algos.eval.suite import EnvSpec, Suite, SuiteError, load_suite
from algos.eval.summary import summarize

__all__ = [
    "EnvSpec",
    "EvalConfig",
    "EvalResult",
    "EvalStopped",
    "Job",
    "PolicySpec",
    "PolicySpecError",
    "RunStore",
    "Suite",
    "SuiteError",
    "bootstrap_ci",
    "build_jobs",
    "check_endpoint",
    "compare_runs",
    "load_suite",
    "make_policy",
    "paired_comparison",
    "parse_policy_spec",
    "pass_at_k",
    "register_metric",
    "run_eval",
    "summarize",
    "write_comparison",
    "write_report",
]
