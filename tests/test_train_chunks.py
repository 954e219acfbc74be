"""Steps per graph call (pynode/train/chunks.py) and stacking batches for the train_loop graph."""

from array import array

import pytest

from pynode.platform.model import Batch, Tensor, stack
from pynode.train.chunks import CALL_SECONDS, MAX_STEPS_PER_CALL, StepChunks


def test_chunks_start_at_one_step_then_fill_the_call_time():
    c = StepChunks()
    assert c.next(100) == 1
    c.took(1, CALL_SECONDS / 10)  # a step takes a tenth of a call's time: ten steps per call
    assert c.next(100) == 10
    assert c.next(3) == 3  # never more than remain
    c.took(10, 50 * CALL_SECONDS)  # much slower now: back to one step per call, never zero
    assert c.next(100) == 1
    c.took(1, 0.0)  # a step too fast to time: as many as allowed
    assert c.next(10**6) == MAX_STEPS_PER_CALL


def _batch(x0: float, y0: int) -> Batch:
    return Batch(Tensor("float32", (2, 3), array("f", [x0] * 6)), Tensor("int64", (2,), array("q", [y0] * 2)))


def test_stack_puts_batches_on_a_new_leading_axis_in_order():
    s = stack([_batch(1.0, 1), _batch(2.0, 2), _batch(3.0, 3)])
    assert s.x.shape == (3, 2, 3) and s.y.shape == (3, 2)
    assert list(s.x.data) == [1.0] * 6 + [2.0] * 6 + [3.0] * 6
    assert list(s.y.data) == [1, 1, 2, 2, 3, 3]


def test_stack_refuses_nothing_and_mixed_shapes():
    with pytest.raises(ValueError, match="no batches"):
        stack([])
    other = Batch(Tensor("float32", (1, 3), array("f", [0.0] * 3)), Tensor("int64", (1,), array("q", [0])))
    with pytest.raises(ValueError, match="one shape"):
        stack([_batch(1.0, 1), other])
