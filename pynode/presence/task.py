"""The compute challenge: a small matrix product per (round seed, peer id), committed by a Merkle root.

Each node's task is C = A·B mod 2³² where A (ROWS × INNER) and B (INNER × COLS) are read from SHAKE-256 of
DOMAIN_TASK ‖ seed ‖ peer id, so two nodes never share a task and copying another's answers fails. Row i of C
is 4·COLS bytes (big-endian words); the commitment is the Merkle root over the rows. When a leader challenges,
the rows a node reveals are picked from the leader's challenge output and the node's peer id (`picks`), and
the leader recomputes exactly those rows (`row`), a few hundred multiply-adds each.
"""

from __future__ import annotations

import hashlib

from pynode.presence.params import (
    DOMAIN_LEAF,
    DOMAIN_NODE,
    DOMAIN_PICKS,
    DOMAIN_TASK,
    PICKED_ROWS,
    TASK_COLS,
    TASK_INNER,
    TASK_MASK,
    TASK_ROWS,
)

ROW_BYTES = 4 * TASK_COLS
DEPTH = (TASK_ROWS - 1).bit_length()  # Merkle path length (ROWS is a power of two)
assert 1 << DEPTH == TASK_ROWS


def task_key(seed: bytes, peer: bytes) -> bytes:
    """What a node's matrices are drawn from: its own peer id is in it, so no two tasks are alike."""
    return seed + peer


def _words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 4], "big") for i in range(0, len(data), 4)]


def matrices(seed: bytes, peer: bytes) -> tuple[list[list[int]], list[list[int]]]:
    """A as rows, B as columns (the product reads both row by row)."""
    stream = hashlib.shake_256(DOMAIN_TASK + task_key(seed, peer)).digest(
        4 * (TASK_ROWS * TASK_INNER + TASK_INNER * TASK_COLS)
    )
    words = _words(stream)
    a = [words[i * TASK_INNER : (i + 1) * TASK_INNER] for i in range(TASK_ROWS)]
    b_rows = words[TASK_ROWS * TASK_INNER :]
    b_cols = [b_rows[j::TASK_COLS] for j in range(TASK_COLS)]
    return a, b_cols


def _row(a_row: list[int], b_cols: list[list[int]]) -> bytes:
    out = bytearray()
    for col in b_cols:
        out += (sum(x * y for x, y in zip(a_row, col, strict=True)) & TASK_MASK).to_bytes(4, "big")
    return bytes(out)


def compute(seed: bytes, peer: bytes) -> list[bytes]:
    """Every row of the node's product: the honest answer."""
    a, b_cols = matrices(seed, peer)
    return [_row(a_row, b_cols) for a_row in a]


def row(seed: bytes, peer: bytes, index: int) -> bytes:
    """One row, as a checker recomputes it."""
    a, b_cols = matrices(seed, peer)
    return _row(a[index], b_cols)


# ---- the commitment ------------------------------------------------------------------------------------


def leaf(index: int, data: bytes) -> bytes:
    return hashlib.sha256(DOMAIN_LEAF + index.to_bytes(2, "big") + data).digest()


def _parent(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(DOMAIN_NODE + left + right).digest()


def tree(rows: list[bytes]) -> list[list[bytes]]:
    """The Merkle tree's levels, leaves first, root last."""
    level = [leaf(i, r) for i, r in enumerate(rows)]
    levels = [level]
    while len(level) > 1:
        level = [_parent(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def root(rows: list[bytes]) -> bytes:
    return tree(rows)[-1][0]


def path(levels: list[list[bytes]], index: int) -> list[bytes]:
    """The sibling hashes from leaf `index` up to the root."""
    out = []
    for level in levels[:-1]:
        out.append(level[index ^ 1])
        index >>= 1
    return out


def verify_path(root_: bytes, index: int, data: bytes, siblings: list[bytes]) -> bool:
    if len(siblings) != DEPTH or len(data) != ROW_BYTES:
        return False
    h = leaf(index, data)
    for sibling in siblings:
        h = _parent(h, sibling) if index % 2 == 0 else _parent(sibling, h)
        index >>= 1
    return h == root_


def picks(challenge_beta: bytes, peer: bytes) -> list[int]:
    """The distinct rows `peer` reveals for a challenge: unknown to anyone until the leader's proof is out."""
    out: list[int] = []
    counter = 0
    while len(out) < PICKED_ROWS:
        digest = hashlib.sha256(DOMAIN_PICKS + challenge_beta + peer + bytes([counter])).digest()
        for byte in digest:
            i = byte % TASK_ROWS
            if i not in out:
                out.append(i)
                if len(out) == PICKED_ROWS:
                    break
        counter += 1
    return out


def check_reveal(
    seed: bytes, peer: bytes, root_: bytes, indices: list[int], rows: list[bytes], paths: list[list[bytes]]
) -> str:
    """'' when the revealed rows are the committed ones and the right answers, else why not."""
    if len(rows) != len(indices) or len(paths) != len(indices):
        return "wrong_rows"
    for i, data, siblings in zip(indices, rows, paths, strict=True):
        if not verify_path(root_, i, data, siblings):
            return "wrong_rows"
    a, b_cols = matrices(seed, peer)
    for i, data in zip(indices, rows, strict=True):
        if _row(a[i], b_cols) != data:
            return "wrong_answer"
    return ""
