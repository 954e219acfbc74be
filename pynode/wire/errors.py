"""One error type for every rejection of network input, with a short reason code for metrics."""


class WireError(Exception):
    """Input from the network was refused. `reason` is a stable code, counted in /metrics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
