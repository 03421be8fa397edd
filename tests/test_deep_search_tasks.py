"""DeepSearch task pipeline: paths, fuzzy rewriting, no leaks, unique answers, shortcut filters, datasets."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mmsearch_gym.tasks.deep_search import DeepSearchTask, TaskSampler, contains_phrase, task_leaks
from mmsearch_gym.tasks.deep_search_clues import MONTHS, GraphView, make_clue
from mmsearch_gym.tasks.deep_search_data import load_tasks, read_image, sample_tasks, write_tasks
from mmsearch_gym.tools.search import shared_backend
from mmsearch_gym.world import Entity, ImageInfo, Relation, World
from mmsearch_gym.world.schema import TYPES


@pytest.fixture(scope="module")
def backend():
    return shared_backend(None)  # the default offline world (built once into the cache)


@pytest.fixture(scope="module")
def sampler(backend):
    return TaskSampler(backend.world, backend)


# ---- an independent reading of a question's clues ------------------------------------------

_PATTERNS = [
    (re.compile(r"^whose (.+) is between ([\d,.]+) and ([\d,.]+)(?: \S+)?$"), "range"),
    (re.compile(r"^whose (.+) falls in (\w+) of the (\d+)s$"), "month"),
    (re.compile(r"^whose (.+) falls in the (\d+)s$"), "decade"),
    (re.compile(r"^whose (.+) include (.+)$"), "member"),
    (re.compile(r"^whose (.+) is (.+?)(?: (?:cm|m|km²|g|days|years|crowns))?$"), "is"),
]


def _satisfies(entity: Entity, phrase: str) -> bool:
    """Whether ``entity`` fits one clue phrase, read back from the words alone."""
    labels = {a.label: a.key for a in TYPES[entity.type].attrs}
    for pattern, form in _PATTERNS:
        m = pattern.match(phrase)
        if not m or m.group(1) not in labels:
            continue
        value = entity.attributes.get(labels[m.group(1)])
        if value is None:
            return False
        if form == "range":
            lo, hi = (float(g.replace(",", "")) for g in m.groups()[1:3])
            return isinstance(value, (int, float)) and lo <= value < hi
        if form in ("month", "decade"):
            day_month_year = str(value).split()
            year = int(day_month_year[-1])
            ok = year // 10 * 10 == int(m.groups()[-1])
            return ok and (form == "decade" or day_month_year[1] == m.group(2))
        if form == "member":
            return m.group(2) in value
        return str(value).casefold() == m.group(2).casefold() or f"{value}" == m.group(2)
    raise AssertionError(f"clue {phrase!r} does not read as any clue form")


def _resolve(world: World, task: DeepSearchTask) -> list[list[str]]:
    """Every entity each hop could lead to, given only the relation, the noun and the clue words."""
    frontier = [task.path[0]["id"]]
    options = []
    for i, (rel, clues) in enumerate(zip(task.relations, task.clues, strict=True)):
        want_type = task.path[i + 1]["type"]
        found = {
            other.id
            for e in frontier
            for _, other in world.neighbours(e, rel["relation"], rel["direction"])
            if other.type == want_type and all(_satisfies(other, c) for c in clues) and other.id not in frontier
        }
        options.append(sorted(found))
        frontier = sorted(found)
    return options


# ---- the pipeline ---------------------------------------------------------------------------


def test_same_rng_gives_the_same_task(sampler):
    a = sampler.sample(np.random.default_rng(11))
    b = sampler.sample(np.random.default_rng(11))
    assert a.question == b.question and a.answers == b.answers and a.task_id == b.task_id
    assert np.array_equal(a.image, b.image)
    c = sampler.sample(np.random.default_rng(12))
    assert c.question != a.question


def test_no_question_leaks_an_answer_or_a_path_entity_over_thousands(backend):
    quick = TaskSampler(backend.world, backend=None)  # question text only: no anchor images, no search
    rng = np.random.default_rng(0)
    tasks = [quick.sample(rng, render=False) for _ in range(3000)]
    leaks = {t.task_id: task_leaks(t) for t in tasks if task_leaks(t)}
    assert not leaks
    world = backend.world
    for t in tasks:
        for node in t.path:
            e = world.entity(node["id"])
            assert not any(contains_phrase(t.question, n) for n in (e.name, *e.aliases)), (t.question, e.name)
            for key in TYPES[e.type].attrs:  # no exact value of an attribute that singles an entity out
                if key.unique and key.key in e.attributes:
                    assert not contains_phrase(t.question, str(e.attributes[key.key])), (t.question, key.key)
        assert not any(contains_phrase(t.question, a) for a in t.answers)
    hops = {t.hops for t in tasks}
    assert hops == {2, 3, 4}
    assert {t.asked == "name" for t in tasks} == {True, False}


def test_every_hop_leads_to_exactly_one_entity(backend, sampler):
    rng = np.random.default_rng(1)
    for _ in range(150):
        task = sampler.sample(rng, render=False)
        options = _resolve(backend.world, task)
        assert options == [[node["id"]] for node in task.path[1:]], task.question


def test_answer_is_stated_on_the_last_entity_page(backend, sampler):
    rng = np.random.default_rng(2)
    for _ in range(60):
        task = sampler.sample(rng, render=False)
        last = backend.world.entity(task.path[-1]["id"])
        page = backend.articles[last.id].text
        assert any(contains_phrase(page, a) for a in task.answers)
        if task.asked == "name":
            assert task.answers[0] == last.name and set(last.aliases) <= set(task.answers)
        # each next entity is named on the previous entity's page: the hop can be read off
        for prev, nxt in zip(task.path, task.path[1:]):
            assert contains_phrase(backend.articles[prev["id"]].text, nxt["name"])


def test_one_text_search_of_the_question_does_not_find_the_answer_page(backend):
    s = TaskSampler(backend.world, backend)
    rng = np.random.default_rng(3)
    tasks = [s.sample(rng, render=False) for _ in range(80)]
    for t in tasks:
        urls = [h.url for h in backend.text_search(t.question, 5)]
        assert t.path[-1]["url"] not in urls
    assert s.rejected["one_search_finds_page"] > 0  # the filter was exercised, not vacuous
    unfiltered = TaskSampler(backend.world, backend=None)
    rng = np.random.default_rng(3)
    raw = [unfiltered.sample(rng, render=False) for _ in range(80)]
    collapsed = sum(t.path[-1]["url"] in [h.url for h in backend.text_search(t.question, 5)] for t in raw)
    assert collapsed > 0  # without the filter some questions collapse to one search


def test_tags_hops_tools_and_difficulty(sampler):
    rng = np.random.default_rng(4)
    tasks = [sampler.sample(rng) for _ in range(24)]
    for t in tasks:
        assert 2 <= t.hops <= 4 and len(t.path) == t.hops + 1 and len(t.relations) == len(t.clues) == t.hops
        assert t.difficulty in ("easy", "medium", "hard")
        assert {"text_search", "visit"} <= set(t.required_tools)
        kind = t.anchor["kind"]
        need = {"scene": {"crop", "image_search"}, "document": {"perspective_correct", "ocr"}}.get(
            kind, {"image_search"}
        )
        assert need <= set(t.required_tools), (kind, t.required_tools)
        assert t.image is not None and t.image.dtype == np.uint8 and t.image.ndim == 3
        if kind == "scene":
            x, y, w, h = t.anchor["bbox"]
            assert 0 <= x and 0 <= y and x + w <= t.image.shape[1] and y + h <= t.image.shape[0]
    assert len({t.anchor["kind"] for t in tasks}) >= 3
    fixed = TaskSampler(sampler.world, None, min_hops=3, max_hops=3, answer_weights={"name": 1.0})
    t = fixed.sample(np.random.default_rng(0), render=False)
    assert (
        t.hops == 3
        and t.asked == "name"
        and t.question.endswith(f"name of that {fixed.view.noun(fixed.world.entity(t.path[-1]['id']))}?")
    )


def test_fuzzy_clues_read_as_ranges_decades_and_values():
    view_entity = Entity(
        "x",
        "city",
        "Testholt",
        (),
        {"founded_year": 1866, "population": 8_494_166, "colours": ["white", "emerald"], "elevation_m": 7},
    )
    world = World(0, {"x": view_entity}, [], {})
    clues = {c.key: c for c in GraphView(world).clues(view_entity)}
    assert clues["founded_year"].phrase == "whose year of founding falls in the 1860s"
    assert clues["population"].phrase == "whose population is between 8,000,000 and 9,000,000"
    assert clues["colours"].phrase == "whose civic colours include white"
    assert clues["elevation_m"].phrase == "whose elevation is 7 m"
    assert clues["founded_year"].holds(1869) and not clues["founded_year"].holds(1870)
    assert clues["population"].holds(8_999_999) and not clues["population"].holds(9_000_000)
    date = make_clue(next(a for a in GraphView(world).attributes(view_entity) if a.key == "founded_year"))
    assert date is not None and date.form == "decade"
    assert MONTHS[2] == "March"


def test_a_user_graph_with_its_own_types_works():
    """Any graph of linked entities: types and attributes unknown to the world schema."""
    rng_names = ["Aster", "Brill", "Corvo", "Dunmere", "Eskel", "Farrow", "Galen", "Hollis"]
    ents = {}
    for i, name in enumerate(rng_names):
        kind = "lab" if i < 4 else "scientist"
        attrs = {"founded_year": 1900 + 13 * i, "staff": 10 * (i + 1), "field": ["optics", "botany"][i % 2]}
        ents[f"u{i}"] = Entity(f"u{i}", kind, name, (), attrs)
    rels = [Relation(f"u{i}", "works_at", f"u{i - 4}") for i in range(4, 8)] + [
        Relation("u0", "partners_with", "u1"),
        Relation("u1", "partners_with", "u2"),
        Relation("u2", "partners_with", "u3"),
    ]
    images = {f"p{i}": ImageInfo(f"p{i}", f"u{i}", "logo", f"Logo of {n}", True) for i, n in enumerate(rng_names)}
    world = World(0, ents, rels, images)
    pages = {
        e.id: f"{e.name}\n" + " ".join(world.entity(o.id).name for _, o in world.neighbours(e.id))
        for e in ents.values()
    }
    s = TaskSampler(
        world, None, answer_weights={"name": 1.0}, article_text=pages.__getitem__, anchor_weights={"render": 1.0}
    )
    t = s.sample(np.random.default_rng(0), render=False)
    assert t.hops >= 2 and not task_leaks(t)
    assert "is linked to" in t.question  # generic phrasing for relations the schema does not know
    assert t.answers[0] == t.path[-1]["name"]


def test_bad_sampler_options_say_what_to_pass(backend):
    w = backend.world
    with pytest.raises(ValueError, match="min_hops"):
        TaskSampler(w, None, min_hops=3, max_hops=2)
    with pytest.raises(ValueError, match="anchor_weights"):
        TaskSampler(w, None, anchor_weights={"hologram": 1.0})
    with pytest.raises(ValueError, match="answer_weights"):
        TaskSampler(w, None, answer_weights={"colour": 1.0})
    tiny = World(0, {"a": Entity("a", "city", "A", (), {})}, [], {"i": ImageInfo("i", "a", "coat_of_arms", "c", True)})
    with pytest.raises(RuntimeError, match="no DeepSearch task passed"):
        TaskSampler(tiny, None, max_tries=5, article_text=lambda _: "A").sample(np.random.default_rng(0), render=False)


# ---- datasets on disk -----------------------------------------------------------------------


def test_tasks_round_trip_through_a_dataset_folder(sampler, tmp_path):
    tasks = sample_tasks(sampler, 4, seed=9)
    again = sample_tasks(sampler, 2, seed=9)
    assert [t.question for t in again] == [t.question for t in tasks[:2]]  # any prefix is reproducible
    write_tasks(tasks, tmp_path)
    loaded = load_tasks(tmp_path)
    assert [t.to_json() for t in loaded] == [t.to_json() for t in tasks]
    for t, orig in zip(loaded, tasks):
        assert t.image is None and np.array_equal(read_image(t.image_paths[0], tmp_path), orig.image)


def test_loading_bad_dataset_folders_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="mmsearch-gym data build deep_search"):
        load_tasks(tmp_path)
    (tmp_path / "tasks.jsonl").write_text(
        json.dumps({"task_id": "a", "question": "q?", "answers": ["x"]}) + "\n{oops\n"
    )
    with pytest.raises(ValueError, match=r"tasks.jsonl:2"):
        load_tasks(tmp_path)
    (tmp_path / "tasks.jsonl").write_text(json.dumps({"task_id": "a", "question": "q?"}) + "\n")
    with pytest.raises(ValueError, match="needs answers"):
        load_tasks(tmp_path)
    (tmp_path / "tasks.jsonl").write_text(json.dumps({"task_id": "a", "question": "q?", "answers": [""]}) + "\n")
    with pytest.raises(ValueError, match="non-empty list of strings"):
        load_tasks(tmp_path)
    with pytest.raises(FileNotFoundError, match="relative to the dataset folder"):
        read_image("images/none.png", tmp_path)
