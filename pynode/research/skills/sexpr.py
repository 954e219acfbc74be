"""S-expressions as SyGuS-IF and SMT-LIB write them: parentheses, symbols, numerals, "string" literals
(a quote inside is doubled: ""), and `;` comments. Iterative, size- and depth-bounded: input is hostile."""

from __future__ import annotations

from pynode.research.skills.limits import MAX_NUMERAL_DIGITS, MAX_SEXPR_TOKENS


class SexprError(ValueError):
    """Text that is not a well-formed, bounded s-expression."""


class Sym(str):
    """A symbol (an operator, variable or keyword name)."""

    __slots__ = ()


class StrLit(str):
    """A string literal, already unescaped."""

    __slots__ = ()


Sexpr = list | Sym | StrLit | int


def _tokens(text: str) -> list[str | StrLit]:
    out: list[str | StrLit] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == ";":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif c in "()":
            out.append(c)
            i += 1
        elif c == '"':
            parts, j = [], i + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise SexprError("unterminated string literal")
                parts.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':  # "" is an escaped quote
                    parts.append('"')
                    j = k + 2
                else:
                    i = k + 1
                    break
            out.append(StrLit("".join(parts)))
        else:
            j = i
            while j < n and text[j] not in ' \t\r\n;()"':
                j += 1
            out.append(text[i:j])
            i = j
        if len(out) > MAX_SEXPR_TOKENS:
            raise SexprError(f"more than {MAX_SEXPR_TOKENS} tokens")
    return out


def _atom(token: str) -> Sym | int:
    body = token[1:] if token.startswith("-") else token
    if body.isascii() and body.isdigit():
        if len(body) > MAX_NUMERAL_DIGITS:
            raise SexprError(f"numeral longer than {MAX_NUMERAL_DIGITS} digits")
        return int(token)
    return Sym(token)


def parse_all(text: str, max_depth: int) -> list[Sexpr]:
    """Every top-level s-expression in `text`; nesting deeper than `max_depth` is refused."""
    stack: list[list[Sexpr]] = [[]]
    for tok in _tokens(text):
        if isinstance(tok, StrLit):
            stack[-1].append(tok)
        elif tok == "(":
            if len(stack) > max_depth:
                raise SexprError(f"nested deeper than {max_depth}")
            stack.append([])
        elif tok == ")":
            if len(stack) == 1:
                raise SexprError("unbalanced ')'")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(_atom(tok))
    if len(stack) != 1:
        raise SexprError("unbalanced '('")
    return stack[0]


def parse_one(text: str, max_depth: int) -> Sexpr:
    items = parse_all(text, max_depth)
    if len(items) != 1:
        raise SexprError(f"expected one expression, found {len(items)}")
    return items[0]
