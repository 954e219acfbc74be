"""The search domain: NDCG and BM25F/RM3 against hand computations, the Cranfield data, hostile configs."""

from __future__ import annotations

import math
import random

import pytest

from pynode.research import assets
from pynode.research.domain import ConfigError
from pynode.research.search import TASK, SearchDomain
from pynode.research.search.collection import cranfield
from pynode.research.search.domain import bootstrap
from pynode.research.search.index import build_index
from pynode.research.search.metrics import ndcg_at_k
from pynode.research.search.rank import Bm25Params, Ranker, Rm3Params
from pynode.research.search.schema import BASELINE, FIELDS, GROUPS, validate
from pynode.research.search.text import analyzer, s_stem

T = TASK.id


@pytest.fixture(scope="module")
def domain() -> SearchDomain:
    return SearchDomain()


def test_ndcg_on_a_hand_computed_ranking():
    # ranking 3, 1, 2 against gains {1: 1, 2: 3, 5: 1}: DCG = 0 + 1/log2(3) + 3/log2(4); ideal = 3 + 1/log2(3) + 1/2
    got = ndcg_at_k([3, 1, 2], {1: 1, 2: 3, 5: 1}, 3)
    assert got == pytest.approx((1 / math.log2(3) + 1.5) / (3 + 1 / math.log2(3) + 0.5))
    assert ndcg_at_k([2, 1, 5], {1: 1, 2: 3, 5: 1}, 3) == pytest.approx(1.0)
    assert ndcg_at_k([7, 8], {1: 1}, 10) == 0.0
    assert ndcg_at_k([1], {}, 10) == 0.0  # nothing relevant: 0, not a division by zero
    assert ndcg_at_k([9, 9, 9, 1], {1: 1}, 3) == 0.0  # cut at k


def _tiny() -> Ranker:
    # bodies only (no titles): lengths 3, 2, 4, average 3
    docs = [("", "a b b"), ("", "b c"), ("", "c c c d")]
    return build_index(docs, ["b", "c d"], "none", "none")


def test_bm25_on_a_tiny_corpus_matches_the_hand_computation():
    r = Ranker(_tiny(), Bm25Params(k1=1.2, b=0.75, title_weight=0.0, body_weight=1.0))
    idf_b = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    # doc 0: tf 2, length 3 = average -> norm 1; doc 1: tf 1, length 2 -> norm 0.25 + 0.75 * 2 / 3 = 0.75
    s = r.scores({"b": 1.0})
    assert s[0] == pytest.approx(idf_b * 2 * 2.2 / (1.2 + 2))
    assert s[1] == pytest.approx(idf_b * (1 / 0.75) * 2.2 / (1.2 + 1 / 0.75))
    assert 2 not in s
    assert [d for d, _ in r.rank({"b": 1.0}, 10)] == [0, 1]
    # query weights scale linearly; b = 0 removes length normalisation
    assert r.scores({"b": 2.0})[1] == pytest.approx(2 * s[1])
    flat = Ranker(_tiny(), Bm25Params(k1=1.2, b=0.0, title_weight=0.0)).scores({"b": 1.0})
    assert flat[1] == pytest.approx(idf_b * 1 * 2.2 / (1.2 + 1))


def test_bm25f_weighs_a_title_match_like_repeated_body_matches():
    index = build_index([("x", "y"), ("", "x x y")], [], "none", "none")
    r = Ranker(index, Bm25Params(k1=1.2, b=0.0, title_b=0.0, title_weight=2.0, body_weight=1.0))
    s = r.scores({"x": 1.0})
    assert s[0] == pytest.approx(s[1])  # title weight 2 x tf 1 == body weight 1 x tf 2


def test_rm3_expands_the_query_from_the_top_documents():
    r = Ranker(_tiny(), Bm25Params(title_weight=0.0))
    assert r.feedback_query(["b"], Rm3Params(fb_docs=0)) == {"b": 1.0}
    # top doc for "b" is "a b b": P(b|R) = 2/3, P(a|R) = 1/3
    one = r.feedback_query(["b"], Rm3Params(fb_docs=1, fb_terms=1, orig_weight=0.5))
    assert one == pytest.approx({"b": 1.0})
    two = r.feedback_query(["b"], Rm3Params(fb_docs=1, fb_terms=2, orig_weight=0.25))
    assert two == pytest.approx({"b": 0.25 + 0.75 * 2 / 3, "a": 0.75 / 3})
    assert r.feedback_query([], Rm3Params(fb_docs=3)) == {}


def test_tokenisation_stopwords_and_stemmers():
    assert analyzer("porter", "lucene")("The flows of Boundary-layers, 2 tests") == [
        "flow",
        "boundari",
        "layer",
        "2",
        "test",
    ]
    assert analyzer("none", "none")("The flows") == ["the", "flows"]
    assert analyzer("s", "snowball")("which bodies are these") == ["body"]
    assert [s_stem(w) for w in ["queries", "aies", "cases", "shoes", "flows", "gas", "glass", "corpus"]] == [
        "query", "aie", "case", "shoe", "flow", "ga", "glass", "corpus",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        analyzer("klingon", "none")


def test_the_shipped_collection_and_its_split():
    c = cranfield()
    assert len(c.docnos) == 1400 and c.docnos[0] == 1 and c.docnos[-1] == 1400
    assert len(c.queries) == 225 and c.queries[0].startswith("what similarity laws")
    assert (len(c.tune), len(c.heldout)) == (113, 112)
    assert not set(c.tune) & set(c.heldout)
    assert all(c.qrels[q] for q in range(225))  # every query has a relevant document
    assert sum(len(j) for j in c.qrels) == 1612 and c.qrels[39] == {**c.qrels[39], 85: 3}


def test_assets_refuse_tampered_or_unlisted_files(tmp_path, monkeypatch):
    (tmp_path / "manifest.json").write_text('{"x.bin": "%s"}' % ("0" * 64))
    (tmp_path / "x.bin").write_bytes(b"tampered")
    monkeypatch.setattr(assets, "DATA_DIR", tmp_path)
    assets._manifest.cache_clear()
    assets.read_asset.cache_clear()
    try:
        with pytest.raises(assets.AssetError, match="does not match"):
            assets.read_asset("x.bin")
        with pytest.raises(assets.AssetError, match="not in"):
            assets.read_asset("y.bin")
        assets.write_asset("x.bin", b"good")
        assert assets.read_asset("x.bin") == b"good"
    finally:
        monkeypatch.undo()
        assets._manifest.cache_clear()
        assets.read_asset.cache_clear()


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"k2": 1.0}, "unknown search setting"),
        ({"k1": "1.2"}, "k1 must be a number"),
        ({"fb_docs": True}, "fb_docs must be a number"),
        ({"k1": 3.5}, r"k1 must lie in \[0.0, 3.0\]"),
        ({"b": -0.1}, "b must lie"),
        ({"fb_docs": 10**5000}, "fb_docs must lie"),
        ({"k1": 10**5000}, "k1 must lie"),
        ({"k1": float("nan")}, "finite"),
        ({"k1": float("inf")}, "finite"),
        ({"fb_docs": 2.5}, "whole number"),
        ({"stemmer": "x" * 10_000_000}, "stemmer must be one of"),
        ({"stemmer": ["porter"]}, "stemmer must be one of"),
        ({"x" * 10_000_000: 1}, "unknown search setting"),
        ({f"k{i}": 1 for i in range(11)}, "at most"),
        ({"title_weight": 0, "body_weight": 0.0}, "cannot both be 0"),
        ([("k1", 1.0)], "JSON object"),
    ],
)
def test_hostile_configs_are_refused_with_a_short_reason(domain, config, match):
    with pytest.raises(ConfigError, match=match) as e:
        domain.validate(T, config)
    assert len(str(e.value)) < 400
    with pytest.raises(ConfigError):
        domain.evaluate(T, config, 0)


def test_canonical_form():
    assert validate({}) == BASELINE
    c = validate({"k1": 1, "fb_docs": 10.0, "b": 0.123456})
    assert (c["k1"], c["fb_docs"], c["b"]) == (1.0, 10, 0.1235)
    assert type(c["k1"]) is float and type(c["fb_docs"]) is int
    # RM3's settings are inert while feedback is off: they collapse to the defaults
    assert validate({"fb_terms": 50, "fb_orig_weight": 0.1}) == BASELINE
    assert validate(c) == c


def test_sample_mutations_and_crossover_stay_in_the_schema(domain):
    rng = random.Random(7)
    names = {m.name for m in domain.mutations(T)}
    assert names >= {"k1", "b", "title_weight", "stemmer", "stopwords", "rm3", "fb_docs", "fb_terms"}
    parent = domain.baseline(T)
    for _ in range(30):
        for m in domain.mutations(T):
            child = domain.validate(T, m.apply(parent, rng))
            assert child != parent, m.name
            text = m.describe(parent, child)
            assert "NDCG@10" in text and "→" in text
        a, b = domain.sample(T, rng), domain.sample(T, rng)
        assert domain.validate(T, a) == a
        child = domain.crossover(T, a, b, rng)
        for group in GROUPS:
            assert (
                all(child[k] == a[k] for k in group)
                or all(child[k] == b[k] for k in group)
                or child["fb_docs"] == 0
            )
        parent = child
    assert set(domain.sample(T, rng)) == set(FIELDS)


def test_bootstrap_resamples_are_fixed_by_the_seed():
    values = [float(i) for i in range(50)]
    assert bootstrap(values, 3) == bootstrap(values, 3)
    assert len({bootstrap(values, s) for s in range(5)}) == 5
    assert bootstrap([0.5] * 20, 9) == 0.5


def test_evaluation_on_cranfield(domain):
    base = domain.evaluate(T, domain.baseline(T), 0)
    heldout = base.details["ndcg10_heldout"]
    assert 0.3 < heldout < 0.45  # the published BM25 range on Cranfield
    assert base.details["queries"] == 112
    seeds = [domain.evaluate(T, domain.baseline(T), s).value for s in range(3)]
    assert seeds[0] == base.value and len(set(seeds)) == 3
    assert abs(sum(seeds) / 3 - heldout) < 0.05
    # title weight and RM3 feedback beat plain BM25 on held-out queries
    tuned = {"stopwords": "snowball", "k1": 1.5, "title_weight": 3.0, "fb_docs": 5, "fb_terms": 5}
    assert domain.evaluate(T, tuned, 0).details["ndcg10_heldout"] > heldout + 0.03


def test_full_length_normalisation_with_empty_titles_scores_without_crashing():
    from pynode.research.registry import domain

    d = domain("search")
    config = d.validate("cranfield-ndcg10", {**d.baseline("cranfield-ndcg10"), "b": 1.0, "title_b": 1.0})
    assert 0 < d.evaluate("cranfield-ndcg10", config, 0).value < 1
