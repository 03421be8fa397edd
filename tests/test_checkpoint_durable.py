"""Checkpoints reach the disk before they are named complete: every file and the folder are fsynced
before the atomic rename, and the parent folder after it (so a power loss cannot leave a renamed
but empty checkpoint). The OS calls are recorded at the edge; the files are real."""

from __future__ import annotations

import os

import torch

from algos.trainer.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint


def test_files_and_folders_are_fsynced_around_the_rename(tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    root = tmp_path / "ckpt"
    model = torch.nn.Linear(3, 2)
    final = save_checkpoint(root, 7, model, torch.optim.SGD(model.parameters(), lr=0.1), None, {"step": 7})

    rename = next(i for i, (kind, _) in enumerate(events) if kind == "replace")
    tmp = str(root / ".step-000007.tmp")
    synced_before = {path for kind, path in events[:rename] if kind == "fsync"}
    assert {f"{tmp}/model.pt", f"{tmp}/training.pt", f"{tmp}/trainer_state.json", tmp} <= synced_before
    assert ("fsync", str(root)) in events[rename + 1 :]  # the rename itself is durable
    assert list_checkpoints(root) == [final]
    state, payload = load_checkpoint(final, torch.nn.Linear(3, 2))
    assert state == {"step": 7} and payload["optimizer"] is not None
