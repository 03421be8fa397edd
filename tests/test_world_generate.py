"""The world generator: determinism, the graph API, names, attributes, articles (no index, no images)."""

import subprocess
import sys
from collections import Counter

import pytest

from mmsearch_gym.world import FACTIP_CATEGORIES, RELATIONS, TYPES, format_value, generate_world, make_article, slugify
from mmsearch_gym.world.schema import min_entities
from mmsearch_gym.world.store import world_from_json, world_json


@pytest.fixture(scope="module")
def world():
    return generate_world(400, seed=11)


def test_same_seed_gives_identical_world_and_articles():
    a, b = generate_world(250, seed=3), generate_world(250, seed=3)
    assert world_json(a) == world_json(b)
    assert [make_article(a, e).to_json() for e in a.entities] == [make_article(b, e).to_json() for e in b.entities]
    assert world_json(generate_world(250, seed=4)) != world_json(a)


def test_world_json_round_trips_exactly(world):
    again = world_from_json(world_json(world))
    assert world_json(again) == world_json(world)
    assert again.neighbours("e000100") == world.neighbours("e000100")


def test_graph_is_connected_and_typed(world):
    assert world.is_connected()
    for rel in world.relations:
        spec = RELATIONS[f"{rel.relation}:{world.entity(rel.head).type}"]
        assert world.entity(rel.tail).type in spec.tails, rel
    # every entity has an edge; hubs exist (preferential attachment)
    degree = Counter(x for r in world.relations for x in (r.head, r.tail))
    assert set(degree) == set(world.entities)
    assert max(degree.values()) >= 10


def test_every_type_and_factip_category_is_present(world):
    assert {e.type for e in world.iter_entities()} == set(TYPES)
    assert {e.category for e in world.iter_entities()} - {None} == set(FACTIP_CATEGORIES)


def test_names_and_aliases_are_unique_and_findable(world):
    keys = [n.casefold() for e in world.iter_entities() for n in (e.name, *e.aliases)]
    assert len(keys) == len(set(keys))
    for e in list(world.iter_entities())[::37]:
        assert world.find(e.name.upper()) == e
        for alias in e.aliases:
            assert world.find(alias) == e
        assert world.entity_for_url(e.url) == e
        assert world.entity_for_url(e.url.replace("https://", "http://").lower() + "/") == e
    assert world.find("No Such Entity") is None and world.entity_for_url("https://example.org/wiki/X") is None


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_near_duplicate_names_are_real_distinct_entities(world):
    assert len(world.near_duplicate_pairs) >= 15
    for a, b in world.near_duplicate_pairs:
        ea, eb = world.entity(a), world.entity(b)
        assert ea.type == eb.type and ea.name != eb.name
        assert _distance(ea.name, eb.name) <= 2
        assert eb in world.near_duplicates(a) and ea in world.near_duplicates(b)
        assert f"not to be confused with {eb.name}" in make_article(world, a).body


def test_unique_attributes_are_unique_across_the_world(world):
    seen: dict[str, set] = {}
    for e in world.iter_entities():
        unique = world.unique_attributes(e.id)
        assert unique, f"{e.type} has no unique attribute"
        for key, value in unique.items():
            assert str(value).casefold() not in seen.setdefault(key, set()), (key, value)
            seen[key].add(str(value).casefold())


def test_articles_state_attributes_relations_and_distractors(world):
    for e in list(world.iter_entities())[::23]:
        art = make_article(world, e.id)
        prose = art.body
        for spec in TYPES[e.type].attrs:
            if spec.key in e.attributes:
                value = format_value(spec, e.attributes[spec.key])
                assert value in prose, (e.id, spec.key, value)  # in the prose, not only the infobox
                assert (spec.label[:1].upper() + spec.label[1:], value) in art.infobox
        for rel in world.relations_of(e.id, "out"):
            assert world.describe_relation(rel) in prose
        assert art.title == e.name and art.url.endswith(slugify(e.name))


def test_articles_vary_in_wording(world):
    leads = Counter(
        make_article(world, e.id).body.split(".")[0].replace(e.name, "X").split(" ")[1] for e in world.iter_entities()
    )
    assert len(leads) >= 3  # several lead templates in use


def test_images_are_tied_to_entities_with_kinds_and_degradations(world):
    for e in list(world.iter_entities())[::19]:
        images = world.images_of(e.id)
        assert images[0].kind == TYPES[e.type].image_kind and images[0].indexed
        photos = world.images_of(e.id, kind="photo")
        assert photos and all(not p.indexed and p.source in world.images for p in photos)
        assert set(photos[0].degradation) >= {"perspective", "blur", "noise", "resolution", "clutter", "jpeg"}
        docs = [i for i in images if i.text]
        assert bool(docs) == (TYPES[e.type].document_kind is not None)
        for d in docs:
            assert e.name.upper() in d.text.upper()


def test_neighbours_filters_by_relation_and_direction(world):
    city = world.of_type("city")[0]
    out = world.neighbours(city.id, direction="out")
    assert all(rel.head == city.id for rel, _ in out)
    born_here = world.neighbours(city.id, relation="born_in", direction="in")
    assert all(rel.relation == "born_in" and other.type == "person" for rel, other in born_here)
    with pytest.raises(ValueError, match="direction"):
        world.neighbours(city.id, direction="sideways")


@pytest.mark.parametrize("n, seed", [(min_entities() - 1, 0), (100, -1), (True, 0), (100, 1.5)])
def test_bad_sizes_and_seeds_are_refused(n, seed):
    with pytest.raises(ValueError):
        generate_world(n, seed)


def test_importing_the_world_pulls_no_heavy_dependency():
    code = (
        "import sys, mmsearch_gym, mmsearch_gym.world, mmsearch_gym.search, mmsearch_gym.tools.search; "
        "print(sorted(m for m in ('tantivy', 'httpx', 'torch', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
