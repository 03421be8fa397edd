"""GroundedGen's pieces: task sampling on any graph, the offline generator, the image measures, datasets, reports and commands."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from mmsearch_gym.cli import main as cli_main
from mmsearch_gym.rewards import image_measures as M
from mmsearch_gym.rewards.grounded_gen_judge import ImageCase, OfflineImageJudge
from mmsearch_gym.tasks.grounded_gen import TaskSampler, ground_truth
from mmsearch_gym.tasks.grounded_gen.agents import image_hits, write_prompt
from mmsearch_gym.tasks.grounded_gen.data import build_dataset, load_tasks, read_dataset_image
from mmsearch_gym.tasks.grounded_gen.report import read_episodes, summarize
from mmsearch_gym.tools.generate import OfflineGenerator
from mmsearch_gym.tools.generate_offline import read_prompt
from mmsearch_gym.world import Entity, ImageInfo, Relation, World, generate_world
from mmsearch_gym.world.compose import banner_box, panel_boxes
from mmsearch_gym.world.render import render


@pytest.fixture(scope="module")
def world():
    return generate_world(300, seed=3)


@pytest.fixture(scope="module")
def sampler(world):
    return TaskSampler(world)


def test_tasks_know_their_ground_truth(world, sampler):
    rng = np.random.default_rng(0)
    for comp in ("single", "scene", "pair", "text"):
        task = sampler.sample(rng, composition=comp)
        assert task.composition == comp and task.gt_image.shape == (384, 512, 3)
        e = world.entity(task.subjects[0]["entity_id"])
        assert e.name in task.question and task.category == e.category
        assert task.subjects[0]["visual"] and world.images[task.subjects[0]["image_id"]].entity_id == e.id
        if comp == "pair":
            other = task.subjects[1]
            assert other["name"] not in task.question  # named only through its relation
            assert any(o.id == other["entity_id"] for _, o in world.neighbours(e.id))
        if comp == "text":
            assert task.text and task.text_label in task.question and task.text not in task.question
        if comp == "scene":
            assert task.setting in task.question
        # the ground truth is the gold renders composed: each panel of it is that render
        boxes = panel_boxes(len(task.subjects), task.text is not None)
        for s, box in zip(task.subjects, boxes):
            assert M.similarity(render(world, s["image_id"]), M.crop(task.gt_image, box)) > 0.9


def test_categories_are_drawn_evenly_and_tasks_are_reproducible(sampler):
    cats = [sampler.sample(np.random.default_rng([1, i])).category for i in range(240)]
    counts = {c: cats.count(c) for c in sampler.categories}
    assert len(counts) == 12 and min(counts.values()) >= 8
    a, b = (sampler.sample(np.random.default_rng([4, 2])) for _ in range(2))
    assert a.task_id == b.task_id and np.array_equal(a.gt_image, b.gt_image)


def test_a_user_graph_works_too():
    ents = {
        "m1": Entity("m1", "mascot", "Blip the Heron", (), {"colour": "teal", "creature": "heron", "motto": "Onward and upward"}),
        "f1": Entity("f1", "festival", "Lantern Days", (), {"colour": "amber", "shape": "sun", "month": "May"}),
        "x1": Entity("x1", "robot", "Unit Seven", (), {"colour": "silver"}),  # a type the schema does not know
    }
    imgs = {"i1": ImageInfo("i1", "m1", "figure", "Illustration of Blip", True),
            "i2": ImageInfo("i2", "f1", "poster", "Poster of Lantern Days", True)}  # fmt: skip
    w = World(0, ents, [Relation("m1", "mascot_of", "f1")], imgs)
    s = TaskSampler(w, categories=("mascot", "festival"), article_text=lambda i: "Blip the Heron … Lantern Days")
    task = s.sample(np.random.default_rng(0), category="mascot", composition="pair")
    assert [x["entity_id"] for x in task.subjects] == ["m1", "f1"] and "mascot of" in task.question
    with pytest.raises(ValueError, match="no drawable entity"):
        TaskSampler(w, categories=("toy",))


def test_the_offline_generator_follows_the_prompt_and_the_references(world, sampler):
    gen = OfflineGenerator()
    task = sampler.sample(np.random.default_rng(7), composition="text")
    ref = render(world, task.subjects[0]["image_id"])
    other = render(world, sampler.sample(np.random.default_rng(8), composition="single").subjects[0]["image_id"])
    full = write_prompt(task, [0])
    box = panel_boxes(1, True)[0]

    def match(image):  # how much the subject's place looks like the gold render
        return M.similarity(ref, M.crop(image, M.locate(ref, image, box)))

    tied = gen(full, [ref])
    assert match(tied) > 0.8
    assert match(gen(full, [other])) < 0.6  # the wrong reference is copied just as faithfully
    untied = full.replace("exactly as in the first reference image", "as described")
    assert read_prompt(untied, 1).tied == {} and match(gen(untied, [ref])) < match(tied) - 0.1
    assert np.array_equal(gen(full, [ref]), tied)  # deterministic
    plan = read_prompt(full, 1)
    assert plan.banner == task.text and plan.setting is None and plan.n_subjects == 1
    judge = OfflineImageJudge()
    case = lambda image: ImageCase(image, task.gt_image, [box], task.text, banner_box())  # noqa: E731
    assert judge(case(tied))["text_accuracy"] == 1.0  # OCR reads the banner it printed
    bare = gen(task.question.split(" Find out")[0], [])
    assert judge(case(bare))["text_accuracy"] == 0.0 and judge(case(bare))["measures"]["identity"] < 0.6
    scene = read_prompt("A heron beside a fox, on a beach at sunrise, with a banner reading \"HELLO THERE\".", 0)
    assert scene.n_subjects == 2 and scene.setting == "a beach at sunrise" and scene.banner == "HELLO THERE"
    assert scene.attributes[0]["creature"] == "heron" and scene.attributes[1]["creature"] == "fox"


def test_image_measures():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert M.ssim(a, a) == pytest.approx(1.0) and M.colour_similarity(a, a) == pytest.approx(1.0)
    assert M.colour_similarity(np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)) == 0.0
    canvas = np.full((200, 200, 3), 230, np.uint8)
    patch = (rng.integers(0, 255, (10, 10, 3)).repeat(6, 0).repeat(6, 1)).astype(np.uint8)
    canvas[70:130, 58:118] = patch  # 12 px left of where it was expected (box at x=70)
    x0, y0, x1, y1 = M.locate(patch, canvas, (70, 70, 130, 130))
    assert abs(x0 - 58) <= 2 and abs(y0 - 70) <= 2
    assert M.text_match("Welcome to ZH897X !", "zh897x") == 1.0 and M.text_match("", "abc") == 0.0
    assert 0.5 < M.text_match("Lantern Dys", "Lantern Days") < 1.0


def test_image_search_replies_are_read():
    reply = ('Image results for "x":\n[1] Tunemyth the Beetle — Illustration of Tunemyth\n    page: https://w/wiki/T\n'
             "    image: https://w/img/i1.png (shown as img_3)\n[2] Other\n    page: https://w/wiki/O\n    image: https://w/img/i2.png")
    assert image_hits(reply) == [
        {"title": "Tunemyth the Beetle", "page": "https://w/wiki/T", "image": "https://w/img/i1.png", "id": "img_3"},
        {"title": "Other", "page": "https://w/wiki/O", "image": "https://w/img/i2.png", "id": ""},
    ]


def test_datasets_rl_and_sft_and_the_env_plays_them(tmp_path):
    rl = build_dataset(tmp_path / "rl", "rl", n=3, seed=1, progress=False)
    assert rl["n"] == 3 and sum(rl["categories"].values()) == 3
    tasks = load_tasks(tmp_path / "rl")
    assert all((tmp_path / "rl" / t.gt_path).is_file() and t.gt_image is None for t in tasks)
    sft = build_dataset(tmp_path / "sft", "sft", n=2, seed=1, progress=False)
    chats = [json.loads(line) for line in (tmp_path / "sft" / "sft.jsonl").read_text().splitlines()]
    assert sft["n"] == 2 and len(chats) == 2 and all(c["reward"] >= 0.7 for c in chats)
    assert chats[0]["messages"][-2]["role"] == "assistant" and "<answer>" in chats[0]["messages"][-2]["content"][-1]["text"]

    from mmsearch_gym.envs.grounded_gen import GroundedGenEnv

    env = GroundedGenEnv(dataset=tmp_path / "rl")
    env.reset(seed=0, options={"index": 2})
    assert env.gg_task.task_id == tasks[2].task_id
    while True:
        _, reward, terminated, truncated, info = env.step(env.oracle_action())
        if terminated or truncated:
            break
    assert reward >= 0.8 and env.gg_task.gt_image is not None


def test_dataset_images_stay_inside_the_folder_and_within_budget(tmp_path):
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(root / "images" / "a.png")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "outside.png")
    os.symlink(tmp_path / "outside.png", root / "images" / "link.png")
    assert read_dataset_image(root, "images/a.png").shape == (20, 30, 3)
    for bad, words in (("../outside.png", "leaves"), (str(tmp_path / "outside.png"), "relative"),
                       ("images/link.png", "leaves"), ("images/none.png", "does not exist"), ("", "relative")):  # fmt: skip
        with pytest.raises((ValueError, FileNotFoundError), match=words):
            read_dataset_image(root, bad)
    with pytest.raises(ValueError, match="over 100 pixels"):
        read_dataset_image(root, "images/a.png", max_pixels=100)
    (root / "tasks.jsonl").write_text('{"task_id": "t1", "question": "Draw it", "gt_image": "../outside.png"}\n')
    assert load_tasks(root)[0].gt_path == "../outside.png"  # loads, and is refused when read:
    from mmsearch_gym.envs.grounded_gen import GroundedGenEnv

    with pytest.raises(ValueError, match="leaves"):
        GroundedGenEnv(dataset=root)._gt(load_tasks(root)[0])
    (root / "tasks.jsonl").write_text('{"question": "no id"}\n')
    with pytest.raises(ValueError, match="tasks.jsonl:1"):
        load_tasks(root)


def test_play_every_agent_then_report_per_category(tmp_path, capsys):
    out = tmp_path / "runs.jsonl"
    code = cli_main(["play", "mmsearch_gym/GroundedGen-v0", "--policy", "oracle", "--policy", "no_search", "--policy",
                     "wrong_reference", "--policy", "random", "--episodes", "3", "--seed", "0", "--out", str(out)])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0 and all(p in text for p in ("oracle", "no_search", "wrong_reference", "random"))
    records = read_episodes(out)
    assert len(records) == 12
    oracle = summarize(records[:3])
    assert oracle["all"]["reward"] >= 0.8 and oracle["all"]["judged"] == 3 and oracle["all"]["k_score"] >= 75
    assert set(oracle) == {r["task"]["category"] for r in records[:3]} | {"all"}
    assert summarize(records[3:6])["all"]["judged"] == 0  # no_search: no reference, nothing drawn
    from mmsearch_gym.tasks.grounded_gen.report import main as report_main

    assert report_main([str(out), "--by", "composition", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["all"]["episodes"] == 12


def test_data_build_command(tmp_path, capsys):
    assert cli_main(["data", "build", "grounded_gen", "--split", "rl", "--n", "2", "--out", str(tmp_path / "d")]) == 0
    assert "wrote 2 rl items" in capsys.readouterr().out
    assert len(load_tasks(tmp_path / "d")) == 2 and json.loads((tmp_path / "d" / "manifest.json").read_text())["kind"] == "grounded_gen"


def test_ground_truth_matches_when_rendered_again(world, sampler):
    task = sampler.sample(np.random.default_rng(3), composition="pair")
    assert np.array_equal(ground_truth(task, lambda i: render(world, i)), task.gt_image)


def test_the_text_judge_rewards_the_right_references_and_cannot_be_sprayed():
    from mmsearch_gym.rewards.grounded_gen import text_reward
    from mmsearch_gym.rewards.grounded_gen_judge import OfflineTextJudge, TextCase
    from mmsearch_gym.world import vocab as V

    judge = OfflineTextJudge()
    task = {"entities": ["e1"], "names": ["Tunemyth the Beetle"], "attributes": ["ochre", "beetle"]}
    good = "Show Tunemyth the Beetle exactly as in the first reference image: ochre colours, a beetle."
    assert text_reward(judge(TextCase(good, ["e1"], **task))) == 1.0
    # weights 0.4 refs, 0.4 attributes (+ text's 0.15: none required), 0.1 names, 0.1 ordinals
    assert judge(TextCase(good, ["e9"], **task))["score"] == pytest.approx(0.6)  # another entity's picture
    # half the references wrong (0.4·0.5), and the second is never tied by ordinal (0.1·0.5)
    assert judge(TextCase(good, ["e1", "e9"], **task))["score"] == pytest.approx(0.75)
    assert judge(TextCase(good, [], **task))["score"] == pytest.approx(0.5)  # no reference, no ordinal to tie
    spray = good + " Also " + ", ".join([*V.COLOURS, *V.SHAPES, *V.CREATURES])
    assert text_reward(judge(TextCase(spray, ["e1"], **task))) <= 0.75
