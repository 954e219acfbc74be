import pytest

from pynode.pace import CpuBudget


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("share", [0.25, 0.5, 1.0])
async def test_paced_work_keeps_to_its_cpu_share(share):
    t = FakeTime()
    budget = CpuBudget(share, clock=t.clock, sleep=t.sleep)
    for unit in range(10):
        t.now += 0.01 * (unit + 1)  # units of work of growing cost
        await budget.pace()
    busy = sum(0.01 * (u + 1) for u in range(10))
    assert budget.busy_s == pytest.approx(busy)
    assert sum(t.slept) == pytest.approx(busy * (1 / share - 1))
    assert busy / t.now == pytest.approx(share)
    assert len(t.slept) == 10  # even a full share yields to the event loop once per unit


@pytest.mark.parametrize("bad", [0.0, 0.01, 1.5, -1])
def test_a_share_outside_its_range_is_refused(bad):
    with pytest.raises(ValueError):
        CpuBudget(bad)


def test_blocking_pacing_sleeps_in_proportion_and_skips_sleeping_at_full_share():
    t = FakeTime()
    slept: list[float] = []

    def sleep_blocking(seconds: float) -> None:
        slept.append(seconds)
        t.now += seconds

    half = CpuBudget(0.5, clock=t.clock, sleep_blocking=sleep_blocking)
    for _ in range(4):
        t.now += 0.02
        half.pace_blocking()
    assert slept == pytest.approx([0.02] * 4)

    slept.clear()
    full = CpuBudget(1.0, clock=t.clock, sleep_blocking=sleep_blocking)
    t.now += 0.02
    full.pace_blocking()
    assert slept == []  # a synchronous loop at a full share pays nothing
