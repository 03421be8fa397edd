"""The text index: one field, dense words left out, conjunction first for heavy queries, ids and ties."""

from __future__ import annotations

import numpy as np
import pytest

from mmsearch_gym.world.image_index import ImageIndex
from mmsearch_gym.world.text_index import DOC_IDS, TextIndex


def _doc(doc_id: str, title: str, body: str) -> dict[str, str]:
    return {"doc_id": doc_id, "title": title, "aliases": "", "infobox": "", "body": body, "url": f"u:{doc_id}"}


FILLER = " ".join(f"filler{i}" for i in range(60))
DOCS = [
    _doc("d0", "Alpha", "common words only, alpha gamma"),
    _doc("d1", "Beta", "common beta beta beta beta gamma"),
    _doc("d2", "Both", f"common alpha {FILLER} beta"),  # both words, in a long page
    _doc("d3", "Other", "common filler text"),
    _doc("d4", "Also both", f"alpha beta again with common words {FILLER}"),
    *(_doc(f"f{i}", f"F{i}", f"common plain page {i}") for i in range(5)),
]


@pytest.fixture(scope="module")
def index():
    return TextIndex.build(DOCS)


def test_heavy_queries_rank_documents_with_every_word_first(index):
    exact = TextIndex(index.index, index.doc_ids, budget=None)
    heavy = TextIndex(index.index, index.doc_ids, budget=1)  # every query is over budget
    assert exact.search_ids("alpha beta", 5)[0][0] == "d1"  # a short page full of beta outranks the long ones
    ranked = [doc_id for doc_id, _ in heavy.search_ids("alpha beta", 5)]
    assert set(ranked[:2]) == {"d2", "d4"}  # every word first
    assert ranked[2:] == ["d0"]  # then the rarest word's documents (alpha, the first word within the budget)
    assert heavy.search_ids("beta", 5) == exact.search_ids("beta", 5)  # one word: nothing to split
    for bad in ({"budget": 0}, {"budget": 2.5}, {"dense_share": 0}, {"dense_share": 1.5}):
        with pytest.raises(ValueError, match="budget|dense_share"):
            TextIndex(index.index, index.doc_ids, **bad)


def test_words_in_most_documents_are_not_scored_unless_alone(index):
    plain = TextIndex(index.index, index.doc_ids, dense_share=None)
    assert index.search_ids("common gamma", 5) == index.search_ids("gamma", 5)
    assert plain.search_ids("common gamma", 5) != plain.search_ids("gamma", 5)
    assert len(index.search_ids("common", 10)) == 10
    assert index.search_ids("the of", 5) == []  # stop words only: kept, and found nowhere
    assert index.search_ids("?!", 5) == [] and index.search("", 5) == []


def test_ties_follow_insertion_order_and_hits_carry_snippets():
    twins = TextIndex.build([_doc(f"t{i}", f"T{i}", "same words here") for i in (3, 1, 2, 0)])
    assert [d for d, _ in twins.search_ids("same words", 4)] == ["t3", "t1", "t2", "t0"]
    hit = twins.search("words", 1)[0]
    assert (hit.doc_id, hit.title, hit.url) == ("t3", "T3", "u:t3") and "words" in hit.snippet


def test_an_index_reopened_from_disk_answers_the_same(tmp_path):
    built = TextIndex.build(DOCS, tmp_path / "idx")
    reopened = TextIndex.open(tmp_path / "idx")
    assert reopened.doc_ids == built.doc_ids == [d["doc_id"] for d in DOCS]
    (tmp_path / "idx" / DOC_IDS).unlink()  # an index without its id list: read back from the index
    assert TextIndex.open(tmp_path / "idx").doc_ids == built.doc_ids
    for query in ("alpha beta", '"alpha beta" common', "gamma", "beta again"):
        assert reopened.search(query, 3) == built.search(query, 3)


def test_image_index_round_trips_and_an_empty_index_finds_nothing(tmp_path):
    rng = np.random.default_rng(0)
    images = {f"i{k}": rng.integers(0, 255, (60, 60 + 30 * (k % 2), 3), dtype=np.uint8) for k in range(6)}
    index = ImageIndex.build(images)
    index.save(tmp_path / "images.npz")
    loaded = ImageIndex.load(tmp_path / "images.npz")
    for image_id, image in images.items():
        assert index.search(image, 3) == loaded.search(image, 3)
        assert index.search(image, 1)[0] == (image_id, pytest.approx(1.0, abs=1e-3))  # itself, unchanged
    assert ImageIndex.build({}).search(images["i0"]) == []
