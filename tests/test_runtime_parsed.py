"""Parse once (pynode/runtime/parsed.py): a validator's parsed value reaches the handler once, and is bounded."""

from pynode.runtime.parsed import ParsedMessages


def test_a_kept_value_is_taken_once():
    kept: ParsedMessages[str] = ParsedMessages()
    kept.keep(b"id-1", "value")
    assert kept.take(b"id-1") == "value"
    assert kept.take(b"id-1") is None  # a second delivery of the same id finds nothing to reuse


def test_values_whose_handler_never_ran_are_dropped_oldest_first():
    kept: ParsedMessages[int] = ParsedMessages(limit=2)
    for i in range(3):
        kept.keep(bytes([i]), i)
    assert [kept.take(bytes([i])) for i in range(3)] == [None, 1, 2]
