"""Stopword lists a config may choose: none, Lucene's English default (33 words), or Snowball's English list.

The Snowball list is the one published with the Snowball English stemmer (snowballstem.org, `stop.txt`), with its
contractions left out because our tokeniser splits on apostrophes anyway.
"""

from __future__ import annotations

_LUCENE_TEXT = """
a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to
was will with
"""

_SNOWBALL_TEXT = """
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself it
its itself they them their theirs themselves what which who whom this that these those am is are was were be been
being have has had having do does did doing would should could ought cannot a an the and but if or because as until
while of at by for with about against between into through during before after above below to from up down in out
on off over under again further then once here there when where why how all any both each few more most other some
such no nor not only own same so than too very
"""

LUCENE = frozenset(_LUCENE_TEXT.split())
SNOWBALL = frozenset(_SNOWBALL_TEXT.split())
LISTS: dict[str, frozenset[str]] = {"none": frozenset(), "lucene": LUCENE, "snowball": SNOWBALL}
