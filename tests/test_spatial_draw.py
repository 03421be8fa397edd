"""SpatialDraw-v0 (issue 16): scenes, renderer, task types, VILASR turns, agents, datasets."""

from __future__ import annotations

import functools
import json
import os

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import mmsearch_gym  # noqa: F401
from mmsearch_gym.envs.spatial_draw import SpatialDrawEnv
from mmsearch_gym.tasks.spatial_draw.data import build_dataset, load_tasks, read_confined_image, with_images
from mmsearch_gym.tasks.spatial_draw.generators import GENERATORS, generate_task
from mmsearch_gym.tasks.spatial_draw.render import Renderer
from mmsearch_gym.tasks.spatial_draw.scenes import SPECS, generate_scene, main_camera
from mmsearch_gym.tasks.spatial_draw.task import LETTERS, TASK_TYPES

ENV_ID = "mmsearch_gym/SpatialDraw-v0"


@pytest.fixture(scope="module")
def renderer():
    return Renderer()


def play(env, agent="oracle"):
    done, info, reward = False, {}, 0.0
    while not done:
        _, reward, terminated, truncated, info = env.step(env.unwrapped.scripted_action(agent))
        done = terminated or truncated
    return reward, info


def test_every_task_type_is_tagged_and_the_oracle_solves_it():
    """13 task types across the five scales; info carries the tags at reset; the oracle draws then answers."""
    assert len(TASK_TYPES) >= 10 and {m for m, *_ in TASK_TYPES.values()} == {"multiple_choice", "numeric", "text"}
    env = gym.make(ENV_ID)
    scales = list(SPECS)
    for i, ttype in enumerate(GENERATORS):
        scale = scales[i % len(scales)]
        obs, info = env.reset(seed=i, options={"scale": scale, "task_type": ttype})
        assert (info["scale"], info["task_type"]) == (scale, ttype)
        assert info["metric"] == TASK_TYPES[ttype][0] and info["reasoning"] in ("inductive", "deductive", "abductive")
        reward, info = play(env)
        assert info["success"] and reward == 1.0, (ttype, scale, info["evaluation"])
        turns = env.unwrapped.episode_record().turns
        assert turns[0].tool in ("object_mapper", "path_tracer") and turns[0].step_error is None
        assert all(t.well_formed for t in turns)  # the oracle writes VILASR's format
    env.close()


def test_same_seed_same_scene_bytes_and_different_seeds_differ():
    a, b = gym.make(ENV_ID), gym.make(ENV_ID)
    oa, ia = a.reset(seed=7)
    ob, ib = b.reset(seed=7)
    assert ia["task_id"] == ib["task_id"] and oa["text"] == ob["text"]
    assert all(x.tobytes() == y.tobytes() for x, y in zip(oa["images"], ob["images"], strict=True))
    oc, _ = a.reset(seed=8)
    assert oc["images"][0].tobytes() != oa["images"][0].tobytes()


def test_boxes_come_from_the_projection_with_occlusion(renderer):
    """A box's visible pixels sit inside its projected 3D box; an object hidden behind another loses pixels."""
    scene = generate_scene("tabletop", np.random.default_rng(3))
    renderer.load(scene.vertices())
    cam = main_camera(scene, np.random.default_rng(3))
    frame = renderer.render(cam, scene.env)
    from mmsearch_gym.tasks.spatial_draw.task import _corners

    for o in scene.objects:
        if o.oid not in frame.boxes:
            continue
        pts, _ = cam.project(_corners(o))
        x1, y1, x2, y2 = frame.boxes[o.oid]
        assert pts[:, 0].min() - 2 <= x1 and x2 <= pts[:, 0].max() + 2 and pts[:, 1].min() - 2 <= y1 and y2 <= pts[:, 1].max() + 2
        assert (frame.ids[y1:y2, x1:x2] == o.oid).any()
    solo = scene.objects[0]
    renderer.load(scene.vertices(only={solo.oid}))
    alone = renderer.render(cam, scene.env)
    assert alone.pixels.get(solo.oid, 0) >= frame.pixels.get(solo.oid, 0)  # others only ever hide it


@pytest.mark.parametrize("ttype", ["object_count", "route_plan"])
def test_multiple_choice_answers_sit_at_a_uniform_letter(renderer, ttype):
    letters = [generate_task(np.random.default_rng([5, i]), "tabletop", ttype, renderer).answer for i in range(16)]
    assert set(letters) <= set(LETTERS[:4]) and len(set(letters)) >= 3, letters


def test_numeric_answers_spread_over_about_a_decade_so_a_prior_gains_little(renderer):
    """Size questions ask about an object given the drawn size; the blind's priors span ≥ 0.6 decades per cell."""
    from mmsearch_gym.tasks.spatial_draw.agents import PRIORS, random_guess
    from mmsearch_gym.tasks.spatial_draw.generators import SIZE_RANGE
    from mmsearch_gym.tasks.spatial_draw.scenes import asked_size

    scene = generate_scene("indoor", np.random.default_rng(0), require={"cabinet": 1}, sized=("cabinet", 2.3))
    cabinet = next(o for o in scene.objects if o.kind == "cabinet")
    assert asked_size(cabinet.size) == (True, pytest.approx(2.3))
    task = generate_task(np.random.default_rng(4), "tabletop", "object_size", renderer)
    lo, hi = SIZE_RANGE["tabletop"]
    assert lo <= task.truth <= hi and float(task.answer) == pytest.approx(task.truth, rel=5e-3)
    asked = task.meta["object"]
    assert asked_size(next(o["size"] for o in task.meta["objects_in_scene"] if o["id"] == asked))[1] * 100 == pytest.approx(task.truth, rel=1e-3)
    numeric = [t for t, (metric, *_) in TASK_TYPES.items() if metric == "numeric"]
    assert set(PRIORS) == {f"{t}/{s}" for t in numeric for s in SPECS}
    for key, (p10, p50, p90) in PRIORS.items():
        assert p10 < p50 < p90 and np.log10(p90 / p10) >= 0.6, key  # log-uniform over ≥ 0.75 decades
    guesses = [float(random_guess(task, np.random.default_rng(i))) for i in range(200)]
    p10, _, p90 = PRIORS["object_size/tabletop"]
    assert min(guesses) < p10 and max(guesses) > p90  # random covers the whole range, not only 10–90%


def test_vilasr_literal_turns_score_format_1():
    env = gym.make(ENV_ID, scales=("tabletop",), task_types=("depth_order",))
    env.reset(seed=1)
    task = env.unwrapped.spatial_task
    items = task.oracle[0]["items"][:1]
    draw = (
        "<think> I mark the object I think is nearest. </think> Action: Object Mapper\n"
        "```json\n" + json.dumps(items) + "\n```"
    )
    obs, *_, info = env.step(draw)
    assert info["step_error"] is None and "The index of the given image is 2" in obs["text"]
    *_, terminated, _, info = env.step(f"<think> It is the nearest. </think> Action: Answer\n<answer>{task.answer}</answer>")
    assert terminated and info["reward_components"]["format"] == 1.0 and info["reward_components"]["overall"] == 1.0


def test_reward_hooks_without_subclassing():
    env = gym.make(ENV_ID, scales=("drone",), task_types=("height_order",), scale_weights={"drone": 2.0})
    env.reset(seed=0)
    reward, info = play(env)
    assert reward == 2.0 and info["reward_components"]["overall"] == 1.0
    seen = {}
    env = gym.make(ENV_ID, scales=("indoor",), task_types=("object_size",),
                   reward_fn=lambda c: seen.update(c) or 0.25 * c["accuracy"] + (c["scale"] == "indoor"))  # fmt: skip
    env.reset(seed=0)
    reward, info = play(env)
    assert reward == 1.25 and seen["scale"] == "indoor" and seen["metric"] == "numeric"
    with pytest.raises(ValueError, match="scale_weights"):
        gym.make(ENV_ID, scale_weights={"moon": 1.0})


def test_blind_and_random_answer_without_drawing_and_score_by_metric():
    env = gym.make(ENV_ID, scales=("outdoor",), task_types=("absolute_distance",))
    env.reset(seed=2)
    _, info = play(env, "blind")
    truth = env.unwrapped.spatial_task.truth
    assert len(env.unwrapped.episode_record().turns) == 1 and 0.0 <= info["reward_components"]["accuracy"] < 1.0
    assert truth is not None and info["reward_components"]["format"] == 1.0
    env.reset(seed=2)
    _, info = play(env, "random")
    assert len(env.unwrapped.episode_record().turns) == 1


@pytest.mark.timeout(180)
def test_check_env_and_vector_envs_with_the_default_fork_context_after_the_parent_rendered():
    import warnings

    from gymnasium.utils.env_checker import check_env

    env = gym.make(ENV_ID, scales=("tiny_tabletop",), task_types=("object_size",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)  # this process has rendered now
    fns = [functools.partial(SpatialDrawEnv, scales=("tabletop",), task_types=("depth_order",))] * 2
    sync = gym.vector.SyncVectorEnv(fns)
    expected, _ = sync.reset(seed=3)
    # the default context forks: the workers cannot make a GL context and render in helper processes
    vec = gym.vector.AsyncVectorEnv(fns, shared_memory=False)
    assert vec.get_attr("render_process") == ("remote", "remote")
    obs, info = vec.reset(seed=3)
    assert list(info["scale"]) == ["tabletop", "tabletop"] and list(obs["text"]) == list(expected["text"])
    for got, want in zip(obs["images"], expected["images"], strict=True):
        assert all(a.tobytes() == b.tobytes() for a, b in zip(got, want, strict=True))  # same pixels as in-process
    obs, reward, term, trunc, info = vec.step([env.unwrapped.scripted_action("blind")] * 2)
    assert term.all() and list(info["task_type"]) == ["depth_order"] * 2
    vec.close()
    sync.close()


def _render_in_child(renderer, camera, env, queue):
    frame = renderer.render(camera, env)
    try:
        Renderer(process="local")
        refused = ""
    except RuntimeError as err:  # EGLUnavailable: a context made here would hang
        refused = str(err)
    queue.put((renderer.mode, frame.image.tobytes(), frame.boxes, refused))


@pytest.mark.timeout(120)
def test_a_renderer_inherited_through_fork_renders_the_same_frame(renderer):
    import multiprocessing as mp

    scene = generate_scene("indoor", np.random.default_rng(5))
    renderer.load(scene.vertices())
    cam = main_camera(scene, np.random.default_rng(5))
    frame = renderer.render(cam, scene.env)
    assert renderer.mode == "local"
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_render_in_child, args=(renderer, cam, scene.env, queue))
    child.start()
    mode, image, boxes, refused = queue.get(timeout=100)
    child.join(30)
    assert child.exitcode == 0 and mode == "remote"  # the child re-uploaded the scene to its helper
    assert "forked after a GL context existed" in refused
    assert image == frame.image.tobytes() and boxes == frame.boxes
    assert renderer.render(cam, scene.env).image.tobytes() == image  # the parent's context is untouched
    with pytest.raises(ValueError, match="process must be one of"):
        Renderer(process="gpu")


def test_dataset_build_rl_and_sft_then_play_it(tmp_path):
    manifest = build_dataset(tmp_path / "rl", "rl", 3, seed=0, env_kwargs={"scales": ("tabletop",)}, progress=False)
    assert manifest["n"] == 3 and sum(manifest["task_types"].values()) == 3
    tasks = load_tasks(tmp_path / "rl")
    assert tasks[0].scale == "tabletop" and tasks[0].image_paths[0].startswith("images/")
    env = gym.make(ENV_ID, dataset=str(tmp_path / "rl"))
    _, info = env.reset(seed=0)
    assert info["task_id"] in {t.task_id for t in tasks}
    reward, info = play(env)
    assert info["success"]
    sft = build_dataset(tmp_path / "sft", "sft", 2, seed=0, env_kwargs={"scales": ("indoor",), "task_types": ("depth_order",)}, progress=False)
    chats = [json.loads(line) for line in (tmp_path / "sft" / "sft.jsonl").read_text().splitlines()]
    assert sft["n"] == len(chats) == 2
    turns = [m for m in chats[0]["messages"] if m["role"] == "assistant"]
    assert "Action: Object Mapper\n```json" in turns[0]["content"][-1]["text"] and "Action: Answer" in turns[-1]["content"][-1]["text"]


def test_real_data_loader_is_confined_and_bounded(tmp_path):
    root = tmp_path / "vsi"
    (root / "frames").mkdir(parents=True)
    Image.new("RGB", (64, 48), (200, 10, 10)).save(root / "frames" / "0.png")
    Image.new("RGB", (4000, 4001)).save(tmp_path / "big.png")
    (tmp_path / "outside.png").write_bytes((root / "frames" / "0.png").read_bytes())
    os.symlink(tmp_path / "outside.png", root / "frames" / "link.png")
    line = {"task_id": "v1", "question": "How many chairs?", "answer": "3", "metric": "numeric", "frames": ["frames/0.png"],
            "scale": "indoor", "task_type": "object_count"}  # fmt: skip
    (root / "tasks.jsonl").write_text(json.dumps(line) + "\n")
    task = with_images(load_tasks(root)[0], root)
    assert task.images[0].shape == (48, 64, 3) and task.metric == "numeric"
    env = gym.make(ENV_ID, dataset=str(root))
    _, info = env.reset(seed=0)
    *_, info = env.step("<think>t</think><answer>3</answer>")
    assert info["success"] and info["task_type"] == "object_count"
    for bad, msg in [("/etc/passwd", "absolute"), ("../outside.png", "climbs out"), ("frames/link.png", "leads outside")]:
        with pytest.raises(ValueError, match=msg):
            read_confined_image(root, bad)
        # the same row is refused when the dataset is opened, naming its line and field
        (root / "tasks.jsonl").write_text(json.dumps(line) + "\n" + json.dumps({**line, "frames": ["frames/0.png", bad]}) + "\n")
        with pytest.raises(ValueError, match=rf"tasks.jsonl:2: image_paths\[1\]: .*{msg}"):
            load_tasks(root)
    (root / "big.png").write_bytes((tmp_path / "big.png").read_bytes())
    with pytest.raises(ValueError, match="the limit is 1,000,000 pixels"):
        read_confined_image(root, "big.png", max_pixels=1_000_000)
    (root / "tasks.jsonl").write_text(json.dumps({**line, "frames": ["big.png"]}) + "\n")
    with pytest.raises(ValueError, match=r"tasks.jsonl:1: image_paths\[0\]: .*limit"):
        load_tasks(root, max_pixels=1_000_000)  # checked from the header at load time
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (root / "tasks.jsonl").write_text(json.dumps({**line, "frames": ["bad.png"]}) + "\n")
    with pytest.raises(ValueError, match=r"tasks.jsonl:1: image_paths\[0\]"):
        load_tasks(root)
    (root / "tasks.jsonl").write_bytes(json.dumps(line).encode() + b"\n\xff\xfe{\n")
    with pytest.raises(ValueError, match=r"tasks.jsonl:2: not UTF-8"):
        load_tasks(root)
    (root / "tasks.jsonl").write_text(json.dumps({**line, "metric": "vibes"}) + "\n")
    with pytest.raises(ValueError, match=r"tasks.jsonl:1: metric must be one of"):
        load_tasks(root)


def test_bad_kwargs_and_options_say_what_is_valid():
    with pytest.raises(ValueError, match="scales must be a non-empty subset"):
        gym.make(ENV_ID, scales=("moon",))
    with pytest.raises(ValueError, match="task_types must be"):
        gym.make(ENV_ID, task_types=())
    env = gym.make(ENV_ID)
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(seed=0, options={"planet": "mars"})
    with pytest.raises(ValueError, match="unknown SpatialDraw agent"):
        env.reset(seed=0) and env.unwrapped.scripted_action("cheater")


@pytest.mark.timeout(300)
def test_triton_kernels_run_in_a_process_that_has_rendered():
    """Mesa's llvmpipe and Triton each carry an LLVM: importing Triton after a render used to
    segfault the process (the renderer now loads Triton's library first, where installed)."""
    import subprocess
    import sys

    pytest.importorskip("triton")
    code = (
        "import gymnasium as gym, mmsearch_gym, torch\n"
        "env = gym.make('mmsearch_gym/SpatialDraw-v0', scales=('tabletop',), task_types=('depth_order',))\n"
        "env.reset(seed=0)\n"
        "assert env.unwrapped.render_process == 'local'\n"
        "from algos import kernels\n"
        "from algos.kernels import reference\n"
        "g = torch.Generator().manual_seed(0)\n"
        "logits = torch.randn(2, 5, 16, generator=g); targets = torch.randint(0, 16, (2, 5), generator=g)\n"
        "got = kernels.logprobs(logits, targets)\n"
        "want = reference.logprobs(logits, targets)\n"
        "got, want = got[0], want[0]\nassert torch.allclose(got, want, atol=1e-5), (got, want)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "TRITON_INTERPRET": "1", "MMSEARCH_KERNELS": "triton"}
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=280, env=env)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
