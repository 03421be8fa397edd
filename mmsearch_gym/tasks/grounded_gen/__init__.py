"""GroundedGen-v0's task pipeline: task sampling, scripted agents, datasets and reports."""

from .tasks import COMPOSITIONS, GroundedGenTask, TaskSampler, ground_truth

__all__ = ["COMPOSITIONS", "GroundedGenTask", "TaskSampler", "ground_truth"]
