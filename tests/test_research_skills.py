"""The skills domain: SyGuS-IF parsing, SMT-LIB string semantics, the bounded interpreter on hostile programs,
enumerative synthesis on real problems, and hostile configs."""

from __future__ import annotations

import random

import pytest

from pynode.research.domain import ConfigError
from pynode.research.skills import TASK, SkillsDomain
from pynode.research.skills.interp import EvalError, run, solves
from pynode.research.skills.limits import MAX_EVAL_DEPTH, MAX_STEPS, MAX_STRING
from pynode.research.skills.problem import ProblemError, parse_problem
from pynode.research.skills.problems import problem, split, task_problems, texts
from pynode.research.skills.program import ProgramError, parse_program, show, size, subterms
from pynode.research.skills.schema import BASELINE, OPERATORS, validate, with_programs
from pynode.research.skills.semantics import OPS
from pynode.research.skills.sexpr import SexprError, StrLit, Sym, parse_all, parse_one
from pynode.research.skills.synth import SearchParams, compositions, synthesize

T = TASK.id
FIRSTNAME = '(str.substr name 0 (str.indexof name " " 0))'


def test_sexpr_reader():
    x = parse_one('(f "a ""q"" b" -1 12 x) ; comment', 8)
    assert x == [Sym("f"), StrLit('a "q" b'), -1, 12, Sym("x")]
    assert isinstance(x[1], StrLit) and isinstance(x[0], Sym)
    assert parse_all("(a)\n(b (c))", 8) == [["a"], ["b", ["c"]]]
    assert parse_one("-", 4) == "-" and isinstance(parse_one("-", 4), Sym)
    for bad, match in [
        ("(a", "unbalanced"),
        ("a)", "unbalanced"),
        ('"abc', "unterminated"),
        ("((((x))))", "deeper"),
    ]:
        with pytest.raises(SexprError, match=match):
            parse_one(bad, 3)
    with pytest.raises(SexprError, match="numeral longer"):
        parse_one("9" * 5000, 3)
    with pytest.raises(SexprError, match="tokens"):
        parse_all("x " * 30_000, 3)


def test_parser_on_real_sl_files():
    p = parse_problem("firstname_small", texts()["firstname_small"])
    assert p.params == (("name", "String"),) and p.sort == "String"
    assert p.grammar.start == "Start" and p.grammar.rules["Start"] == (("nt", "ntString"),)
    assert ("op", "str.indexof", ("ntString", "ntString", "ntInt")) in p.grammar.rules["ntInt"]
    assert ("const", " ") in p.grammar.rules["ntString"] and ("const", 2) in p.grammar.rules["ntInt"]
    assert p.examples[0] == (("Nancy FreeHafer",), "Nancy") and len(p.examples) == 4
    q = parse_problem("11440431", texts()["11440431"])
    assert ("const", -1) in q.grammar.rules["ntInt"] and ("op", "=", ("ntInt", "ntInt")) in q.grammar.rules[
        "ntBool"
    ]
    assert ("op", "ite", ("ntBool", "ntString", "ntString")) in q.grammar.rules["ntString"]
    two = problem("name-combine-long")
    assert two.params == (("firstname", "String"), ("lastname", "String")) and len(two.examples) == 50
    assert len(problem("bikes-long").examples) == 9  # 24 constraints, 9 distinct inputs
    with pytest.raises(ProblemError, match="unsupported operator"):
        parse_problem("max3", texts()["max3"])  # a declarative LIA spec, not PBE
    with pytest.raises(ProblemError, match="contradictory"):
        parse_problem("univ_3-long-repeat", texts()["univ_3-long-repeat"])
    refused = set()
    for name, text in texts().items():
        try:
            parse_problem(name, text)
        except ProblemError:
            refused.add(name)
    assert refused == {"max3", *(f"univ_{i}-long-repeat" for i in (3, 4, 5, 6))}  # 105 of the 110 parse
    with pytest.raises(ProblemError, match="over"):
        parse_problem("big", " " * 100_000)


def test_task_split_is_fixed_and_disjoint():
    names = task_problems()
    assert len(names) == 27 and all(n.endswith("-long") for n in names)
    for n in names:
        s = split(n)
        assert len(s.train) == 6 and len(s.train) + len(s.heldout) == len(s.problem.examples)
        assert not {e[0] for e in s.train} & {e[0] for e in s.heldout}


def test_smtlib_string_semantics():
    at, substr, indexof = OPS["str.at"].fn, OPS["str.substr"].fn, OPS["str.indexof"].fn
    replace, s2i, i2s = OPS["str.replace"].fn, OPS["str.to.int"].fn, OPS["int.to.str"].fn
    assert (at("abc", 0), at("abc", 3), at("abc", -1)) == ("a", "", "")
    assert substr("hello", 1, 3) == "ell" and substr("hello", 3, 10) == "lo"
    assert substr("hello", -1, 2) == "" and substr("hello", 2, 0) == "" and substr("hello", 5, 1) == ""
    assert indexof("a b c", " ", 0) == 1 and indexof("a b c", " ", 2) == 3 and indexof("abc", "z", 0) == -1
    assert indexof("abc", "", 3) == 3 and indexof("abc", "", 4) == -1 and indexof("abc", "a", -1) == -1
    assert (
        replace("a-b-c", "-", ".") == "a.b-c"
        and replace("abc", "", "x") == "xabc"
        and replace("abc", "z", "y") == "abc"
    )
    assert (s2i("007"), s2i(""), s2i("12a"), s2i("-3"), s2i("²")) == (7, -1, -1, -1, -1)
    assert (i2s(42), i2s(0), i2s(-1)) == ("42", "0", "")
    assert (
        OPS["str.prefixof"].fn("ab", "abc")
        and OPS["str.suffixof"].fn("bc", "abc")
        and OPS["str.contains"].fn("abc", "b")
    )
    # over the limits: None, never a huge value
    assert OPS["str.++"].fn("x" * MAX_STRING, "y") is None
    assert replace("a" * 1000, "a", "b" * 100) is None
    assert OPS["+"].fn(2**3400, 2**3400) is None and i2s(10**1100) is None


def test_programs_read_check_and_print_canonically():
    g = problem("firstname-long").grammar
    t = parse_program('  (str.substr name 0\n (str.indexof name " "  0))', g)
    assert t == (
        "str.substr",
        ("var", "name"),
        ("const", 0),
        ("str.indexof", ("var", "name"), ("const", " "), ("const", 0)),
    )
    assert show(t) == FIRSTNAME and parse_program(show(t), g) == t
    assert size(t) == 7 and len(subterms(t)) == 7 and subterms(t)[-1] == t
    q = parse_problem("11440431", texts()["11440431"])
    ite = '(ite (str.suffixof "US" _arg_0) (str.substr _arg_0 0 (- (str.len _arg_0) (+ 1 (+ 1 1)))) _arg_0)'
    program = parse_program(ite, q.grammar)
    assert show(program) == ite
    assert [run(program, {"_arg_0": x}) for x in ("Mining US", "Fishing")] == ["Mining", "Fishing"]
    bad = {
        "(str.reverse name)": "not in the problem's grammar",  # unknown operator
        "(str.at name)": "not in the problem's grammar",  # wrong arity
        '(str.++ name "Dr.")': "not in the problem's grammar",  # constant not in this grammar
        "(str.at name 7)": "not in the problem's grammar",
        "(str.len name)": "not in the problem's grammar",  # an Int where f returns a String
        "nombre": "not in the problem's grammar",
        "(str.++ name": "not an s-expression",
        "((str.++) name)": "operator name",
        "": "not an s-expression",
    }
    for text, match in bad.items():
        with pytest.raises(ProgramError, match=match):
            parse_program(text, g)


def test_hostile_programs_are_refused_quickly():
    g = problem("firstname-long").grammar
    deep = "(str.++ " * 5000 + "name" + " name)" * 5000
    wide = "(str.++ name " * 10 + "name" + ")" * 10
    cases = {
        deep: "over 1024 characters",
        "(str.++ " * 40 + "name" + " name)" * 40: "deeper than 16",
        "x" * 10_000_000: "over 1024 characters",
        '(str.++ name "' + "x" * 500 + '")': "string literal over",
        " ".join(["(str.++ name name)"] * 2): "expected one expression",
    }
    for text, match in cases.items():
        with pytest.raises(ProgramError, match=match):
            parse_program(text, g)
    with pytest.raises(ProgramError, match="more than 128 nodes"):
        parse_program("(str.++ " + " ".join(["name"] * 200) + ")", g)
    with pytest.raises(ProgramError, match="is text"):
        parse_program(["str.++", "name", "name"], g)  # type: ignore[arg-type]
    assert run(parse_program(wide, g), {"name": "ab"}) == "ab" * 11


def test_interpreter_bounds_runaway_programs():
    # concatenation that would outgrow MAX_STRING on a long input: refused, not built
    g = problem("firstname-long").grammar
    grow = parse_program("(str.++ (str.++ name name) (str.++ name name))", g)
    assert run(grow, {"name": "ab"}) == "ab" * 4
    with pytest.raises(EvalError, match="size limits"):
        run(grow, {"name": "x" * 300})
    # a chain of replaces, each inserting more text: bounded by the string limit
    text = "name"
    for _ in range(12):
        text = f'(str.replace {text} " " (str.++ " " " "))'
    chain = parse_program(text, g)
    assert run(chain, {"name": "a b"}) == "a" + " " * 13 + "b"
    with pytest.raises(EvalError, match="size limits"):
        run(chain, {"name": "a" * (MAX_STRING - 5) + " b"})
    # terms built directly (not parsed) are bounded by steps and depth, never by Python's recursion limit
    wide = ("var", "name")
    for _ in range(13):
        wide = ("str.replace", wide, ("const", " "), wide)
    with pytest.raises(EvalError, match=f"more than {MAX_STEPS} steps"):
        run(wide, {"name": "a"})
    deep = ("var", "name")
    for _ in range(5000):
        deep = ("str.at", deep, ("const", 0))
    with pytest.raises(EvalError, match=f"deeper than {MAX_EVAL_DEPTH}"):
        run(deep, {"name": "a"})
    # an over-limit program simply does not solve an example
    assert not solves(grow, (("name", "String"),), (("x" * 300,), "x"))


def test_a_known_program_solves_a_known_problem():
    s = split("firstname-long")
    t = parse_program(FIRSTNAME, s.problem.grammar)
    assert all(solves(t, s.problem.params, e) for e in s.problem.examples)
    assert not solves(parse_program("name", s.problem.grammar), s.problem.params, s.train[0])


def test_enumeration_finds_programs_within_its_budget():
    assert list(compositions(4, 2)) == [(1, 3), (2, 2), (3, 1)] and list(compositions(2, 3)) == []
    s = split("firstname-long")
    found = synthesize(s.problem, s.train, SearchParams(max_cost=12, max_candidates=50_000))
    assert found.program is not None and found.candidates <= 50_000
    assert all(solves(found.program, s.problem.params, e) for e in s.problem.examples)  # generalises
    plain = synthesize(
        s.problem, s.train, SearchParams(max_cost=12, max_candidates=50_000, oe=True, cegis=False)
    )
    assert plain.program is not None and found.candidates < plain.candidates  # CEGIS merges more, spends less
    no_oe = synthesize(
        s.problem, s.train, SearchParams(max_cost=12, max_candidates=5_000, oe=False, cegis=False)
    )
    assert no_oe.program is None and no_oe.candidates == 5_000  # stops at the budget
    # two arguments; a cost bound below the solution's cost finds nothing and says so
    r = split("reverse-name-long")
    assert show(synthesize(r.problem, r.train, SearchParams(12, 50_000)).program) == (
        '(str.++ lastname (str.++ " " firstname))'
    )
    assert synthesize(r.problem, r.train, SearchParams(4, 50_000)).program is None
    # an operator with cost 0 is never used
    no_substr = synthesize(s.problem, s.train, SearchParams(12, 20_000, costs={"str.substr": 0}))
    assert no_substr.program is None or "str.substr" not in show(no_substr.program)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"max_depth": 3}, "unknown skills setting"),
        ({"max_cost": "16"}, "max_cost must be a whole number"),
        ({"max_cost": 10**5000}, "must lie in"),
        ({"max_candidates": 10**9}, "must lie in"),
        ({"oe": 1}, "oe must be true or false"),
        ({"costs": {"str.reverse": 1}}, "unknown operator"),
        ({"costs": {"str.++": 9}}, r"costs\[str.\+\+\] must lie"),
        ({"costs": ["str.++"]}, "costs must map"),
        ({"programs": {"nope-long": "name"}}, "unknown problem"),
        ({"programs": {"x" * 10_000_000: "name"}}, "unknown problem"),
        ({"programs": {"firstname-long": "(str.++ " * 5000}}, "program for firstname-long"),
        ({"programs": {"firstname-long": 42}}, "a program is text"),
        ({"programs": {"firstname-long": '(str.++ name "Dr.")'}}, "not in the problem's grammar"),
        ({"programs": "name"}, "programs must map"),
        ("config", "JSON object"),
    ],
)
def test_hostile_configs_are_refused_with_a_short_reason(config, match):
    d = SkillsDomain()
    with pytest.raises(ConfigError, match=match) as e:
        d.validate(T, config)
    assert len(str(e.value)) < 400
    with pytest.raises(ConfigError):
        d.evaluate(T, config, 0)


def test_canonical_configs_and_operators():
    assert validate({}) == BASELINE and set(BASELINE["costs"]) == set(OPERATORS)
    c = validate(
        {"programs": {"firstname-long": '( str.substr  name 0 (str.indexof name " " 0) )'}, "max_cost": 12.0}
    )
    assert c["programs"] == {"firstname-long": FIRSTNAME} and c["max_cost"] == 12 and validate(c) == c
    grown = with_programs(BASELINE, {"phone-long": "(str.substr name 0 3)"})
    assert grown["programs"] == {"phone-long": "(str.substr name 0 3)"}
    assert with_programs(c, {"firstname-long": "name"})["programs"] == {
        "firstname-long": "name"
    }  # found replaces


def test_sample_mutations_and_crossover_stay_in_the_schema():
    d = SkillsDomain()
    rng = random.Random(5)
    parent = with_programs(
        d.baseline(T), {"firstname-long": FIRSTNAME, "phone-long": "(str.substr name 0 3)"}
    )
    names = [m.name for m in d.mutations(T)]
    assert {
        "max_candidates",
        "oe",
        "cegis",
        "library",
        "cost",
        "program.edit",
        "program.drop",
        "program.adopt",
    } <= set(names)
    for _ in range(20):
        for m in d.mutations(T):
            if m.name == "program.adopt":  # runs the parent's search: tested with a small budget below
                continue
            child = d.validate(T, m.apply(parent, rng))
            assert child != parent, m.name
            assert "held-out" in m.describe(parent, child)
        a = d.sample(T, rng)
        assert d.validate(T, a) == a and a["programs"] == {}
        child = d.crossover(T, a, parent, rng)
        assert set(child["programs"]) == set(parent["programs"])
        assert all(child["costs"][op] in (a["costs"][op], parent["costs"][op]) for op in OPERATORS)


def test_evaluation_reuses_known_programs_and_scores_held_out_examples():
    d = SkillsDomain()
    names = task_problems()
    known = {
        "firstname-long": FIRSTNAME,
        "phone-long": "name",
    }  # the second does not fit its training examples
    config = d.validate(T, {**BASELINE, "max_candidates": 1000, "programs": known})
    out = dict(zip(names, d.outcomes(config), strict=True))
    assert (
        out["firstname-long"].reused
        and out["firstname-long"].candidates == 0
        and out["firstname-long"].share == 1.0
    )
    assert not out["phone-long"].reused and out["phone-long"].candidates > 0
    e = d.evaluate(T, config, 0)
    assert e.details["heldout_share"] == pytest.approx(sum(o.share for o in out.values()) / 27)
    assert e.details["programs"]["firstname-long"] == FIRSTNAME and e.details["problems"] == 27
    seeds = [d.evaluate(T, config, s).value for s in range(4)]
    assert seeds == [d.evaluate(T, config, s).value for s in range(4)] and len(set(seeds)) > 1
    # adopting carries every program the strategy found, the known ones included
    adopt = next(m for m in d.mutations(T) if m.name == "program.adopt")
    child = d.validate(T, adopt.apply(config, random.Random(1)))
    assert child["programs"] == {**config["programs"], **e.details["programs"]} and len(child["programs"]) > 2
    assert child["programs"]["phone-long"] != "name"  # the carried program that did not fit is replaced
    assert "programs carried" in adopt.describe(config, child)
    for name, text in e.details["programs"].items():  # every program reported fits its training examples
        s = split(name)
        assert all(solves(parse_program(text, s.problem.grammar), s.problem.params, x) for x in s.train)
