"""The research loop's core on a small noisy domain: plan → run → conclude → result record → paper."""

from __future__ import annotations

import random

import pytest

from pynode.identity import Identity
from pynode.research import experiment, paper, strategy
from pynode.research.agent import Agent, decimal_text, priors, result_body
from pynode.research.config import canonical, config_hash, parse
from pynode.research.domain import ConfigError, Evaluation, Mutation, Task
from pynode.research.procedure import procedure
from pynode.research.strategy import Bandit, Prior, Proposal, RandomSearch
from pynode.state.records import decode_record, make_record


class Bowl:
    """Minimise (x-3)² + (y+1)² observed with seed noise: a domain whose optimum is known."""

    name = "ml"
    tasks = {"bowl": Task("ml", "bowl", "loss", "nats", "min", "a noisy quadratic bowl", seeds=4)}

    def baseline(self, task):
        return {"x": 0.0, "y": 0.0}

    def validate(self, task, config):
        if set(config) != {"x", "y"}:
            raise ConfigError("needs exactly x and y")
        out = {}
        for k in ("x", "y"):
            v = config[k]
            if not isinstance(v, int | float) or isinstance(v, bool) or not -10 <= v <= 10:
                raise ConfigError(f"{k} must be a number in [-10, 10]")
            out[k] = round(float(v), 3)
        return out

    def sample(self, task, rng):
        return {"x": rng.uniform(-10, 10), "y": rng.uniform(-10, 10)}

    def mutations(self, task):
        def step(key, delta):
            def apply(c, rng):
                return {**c, key: c[key] + delta * rng.uniform(0.5, 1.5)}

            return Mutation(f"{key}{'+' if delta > 0 else '-'}", apply, lambda p, c: f"moving {key} helps")

        return [step("x", 1.0), step("x", -1.0), step("y", 1.0), step("y", -1.0)]

    def crossover(self, task, a, b, rng):
        return {"x": a["x"], "y": b["y"]}

    def evaluate(self, task, config, seed):
        noise = random.Random(f"{canonical(config)}/{seed}").gauss(0, 0.05)
        return Evaluation((config["x"] - 3) ** 2 + (config["y"] + 1) ** 2 + noise, {"seed": seed})


def run_agent(strategy, experiments: int) -> list[Prior]:
    domain = Bowl()
    agent = Agent(domain, "bowl", strategy)
    board: list[Prior] = []
    tried: set[str] = set()
    for i in range(experiments):
        proposal = agent.plan(board, tried)
        assert proposal is not None
        tried.add(config_hash(proposal.config))
        finding = agent.conclude(proposal, experiment.run(domain, "bowl", proposal.config), board)
        board.append(Prior(f"{i:064x}", "me", proposal.config, finding.samples, finding.mean))
    return board


def test_first_experiment_is_the_baseline_then_no_config_repeats():
    board = run_agent(Bandit(random.Random(1)), 12)
    assert board[0].config == {"x": 0.0, "y": 0.0}
    assert len({config_hash(p.config) for p in board}) == len(board)


def test_bandit_beats_random_search_on_the_bowl():
    bandit = [min(p.mean for p in run_agent(Bandit(random.Random(s)), 25)) for s in range(5)]
    rand = [min(p.mean for p in run_agent(RandomSearch(random.Random(s)), 25)) for s in range(5)]
    assert sum(bandit) / 5 < sum(rand) / 5


async def test_a_finding_becomes_a_valid_signed_result_and_a_paper():
    domain = Bowl()
    agent = Agent(domain, "bowl", Bandit(random.Random(3)))
    base = agent.plan([], set())
    base_finding = agent.conclude(base, experiment.run(domain, "bowl", base.config), [])
    identity = await Identity.from_seed(bytes(32))
    signer = identity.signer
    base_record = await make_record(signer, "result", result_body(base_finding), 1)
    board, refused = priors(domain, domain.tasks["bowl"], [decode_record(base_record.encoded)])
    assert refused == [] and board[0].key == base_record.key
    better = {"x": 2.0, "y": -1.0}
    proposal = agent.strategy.propose(domain, "bowl", board, set())
    proposal = type(proposal)(better, proposal.operator, board[0], "moving x toward 3 lowers the loss")
    finding = agent.conclude(proposal, experiment.run(domain, "bowl", better), board)
    assert finding.confirmed and finding.improvement
    assert finding.vs_parent.p_value < 0.05 and finding.vs_parent.effect > 0
    assert finding.baseline_key == base_record.key and finding.noise_floor > 0
    body = result_body(finding)
    assert body["inspired_by"] == base_record.key and body["baseline"] == base_record.key
    assert parse(body["config"]) == better
    record = await make_record(signer, "result", body, 2)
    title, markdown, figures = paper.write(finding, record.key, identity.text)
    for section in (
        "## Abstract",
        "## Hypothesis",
        "## Method",
        "## Results",
        "## Discussion",
        "## Reproduction",
    ):
        assert section in markdown
    assert f"hyperspace reproduce {record.key}" in markdown
    assert "| `x` | 0.0 | 2.0 |" in markdown  # the config diff against the parent
    assert figures[0].startswith("<svg") and "<script" not in figures[0]
    paper_body = {
        "title": title,
        "domain": "ml",
        "task": "bowl",
        "results": [record.key],
        "markdown": markdown,
    }
    await make_record(signer, "paper", {**paper_body, "figures": figures}, 3)


async def test_a_peer_result_whose_config_breaks_the_schema_is_refused_from_the_board():
    domain = Bowl()
    signer = (await Identity.from_seed(bytes(32))).signer
    body = {
        "domain": "ml",
        "task": "bowl",
        "metric": "loss",
        "unit": "nats",
        "direction": "min",
        "value": "1",
        "seeds": 3,
        "samples": ["1", "1", "1"],
        "config": '{"x": 1e308, "z": 2}',
    }
    record = await make_record(signer, "result", body, 1)
    board, refused = priors(domain, domain.tasks["bowl"], [record])
    assert board == [] and refused == [record]


@pytest.mark.parametrize(
    "text",
    ['{"x": NaN}', "[1, 2]", '{"a": ' * 40 + "1" + "}" * 40, '{"x": "' + "a" * 20_000 + '"}', "not json"],
)
def test_hostile_config_texts_are_refused(text):
    with pytest.raises(ConfigError):
        parse(text)


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.1, "0.1"),
        (1234567.891, "1234570"),
        (-0.000012345678, "-0.0000123457"),
        (float("inf"), "1000000000000000"),
    ],
)
def test_decimal_text_is_record_safe(x, text):
    assert decimal_text(x) == text


async def test_agents_sharing_a_process_research_at_once(tmp_path):
    # the demo runs several nodes in one process: their evaluations (threads) must not race on shared
    # domain state (index caches, stemmers)
    import asyncio

    from pynode.platform import native
    from pynode.research.registry import domain
    from pynode.runtime.replica import LocalReplica
    from pynode.runtime.research import ResearchAgent, ResearchConfig
    from pynode.state.store import Store

    domain("search").clear_caches()  # so the three build the index at once
    agents = []
    for i in range(3):
        identity = await Identity.from_seed(bytes([i + 1]) * 32)
        replica = LocalReplica(identity.signer, Store(identity.peer_id, native), tmp_path / str(i))
        agents.append(ResearchAgent(replica, ResearchConfig(domains=("search",), seed=i)))
    published = await asyncio.gather(*(a.run_once() for a in agents))
    assert all(p is not None and p.finding.proposal.operator == "baseline" for p in published)
    assert len({p.finding.samples for p in published}) == 1  # one config, one answer


def test_results_trained_another_way_are_not_compared():
    """A seed of a DiLoCo run of P peers used P peers' compute: its p-value and any improvement are only against
    results trained the same way (pynode.research.procedure)."""
    domain = Bowl()
    agent = Agent(domain, "bowl", Bandit(random.Random(3)))
    base = agent.plan([], set())
    base_samples = agent.conclude(base, experiment.run(domain, "bowl", base.config), []).samples
    parent = Prior("a" * 64, "me", base.config, base_samples, sum(base_samples) / len(base_samples))
    better = {"x": 2.0, "y": -1.0}
    proposal = Proposal(better, "crossover", parent, "moving x toward 3 lowers the loss")
    evaluations = experiment.run(domain, "bowl", better)
    alike = agent.conclude(proposal, evaluations, [parent])
    assert alike.vs_parent is not None and alike.improvement
    other = agent.conclude(proposal, evaluations, [parent], trained="diloco/3")
    assert other.vs_parent is None and other.vs_best is None and not other.improvement
    team = Prior("b" * 64, "peer", base.config, base_samples, parent.mean, "diloco/3")
    teamed = Proposal(better, "crossover", team, "moving x toward 3 lowers the loss")
    assert agent.conclude(teamed, evaluations, [parent, team], trained="diloco/3").vs_best.key == team.key


def test_a_results_procedure_is_read_from_its_training():
    rounds = [[[b"p" * 32, 4], [b"q" * 32, 4]], [[b"p" * 32, 4], [b"q" * 32, 4]]]
    assert procedure(None) == procedure({"mode": "solo"}) == "solo"
    assert procedure({"mode": "diloco", "runs": [{"run": {}, "rounds": rounds}] * 3}) == "diloco/2"


def test_a_child_that_measures_as_its_parent_is_neutral_not_confirmed():
    """A parent's samples come from its record (10 significant digits): a child whose raw values equal them up
    to those digits tested as "better" at p = 0.015 before the statistics used the published digits (skills:
    a program edit the search overrides was "confirmed" and the bandit kept choosing it). It is neutral: not
    confirmed, and the arm that made it rests after NEUTRAL_REST such children."""
    domain = Bowl()
    bandit = Bandit(random.Random(3))
    agent = Agent(domain, "bowl", bandit)
    raw = (0.29629629626666665, 0.3333333333333333, 0.2222222222222222, 0.3333333333333333)
    published = tuple(float(decimal_text(v, 10)) for v in raw)
    assert published != raw
    parent = Prior("a" * 64, "me", {"x": 1.0, "y": 0.0}, published, sum(published) / 4)
    child = Proposal({"x": 1.5, "y": 0.0}, "x+", parent, "moving x helps")
    bandit.pulls["x+"], bandit.wins["x+"] = 10, 8.0  # an arm that won before: Thompson picks it most
    for _ in range(strategy.NEUTRAL_REST):
        finding = agent.conclude(child, [Evaluation(v) for v in raw], [parent])
        assert finding.vs_parent is not None and finding.vs_parent.p_value == 1.0 and not finding.confirmed
    assert bandit.neutral == {"x+": strategy.NEUTRAL_REST} and bandit.pulls == {"x+": 12}
    bandit.screen = False  # each proposal is the first candidate: the arms' choice shows unscreened
    picked = {bandit.propose(domain, "bowl", [parent], set()).operator for _ in range(30)}
    assert "x+" not in picked and len(picked) > 2  # it rests while the board stands still
    bandit.feedback(Proposal({}, "crossover", parent, ""), improved=True)
    assert bandit.neutral == {}  # the board moved: every arm is back


def test_an_arm_is_rewarded_for_a_better_mean_even_unconfirmed():
    """On 3 seeds a step seldom reaches p < 0.05 against its parent: an arm whose child has the better mean wins
    (the paper still says the prediction was not confirmed); a worse child loses."""
    domain = Bowl()
    bandit = Bandit(random.Random(3))
    agent = Agent(domain, "bowl", bandit)
    parent = Prior("a" * 64, "me", {"x": 1.0, "y": 0.0}, (5.0, 4.0, 6.0, 5.0), 5.0)
    noisy_gain = Proposal({"x": 1.5, "y": 0.0}, "x+", parent, "moving x helps")
    finding = agent.conclude(noisy_gain, [Evaluation(v) for v in (4.0, 5.5, 4.5, 5.8)], [parent])
    assert finding.mean < parent.mean and not finding.confirmed
    assert bandit.wins == {"x+": 1.0} and bandit.pulls == {"x+": 1}
    agent.conclude(noisy_gain, [Evaluation(v) for v in (5.5, 4.5, 6.5, 5.0)], [parent])
    assert bandit.wins == {"x+": 1.0} and bandit.pulls == {"x+": 2}
