"""Helpers shared by the tests of protocol/envelope.py: a body with fields changed, the detail of a refusal."""

import json

import pytest

from protocol import envelope
from protocol.errors import ProtocolError


def w(base, **changes):
    """A copy of body ``base`` with ``changes`` set; a change to None removes that field."""
    out = dict(base)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def detail(body):
    """The detail of the bad_field refusal of ``body`` (sent through JSON) from terminal T1."""
    with pytest.raises(ProtocolError) as e:
        envelope.validate(json.loads(json.dumps(body)), "T1")
    assert e.value.reason == "bad_field"
    return e.value.detail
