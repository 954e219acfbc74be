"""Tokenisation and stemming: lower-case alphanumeric runs, a stopword list, then a stemmer.

Stemmers: "none"; "s" (Harman's 1991 S-stemmer, plurals only); "porter" (Porter 1980) and "english" (Porter2),
both from the pure-Python `snowballstemmer` package, so a tab stems exactly like CPython.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

import snowballstemmer

from pynode.research.search.stopwords import LISTS

STEMMERS = ("none", "s", "porter", "english")
_TOKEN = re.compile(r"[a-z0-9]+")


def s_stem(word: str) -> str:
    """Harman's S-stemmer: -ies -> -y, -es -> -e, -s -> '' with its exceptions (only the first rule applies)."""
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


@cache
def _stem_fn(stemmer: str) -> Callable[[str], str]:
    if stemmer == "none":
        return str
    if stemmer == "s":
        return s_stem
    return snowballstemmer.stemmer(stemmer).stemWord


@cache
def analyzer(stemmer: str, stopwords: str) -> Callable[[str], list[str]]:
    """text -> terms, with a per-analyzer memo of stems (a collection has ~10k distinct words)."""
    if stemmer not in STEMMERS or stopwords not in LISTS:
        raise ValueError(f"unknown analyzer {stemmer}/{stopwords}")
    stem, stop, memo = _stem_fn(stemmer), LISTS[stopwords], {}

    def analyze(text: str) -> list[str]:
        out = []
        for word in _TOKEN.findall(text.lower()):
            if word in stop:
                continue
            term = memo.get(word)
            if term is None:
                term = memo[word] = stem(word)
            out.append(term)
        return out

    return analyze
