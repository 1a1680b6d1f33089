"""Marketing consent per channel: granted and withdrawn with their source, history without PII."""

import pytest
from custkit import ACTOR

from server.customers import consent, identity
from server.customers.identity import CustomerError
from server.customers.models import ConsentEvent
from server.loyalty.models import Customer
from server.vault import store


def test_consent_is_per_channel(app):
    cid = identity.create_customer(ACTOR)
    assert consent.may_contact(cid, "sms", ACTOR, "campaign check") is False
    consent.grant(cid, "sms", "paper form, store M1", ACTOR)
    consent.grant(cid, "email", "web sign-up", ACTOR)
    assert consent.may_contact(cid, "sms", ACTOR, "campaign check") is True
    assert consent.may_contact(cid, "wechat", ACTOR, "campaign check") is False
    consent.withdraw(cid, "sms", "phone call", ACTOR)
    assert consent.may_contact(cid, "sms", ACTOR, "campaign check") is False
    assert consent.may_contact(cid, "email", ACTOR, "campaign check") is True
    state = store.get(cid, fields=["consent"], actor=ACTOR, purpose="test")["consent"]
    assert state["sms"]["granted"] is False and state["sms"]["source"] == "phone call"
    assert state["email"]["source"] == "web sign-up" and state["email"]["at"].endswith("Z")


def test_every_change_is_kept_with_channel_and_actor_only(app):
    cid = identity.create_customer(ACTOR)
    consent.grant(cid, "post", "paper form", "web:alice")
    consent.withdraw(cid, "post", "letter", "web:bob")
    rows = consent.changes([cid])
    assert [(r["channel"], r["granted"], r["actor"]) for r in rows] == [("post", True, "web:alice"),
                                                                         ("post", False, "web:bob")]
    assert set(ConsentEvent._meta.fields) == {"id", "customer", "channel", "granted", "at", "actor"}


def test_reads_are_audited_with_their_purpose(app):
    cid = identity.create_customer(ACTOR)
    consent.grant(cid, "phone", "call", ACTOR)
    consent.may_contact(cid, "phone", "job:birthday", "birthday greetings")
    newest = store.audit(cid, limit=1)[0]
    assert (newest["actor"], newest["action"], newest["purpose"]) == ("job:birthday", "read", "birthday greetings")


def test_refusals(app):
    cid = identity.create_customer(ACTOR)
    with pytest.raises(CustomerError, match="unknown consent channel 'fax'"):
        consent.grant(cid, "fax", "form", ACTOR)
    with pytest.raises(CustomerError, match="where the consent decision comes from"):
        consent.grant(cid, "sms", "", ACTOR)
    assert ConsentEvent.select().count() == 0


def test_merged_and_erased_customers(app):
    a, b = identity.create_customer(ACTOR), identity.create_customer(ACTOR)
    consent.grant(a, "sms", "form", ACTOR)
    identity.merge(a, b, ACTOR, "same person")
    assert consent.may_contact(a, "sms", ACTOR, "check") is True  # a's consent moved to b, asked through a
    with pytest.raises(CustomerError, match="merged into %s" % b):
        consent.grant(a, "email", "form", ACTOR)
    Customer.update(state="erased").where(Customer.id == b).execute()
    assert consent.may_contact(b, "sms", ACTOR, "check") is False
