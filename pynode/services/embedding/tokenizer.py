"""BERT's uncased WordPiece tokenizer in pure Python, equal to Hugging Face `tokenizers`' for all-MiniLM-L6-v2.

The pipeline of the model's tokenizer.json, step by step:
  1. BertNormalizer: drop NUL, U+FFFD and control characters; map every whitespace to a space; put spaces
     around CJK ideographs; strip accents (NFD, then drop combining marks); lowercase character by character.
  2. BertPreTokenizer: split on whitespace, and isolate each punctuation character (ASCII punctuation and
     Unicode category P*).
  3. WordPiece: greedy longest-match-first against the vocabulary, continuation pieces prefixed "##"; a word
     longer than 100 characters, or one that cannot be fully covered, becomes [UNK].
  4. [CLS] … [SEP], truncated to `max_tokens` in all (sentence-transformers' max_seq_length, 256).
Runs unchanged in CPython and Pyodide (standard library only). Character classes come from the running
Python's `unicodedata` (Unicode 14 in CPython 3.11, 16 in Pyodide's 3.14): they agree with `tokenizers` on
every character assigned in both, and may differ on code points assigned since (tests/test_embedding.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

CLS, SEP, UNK, PAD = "[CLS]", "[SEP]", "[UNK]", "[PAD]"
MAX_WORD_CHARS = 100  # tokenizer.json's max_input_chars_per_word
# Rust's char::is_whitespace (the Unicode White_Space property), which `tokenizers` uses; str.isspace differs
_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# The CJK Unified Ideographs blocks BERT splits character by character
_CJK = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_control(c: str) -> bool:
    # `tokenizers` drops Cc, Cf, Co and Cs but keeps unassigned code points (Cn), unlike BERT's Python original
    if c in "\t\n\r":
        return False
    return unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs")


def _is_cjk(c: str) -> bool:
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in _CJK)


def _is_punctuation(c: str) -> bool:
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def normalize(text: str) -> str:
    """Step 1 (BertNormalizer with clean_text, handle_chinese_chars, strip_accents and lowercase)."""
    out: list[str] = []
    for c in text:
        if c == "\x00" or c == "\ufffd" or _is_control(c):
            continue
        if c in _WHITESPACE:
            out.append(" ")
        elif _is_cjk(c):
            out.append(f" {c} ")
        else:
            out.append(c)
    decomposed = unicodedata.normalize("NFD", "".join(out))
    stripped = (c for c in decomposed if unicodedata.category(c) != "Mn")
    return "".join(c.lower() for c in stripped)  # per character, as Rust's char::to_lowercase


def pre_tokenize(text: str) -> list[str]:
    """Step 2: words split on whitespace, each punctuation character a word of its own."""
    words: list[str] = []
    current: list[str] = []
    for c in text:
        if c in _WHITESPACE:
            if current:
                words.append("".join(current))
                current = []
        elif _is_punctuation(c):
            if current:
                words.append("".join(current))
                current = []
            words.append(c)
        else:
            current.append(c)
    if current:
        words.append("".join(current))
    return words


class WordPieceTokenizer:
    """Text → token ids of one sentence, [CLS] and [SEP] included."""

    def __init__(self, vocab: Iterable[str], max_tokens: int) -> None:
        self.vocab: dict[str, int] = {}
        for i, token in enumerate(vocab):
            self.vocab.setdefault(token, i)
        for special in (CLS, SEP, UNK, PAD):
            if special not in self.vocab:
                raise ValueError(f"the vocabulary lacks {special}")
        if max_tokens < 2:
            raise ValueError("max_tokens must leave room for [CLS] and [SEP]")
        self.max_tokens = max_tokens
        self.cls_id, self.sep_id = self.vocab[CLS], self.vocab[SEP]
        self.unk_id, self.pad_id = self.vocab[UNK], self.vocab[PAD]
        self._longest = max(len(t) for t in self.vocab)

    @classmethod
    def from_vocab_text(cls, text: str, max_tokens: int) -> WordPieceTokenizer:
        """From a vocab.txt (one token per line; the line number is the id)."""
        return cls(text.splitlines(), max_tokens)

    def word_ids(self, word: str) -> list[int]:
        """Step 3 for one pre-tokenized word."""
        if len(word) > MAX_WORD_CHARS:
            return [self.unk_id]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = min(len(word), start + self._longest)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str) -> list[int]:
        """Steps 1–4: [CLS] tokens… [SEP], at most max_tokens ids."""
        budget = self.max_tokens - 2
        ids: list[int] = []
        for word in pre_tokenize(normalize(text)):
            ids.extend(self.word_ids(word))
            if len(ids) >= budget:
                del ids[budget:]
                break
        return [self.cls_id, *ids, self.sep_id]
