"""Vault notes: one number space for every free text, each sealed in its customer's vault."""

from custkit import ACTOR

from server.customers import identity, notes
from server.vault import store


def test_notes_get_distinct_numbers_and_live_in_the_vault(app):
    a, b = identity.create_customer(ACTOR), identity.create_customer(ACTOR)
    first = notes.write(a, "first", ACTOR, "test")
    second = notes.write(b, "second", ACTOR, "test")
    assert first != second
    assert notes.of(store.get(a, actor=ACTOR, purpose="test")) == {first: "first"}
    assert notes.of(store.get(b, actor=ACTOR, purpose="test")) == {second: "second"}
    assert notes.write(a, "", ACTOR, "test") is None


def test_of_ignores_other_fields():
    assert notes.of({"name": "x", "note.7": "y", "consent": {}}) == {7: "y"}
