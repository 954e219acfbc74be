"""The search config: its fields, ranges and canonical form, random draws, mutations and crossover.

A config is flat JSON: tokenisation (stemmer, stopwords), BM25F (k1, b, title_b, title_weight, body_weight)
and RM3 (fb_docs, fb_terms, fb_orig_weight; fb_docs = 0 turns feedback off). Floats are rounded to 4 decimals
and RM3's settings are reset to their defaults while feedback is off, so configs that rank identically have
one canonical form (and one hash) wherever possible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pynode.research.domain import Config, ConfigError, Mutation
from pynode.research.search.limits import MAX_CHOICE_CHARS, MAX_SHOWN_CHARS
from pynode.research.search.stopwords import LISTS
from pynode.research.search.text import STEMMERS


@dataclass(frozen=True)
class Field:
    kind: type  # str (a choice), int or float
    default: Any
    lo: float = 0
    hi: float = 0
    choices: tuple[str, ...] = ()


FIELDS: dict[str, Field] = {
    "stemmer": Field(str, "porter", choices=STEMMERS),
    "stopwords": Field(str, "lucene", choices=tuple(LISTS)),
    "k1": Field(float, 1.2, 0.0, 3.0),
    "b": Field(float, 0.75, 0.0, 1.0),
    "title_b": Field(float, 0.75, 0.0, 1.0),
    "title_weight": Field(float, 1.0, 0.0, 5.0),
    "body_weight": Field(float, 1.0, 0.0, 5.0),
    "fb_docs": Field(int, 0, 0, 30),
    "fb_terms": Field(int, 10, 1, 60),
    "fb_orig_weight": Field(float, 0.5, 0.0, 1.0),
}
RM3_FIELDS = ("fb_terms", "fb_orig_weight")  # inert while fb_docs == 0
GROUPS = (
    ("stemmer", "stopwords"),
    ("k1", "b"),
    ("title_b", "title_weight", "body_weight"),
    ("fb_docs", *RM3_FIELDS),
)

BASELINE: Config = {name: f.default for name, f in FIELDS.items()}  # plain BM25, k1 1.2, b 0.75, no feedback


def _show(value: Any) -> str:
    """A refused value, quoted briefly: never the whole of a huge string, number or container."""
    if isinstance(value, str):
        return repr(value[:MAX_SHOWN_CHARS]) + ("…" if len(value) > MAX_SHOWN_CHARS else "")
    if isinstance(value, int) and value.bit_length() > 64:
        return "a huge number"
    if value is None or isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _field_value(name: str, f: Field, value: Any) -> Any:
    if f.kind is str:
        if not isinstance(value, str) or len(value) > MAX_CHOICE_CHARS or value not in f.choices:
            raise ConfigError(f"{name} must be one of {list(f.choices)}, not {_show(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, not {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be finite")
    if not f.lo <= value <= f.hi:  # before any conversion: float() of a huge int would overflow
        raise ConfigError(f"{name} must lie in [{f.lo}, {f.hi}], not {_show(value)}")
    if f.kind is int:
        if value != int(value):
            raise ConfigError(f"{name} must be a whole number, not {_show(value)}")
        return int(value)
    return round(float(value), 4)


def validate(config: Mapping[str, Any]) -> Config:
    if not isinstance(config, Mapping):
        raise ConfigError(f"a search config is a JSON object, not {type(config).__name__}")
    if len(config) > len(FIELDS):
        raise ConfigError(f"a search config has at most {len(FIELDS)} keys")
    for key in config:
        if key not in FIELDS:
            raise ConfigError(f"unknown search setting {_show(key)}; known: {sorted(FIELDS)}")
    out = {name: _field_value(name, f, config.get(name, f.default)) for name, f in FIELDS.items()}
    if out["title_weight"] == 0 and out["body_weight"] == 0:
        raise ConfigError("title_weight and body_weight cannot both be 0 (nothing would match)")
    if out["fb_docs"] == 0:
        for name in RM3_FIELDS:
            out[name] = FIELDS[name].default
    return out


def sample(rng: Any) -> Config:
    out: Config = {}
    for name, f in FIELDS.items():
        if f.kind is str:
            out[name] = rng.choice(f.choices)
        elif f.kind is int:
            out[name] = rng.randint(int(f.lo), int(f.hi))
        else:
            out[name] = round(rng.uniform(f.lo, f.hi), 2)
    if out["title_weight"] == 0 and out["body_weight"] == 0:
        out["body_weight"] = 1.0
    return validate(out)


def crossover(a: Config, b: Config, rng: Any) -> Config:
    """Each group of settings that act together (tokenisation, BM25, fields, RM3) comes whole from one parent."""
    a, b = validate(a), validate(b)
    child: Config = {}
    for group in GROUPS:
        src = a if rng.random() < 0.5 else b
        child.update({name: src[name] for name in group})
    if child["title_weight"] == 0 and child["body_weight"] == 0:
        child.update({name: a[name] for name in GROUPS[2]})
    return validate(child)


# Why a move in each direction should help: the stated prediction of a hypothesis.
_REASONS: dict[str, tuple[str, str]] = {
    "k1": (
        "term frequency saturates later, so abstracts that repeat a query term rank higher",
        "term frequency saturates sooner, so matching more distinct query terms outweighs repeating one",
    ),
    "b": (
        "stronger length normalisation of the body stops long abstracts winning on raw term counts",
        "weaker length normalisation of the body credits long abstracts that treat the topic in depth",
    ),
    "title_b": (
        "normalising title matches by title length favours short, specific titles",
        "title matches count the same in long and short titles",
    ),
    "title_weight": (
        "a title match is stronger evidence of the topic than a body match",
        "titles are short and generic, so body matches should carry more of the evidence",
    ),
    "body_weight": (
        "body matches carry evidence the short titles miss",
        "body text is noisy, so title matches should dominate",
    ),
    "fb_docs": (
        "more feedback abstracts give a steadier expansion model",
        "fewer, more precise feedback abstracts keep the expansion on topic",
    ),
    "fb_terms": (
        "more expansion terms reach relevant abstracts worded differently from the query",
        "fewer expansion terms keep noise out of the expanded query",
    ),
    "fb_orig_weight": (
        "more weight on the original query words keeps the expansion from drifting",
        "more weight on the expansion terms bridges the vocabulary gap between queries and abstracts",
    ),
}
_STEM_STRENGTH = {"none": 0, "s": 1, "porter": 2, "english": 2}
_STOP_SIZE = {"none": 0, "lucene": 1, "snowball": 2}


def describe(parent: Config, child: Config) -> str:
    """The hypothesis in words: what changed, and why it should raise NDCG@10."""
    changes, reasons = [], []
    for name in FIELDS:
        old, new = parent.get(name), child.get(name)
        if old == new:
            continue
        changes.append(f"{name} {old} → {new}")
        if name in _REASONS and isinstance(old, int | float) and isinstance(new, int | float):
            if name == "fb_docs" and old == 0:
                reasons.append(
                    f"pseudo-relevance feedback (RM3) from the top {new} abstracts adds related vocabulary "
                    "that the short technical queries lack"
                )
            elif name == "fb_docs" and new == 0:
                reasons.append(
                    "feedback drifts off topic on these queries, so the original query alone ranks better"
                )
            else:
                reasons.append(_REASONS[name][0 if new > old else 1])
        elif name == "stemmer":
            s_old, s_new = _STEM_STRENGTH.get(old, 0), _STEM_STRENGTH.get(new, 0)
            reasons.append(
                "stronger stemming conflates more word forms, so queries match more relevant abstracts"
                if s_new > s_old
                else "lighter stemming keeps distinct technical terms apart, so fewer wrong abstracts match"
                if s_new < s_old
                else f"{new}'s suffix rules fit this technical English better than {old}'s"
            )
        elif name == "stopwords":
            reasons.append(
                "dropping more function words removes matches on words that carry no topic"
                if _STOP_SIZE.get(new, 0) > _STOP_SIZE.get(old, 0)
                else "keeping more words keeps query words that carry meaning in technical questions"
            )
    if not changes:
        return "no change"
    return f"{'; '.join(changes)}: {'; '.join(reasons)}; NDCG@10 on held-out queries rises."


def _step(name: str, parent: Config, rng: Any) -> Config:
    """Move one setting a random step within its range (never to the same value)."""
    f = FIELDS[name]
    child = dict(parent)
    old = parent[name]
    for _ in range(16):
        if f.kind is str:
            new = rng.choice([c for c in f.choices if c != old])
        elif f.kind is int:
            span = max(1, round((f.hi - f.lo) * 0.2))
            new = min(int(f.hi), max(int(f.lo), old + rng.choice([-1, 1]) * rng.randint(1, span)))
        else:
            new = round(min(f.hi, max(f.lo, old + rng.gauss(0.0, 0.15 * (f.hi - f.lo)))), 2)
        if new != old:
            break
    child[name] = new
    if name in RM3_FIELDS and child["fb_docs"] == 0:
        child["fb_docs"] = 10  # tuning feedback means turning it on
    if child["title_weight"] == 0 and child["body_weight"] == 0:
        child[name] = old
    return child


def _toggle_rm3(parent: Config, rng: Any) -> Config:
    child = dict(parent)
    child["fb_docs"] = 0 if parent["fb_docs"] else rng.choice([3, 5, 10, 15, 20])
    if child["fb_docs"]:
        child["fb_terms"] = rng.choice([5, 10, 20, 30, 50])
    return child


def mutations() -> list[Mutation]:
    ops = [
        Mutation(name, lambda parent, rng, name=name: _step(name, validate(parent), rng), describe)
        for name in FIELDS
        if name != "fb_docs"
    ]
    ops.append(Mutation("fb_docs", lambda parent, rng: _step("fb_docs", validate(parent), rng), describe))
    ops.append(Mutation("rm3", lambda parent, rng: _toggle_rm3(validate(parent), rng), describe))
    return ops
