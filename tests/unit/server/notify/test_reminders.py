"""Low-balance reminders: one per account and top-up, queued through server.notify, sent only with consent."""

from datetime import datetime, timedelta

from server.customers import consent, identity
from server.notify import queue, reminders
from server.notify.models import Notification
from server.wallet import service

T0 = datetime(2026, 3, 1, 9, 0)
ACTOR = "cli:test"


def tok(n):
    return "%064x" % (n * 7919 + 1)


def funded(n, amount, customer=True):
    cid = identity.create_customer(ACTOR) if customer else None
    account = service.open_account(tok(n), customer=cid, actor=ACTOR, now=T0)["id"]
    service.topup(account, amount, "fund:%d" % n, now=T0, tiers=[])
    return account, cid


def test_an_account_below_its_threshold_is_reminded_once_per_top_up(app):
    low, cid = funded(1, 3000)  # default threshold 5000
    funded(2, 9000)
    funded(3, 1000, customer=False)  # anonymous card: nobody to remind
    assert reminders.low_balance(T0) == {"low": 1, "queued": 1}
    row = Notification.get()
    assert (row.customer_id, row.channel, row.template) == (cid, "sms", "low_balance")
    assert queue.as_dict(row)["params"] == {"account": low, "balance": 3000, "cur": "CNY"}
    assert reminders.low_balance(T0 + timedelta(days=1)) == {"low": 1, "queued": 0}
    service.topup(low, 1000, "again", now=T0 + timedelta(days=2), tiers=[])  # still below: a new episode
    assert reminders.low_balance(T0 + timedelta(days=2)) == {"low": 1, "queued": 1}
    assert Notification.select().count() == 2


def test_the_channel_comes_from_the_config_and_consent_decides_at_send(app):
    app.config["NOTIFY_CHANNEL"] = "email"
    _, cid = funded(1, 3000)
    reminders.low_balance(T0)
    assert Notification.get().channel == "email"
    assert queue.send_due(T0)["skipped"] == 1
    consent.grant(cid, "email", "form", ACTOR)
    queue.retry(now=T0)  # skipped is final: nothing to retry
    assert Notification.get().state == "skipped"
