"""The SMT-LIB string theory operators of the SyGuS PBE grammars, as total functions.

Semantics follow SMT-LIB 2.6 (Strings): `str.at`/`str.substr` out of range give "", `str.indexof` gives -1 when
the start is out of range or nothing is found, `(str.replace s "" u)` is u ++ s, `str.to.int` gives -1 for a string
that is not all digits, `int.to.str` gives "" for a negative number. Each function returns None instead of a value
over MAX_STRING characters or MAX_INT_BITS bits: the enumerator drops such terms, the interpreter refuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pynode.research.skills.limits import MAX_INT_BITS, MAX_STRING

Value = str | int | bool


def _str(s: str) -> str | None:
    return s if len(s) <= MAX_STRING else None


def _int(n: int) -> int | None:
    return n if n.bit_length() <= MAX_INT_BITS else None


def concat(a: str, b: str) -> str | None:
    return a + b if len(a) + len(b) <= MAX_STRING else None


def replace(s: str, t: str, u: str) -> str | None:
    i = s.find(t)
    if i < 0:
        return s
    if len(s) - len(t) + len(u) > MAX_STRING:
        return None
    return s[:i] + u + s[i + len(t) :]


def at(s: str, i: int) -> str:
    return s[i] if 0 <= i < len(s) else ""


def substr(s: str, i: int, n: int) -> str:
    return s[i : i + n] if 0 <= i <= len(s) and n > 0 else ""


def int_to_str(n: int) -> str | None:
    return _str(str(n)) if n >= 0 else ""


def str_to_int(s: str) -> int:
    return int(s) if s and s.isascii() and s.isdigit() else -1


def indexof(s: str, t: str, i: int) -> int:
    return s.find(t, i) if 0 <= i <= len(s) else -1


@dataclass(frozen=True)
class Op:
    args: tuple[str, ...]  # argument sorts
    sort: str  # result sort
    fn: Callable[..., Value | None]


OPS: dict[str, Op] = {
    "str.++": Op(("String", "String"), "String", concat),
    "str.replace": Op(("String", "String", "String"), "String", replace),
    "str.at": Op(("String", "Int"), "String", at),
    "str.substr": Op(("String", "Int", "Int"), "String", substr),
    "int.to.str": Op(("Int",), "String", int_to_str),
    "str.len": Op(("String",), "Int", len),
    "str.to.int": Op(("String",), "Int", str_to_int),
    "str.indexof": Op(("String", "String", "Int"), "Int", indexof),
    "+": Op(("Int", "Int"), "Int", lambda a, b: _int(a + b)),
    "-": Op(("Int", "Int"), "Int", lambda a, b: _int(a - b)),
    "str.prefixof": Op(("String", "String"), "Bool", lambda s, t: t.startswith(s)),
    "str.suffixof": Op(("String", "String"), "Bool", lambda s, t: t.endswith(s)),
    "str.contains": Op(("String", "String"), "Bool", lambda s, t: t in s),
    "=": Op(("Int", "Int"), "Bool", lambda a, b: a == b),
}
ITE = "ite"  # (ite Bool T T): lazy in the interpreter, so not in OPS
SORTS = ("String", "Int", "Bool")
