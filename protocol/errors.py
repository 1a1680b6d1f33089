"""The one error type of the wire format: a short reason code plus a detail for people."""


class ProtocolError(Exception):
    """A frame, envelope, topic or card track that cannot be accepted.

    ``reason`` is a short stable code (``bad_mac``, ``malformed``, ``bad_luhn`` ...)
    used for counters; ``detail`` says what was wrong and where, never card data.
    """

    def __init__(self, reason, detail=""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self):
        if self.detail:
            return self.reason + ": " + self.detail
        return self.reason
