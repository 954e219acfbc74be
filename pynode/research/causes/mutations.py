"""Hypotheses for the causes domain: mutation operators, crossover, and the prediction each change states.

An operator on a setting the parent's estimator does not use moves the child to the nearest estimator that
uses it (a propensity term added to a regression makes it doubly robust; a caliper makes it matching), so every
operator proposes a new config.
"""

from __future__ import annotations

from typing import Any

from pynode.research.causes.limits import MAX_TERMS
from pynode.research.causes.schema import DEFAULTS, NUMBERS, USES, Schema, uses
from pynode.research.domain import Config, Mutation

_NEEDS_PS = {"naive": "ipw", "regression": "aipw"}  # the estimator a propensity-model change moves to
_NEEDS_OUTCOME = {"naive": "regression", "ipw": "aipw"}


def _move(schema: Schema, parent: Config, estimator: str) -> Config:
    """The parent as `estimator`, keeping what it has and filling the rest with defaults."""
    child = {"estimator": estimator}
    for name in USES[estimator]:
        child[name] = parent.get(name, schema.default(name))
    return child


def _with_model(schema: Schema, parent: Config, model: str) -> Config:
    if model in uses(parent):
        return dict(parent)
    if model == "outcome_terms" and parent["estimator"] == "matching":
        return {**parent, "bias_adjust": True, "outcome_terms": schema.default(model)}
    table = _NEEDS_PS if model == "ps_terms" else _NEEDS_OUTCOME
    return schema.validate(_move(schema, parent, table[parent["estimator"]]))


def _add_term(schema: Schema, parent: Config, model: str, rng: Any) -> Config:
    """One more term (a full model swaps one of its terms instead)."""
    child = _with_model(schema, schema.validate(parent), model)
    terms = list(child[model])
    unused = [t for t in schema.vocabulary() if t not in terms]
    if len(terms) >= MAX_TERMS:
        terms.remove(rng.choice(terms))
    child[model] = sorted([*terms, rng.choice(unused)])
    return child


def _drop_term(schema: Schema, parent: Config, model: str, rng: Any) -> Config:
    child = _with_model(schema, schema.validate(parent), model)
    if not child[model]:
        return _add_term(schema, child, model, rng)
    if child == schema.validate(parent):
        gone = rng.choice(child[model])
        child[model] = [t for t in child[model] if t != gone]
    return child


def _square(schema: Schema, parent: Config, model: str, rng: Any) -> Config:
    """Squares of the model's continuous variables that it lacks (or a new term if it has them all)."""
    child = _with_model(schema, schema.validate(parent), model)
    squares = [f"{t}^2" for t in child[model] if t in schema.variables.continuous]
    missing = [t for t in squares if t not in child[model]]
    if not missing or len(child[model]) + len(missing) > MAX_TERMS:
        return _add_term(schema, child, model, rng)
    child[model] = sorted([*child[model], *missing])
    return child


def _share_terms(schema: Schema, parent: Config, rng: Any) -> Config:
    """Both models on one covariate set: the propensity model's terms copied to the outcome model or back
    (a doubly robust estimator when the parent had only one model)."""
    parent = schema.validate(parent)
    child = schema.validate(_move(schema, parent, "aipw")) if parent["estimator"] != "aipw" else dict(parent)
    source, target = ("ps_terms", "outcome_terms") if rng.random() < 0.5 else ("outcome_terms", "ps_terms")
    if child[source] == child[target]:
        source, target = target, source
    child[target] = list(parent.get(source, child[source]))
    if child == parent:
        return _add_term(schema, child, target, rng)
    return child


def _new_option(name: str, old: Any, rng: Any) -> Any:
    if name == "ps_ridge":  # a log scale: 0.01 -> 0.1 is as big a step as 1 -> 10
        return float(f"{min(100.0, max(0.001, old * 10 ** rng.uniform(-1.0, 1.0))):.3g}")
    if name == "outcome_model":
        return "pooled" if old == "separate" else "separate"
    if name not in NUMBERS:
        return not old
    kind, lo, hi = NUMBERS[name]
    if kind is int:
        return rng.randint(int(lo), int(hi))
    return 0.0 if old and rng.random() < 0.3 else round(rng.uniform(lo, hi), 3)  # sometimes switched off


def _set(schema: Schema, parent: Config, name: str, rng: Any) -> Config:
    """A new value for an option, moving to an estimator that reads it when the parent's does not."""
    parent = schema.validate(parent)
    child = dict(parent) if name in USES[parent["estimator"]] else _move(schema, parent, _owner(name, parent))
    old = child.get(name, DEFAULTS.get(name))
    new = old
    for _ in range(16):
        new = _new_option(name, old, rng)
        if new != old:
            break
    child[name] = new
    return schema.validate(child)


def _owner(name: str, parent: Config) -> str:
    if name == "outcome_model":
        return "regression"
    if name in ("trim", "ps_ridge"):
        return _NEEDS_PS.get(parent["estimator"], "ipw")
    return "matching"


def _switch(schema: Schema, parent: Config, rng: Any) -> Config:
    parent = schema.validate(parent)
    estimators = [e for e in USES if e != parent["estimator"]]
    return schema.validate(_move(schema, parent, rng.choice(estimators)))


def crossover(schema: Schema, a: Config, b: Config, rng: Any) -> Config:
    """The estimator and its options from one parent; each model's terms from either parent that has them."""
    a, b = schema.validate(a), schema.validate(b)
    first, second = (a, b) if rng.random() < 0.5 else (b, a)
    child = dict(first)
    for model in ("ps_terms", "outcome_terms"):
        if model in child and model in second and rng.random() < 0.5:
            child[model] = second[model]
    return schema.validate(child)


# Why each change should bring the estimate closer to the answer: the stated prediction of a hypothesis.
_ESTIMATOR_REASONS = {
    "naive": "the raw difference in means needs no model that could be misspecified",
    "regression": "adjusting for the covariates compares units of the same age, schooling and history",
    "ipw": "weighting controls by their odds of treatment makes them resemble the treated in the score's covariates",
    "aipw": "a doubly robust estimate stays consistent when either the propensity or the outcome model is right",
    "matching": "comparing each treated unit with its most similar controls discards controls unlike any of them",
}
_OPTION_REASONS: dict[str, tuple[str, str]] = {  # (raised or on, lowered or off)
    "trim": (
        "trimming extreme propensities drops units without comparable counterparts, which dominate the weights",
        "keeping units with extreme propensities lowers the variance the trimming added",
    ),
    "k": ("more neighbours per unit lower the variance", "fewer, closer neighbours lower the matching bias"),
    "caliper": (
        "a wider caliper keeps treated units that otherwise go unmatched",
        "a tighter caliper rejects poor matches",
    ),
    "replacement": (
        "with replacement every unit gets its closest controls, even shared ones",
        "without replacement no control dominates the estimate",
    ),
    "bias_adjust": (
        "correcting each match by the outcome model removes the bias imperfect matches leave",
        "the outcome model's correction adds noise the matches do not need",
    ),
    "ps_ridge": (
        "a stronger penalty keeps near-separating covariates from pushing propensities to 0 or 1",
        "a weaker penalty lets the propensity model fit the selection into treatment more closely",
    ),
    "outcome_model": (
        "separate outcome models let covariates act differently on treated and controls",
        "a pooled outcome model borrows strength from the larger group",
    ),
}


def _term_reasons(model: str, old: list[str], new: list[str]) -> list[str]:
    which = "propensity" if model == "ps_terms" else "outcome"
    why = "balances it between the groups" if model == "ps_terms" else "removes its confounding"
    added, dropped = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    out = [f"adding {', '.join(added)} to the {which} model {why}"] if added else []
    if dropped:
        out.append(
            f"dropping {', '.join(dropped)} from the {which} model cuts the variance of an over-fitted model"
        )
    return out


def describe(parent: Config, child: Config, target: str) -> str:
    changes, reasons = [], []
    if parent.get("estimator") != child.get("estimator"):
        changes.append(f"estimator {parent.get('estimator')} → {child.get('estimator')}")
        reasons.append(_ESTIMATOR_REASONS.get(child["estimator"], ""))
    for model in ("ps_terms", "outcome_terms"):
        old, new = parent.get(model) or [], child.get(model) or []
        if old != new and model in child:
            changes.append(f"{model} {len(old)} → {len(new)} terms")
            reasons += _term_reasons(model, old, new)
    for name, (up, down) in _OPTION_REASONS.items():
        old, new = parent.get(name), child.get(name)
        if name in child and name in parent and old != new:
            changes.append(f"{name} {old} → {new}")
            reasons.append(up if (new == "separate" or (not isinstance(new, str) and new > old)) else down)
    if not changes:
        return "no change"
    return f"{'; '.join(changes)}: {'; '.join(reasons)}; the estimate moves closer to {target}."


def mutations(schema: Schema, target: str) -> list[Mutation]:
    def said(parent: Config, child: Config) -> str:
        return describe(parent, child, target)

    ops = [
        Mutation(f"{verb}_{model}", lambda p, rng, f=f, model=model: f(schema, p, model, rng), said)
        for model in ("ps_terms", "outcome_terms")
        for verb, f in (("add", _add_term), ("drop", _drop_term))
    ]
    ops += [
        Mutation(f"square_{model}", lambda p, rng, model=model: _square(schema, p, model, rng), said)
        for model in ("ps_terms", "outcome_terms")
    ]
    ops.append(Mutation("share_terms", lambda p, rng: _share_terms(schema, p, rng), said))
    ops += [
        Mutation(name, lambda p, rng, name=name: _set(schema, p, name, rng), said)
        for name in ("trim", "k", "caliper", "replacement", "bias_adjust", "outcome_model", "ps_ridge")
    ]
    ops.append(Mutation("estimator", lambda p, rng: _switch(schema, p, rng), said))
    return ops
