"""The notification queue: idempotent by key, consent and address from the vault at send time, retries with backoff."""

import glob
import json
from datetime import datetime, timedelta

import pytest
from notifykit import gateway, smtp_server

from server.customers import consent, identity, rights
from server.notify import NotifyError, flag, queue
from server.notify.models import Notification
from server.vault import store

T0 = datetime(2026, 3, 1, 9, 0)
ACTOR = "cli:test"
PHONE, EMAIL = "+8613912345678", "li.wei@example.cn"
PARAMS = {"account": "W1", "balance": 1234, "cur": "CNY"}


def person(channels=("sms",), phone=PHONE, email=EMAIL):
    cid = identity.create_customer(ACTOR)
    store.put(cid, {"phone": phone, "email": email}, ACTOR, "test")
    for channel in channels:
        consent.grant(cid, channel, "paper form", ACTOR)
    return cid


def row(key="k1"):
    return Notification.get(Notification.key == key)


def test_queueing_is_idempotent_by_key_and_takes_only_the_templates_fields(app):
    cid = person()
    assert queue.enqueue(cid, "sms", "low_balance", PARAMS, "k1", T0) is True
    assert queue.enqueue(cid, "sms", "low_balance", dict(PARAMS, balance=1), "k1", T0) is False
    assert Notification.select().count() == 1 and json.loads(row().params)["balance"] == 1234
    with pytest.raises(NotifyError, match="template low_balance takes exactly account, balance, cur"):
        queue.enqueue(cid, "sms", "low_balance", dict(PARAMS, phone=PHONE), "k2", T0)
    with pytest.raises(NotifyError, match="cannot notify over 'post'"):
        queue.enqueue(cid, "post", "low_balance", PARAMS, "k3", T0)
    with pytest.raises(NotifyError, match="no template 'spam'"):
        queue.enqueue(cid, "sms", "spam", {}, "k4", T0)


def test_the_log_sender_sends_with_consent_and_skips_without(app, caplog):
    yes, no = person(("sms",)), person(())
    queue.enqueue(yes, "sms", "low_balance", PARAMS, "k1", T0)
    queue.enqueue(no, "sms", "low_balance", PARAMS, "k2", T0)
    caplog.set_level("INFO", logger="possync.notify")
    assert queue.send_due(T0) == {"sent": 1, "retry": 0, "failed": 0, "skipped": 1}
    assert (row("k1").state, row("k1").sender, row("k1").sent_at, row("k1").attempts) == ("sent", "log", T0, 1)
    assert (row("k2").state, row("k2").error) == ("skipped", "no consent for sms")
    assert yes in caplog.text and "low_balance" in caplog.text and PHONE not in caplog.text
    reads = [a for a in store.audit(limit=100) if a["actor"] == "job:notify"]
    assert sorted(a["customer"] for a in reads) == sorted([yes, no])
    assert all(a["purpose"] == "send notification" and a["fields"] in (["consent"], []) for a in reads)
    assert queue.send_due(T0 + timedelta(days=1)) == {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}


def test_consent_is_read_when_sending_not_when_queueing(app):
    cid = person(("sms",))
    queue.enqueue(cid, "sms", "low_balance", PARAMS, "k1", T0)
    consent.withdraw(cid, "sms", "phone call", ACTOR)
    assert queue.send_due(T0)["skipped"] == 1


def test_a_merged_customer_is_sent_to_through_the_one_it_was_merged_into(app):
    src, dst = person(()), person(("email",), email="new@example.cn")
    queue.enqueue(src, "email", "low_balance", PARAMS, "k1", T0)
    identity.merge(src, dst, ACTOR, "same person")
    server = smtp_server()
    app.config.update(NOTIFY_SENDER='{"email": "smtp"}', SMTP_HOST="127.0.0.1", SMTP_PORT=server.port,
                      SMTP_FROM="shop@example.cn")
    assert queue.send_due(T0)["sent"] == 1
    assert "To: new@example.cn" in server.mails[0]
    server.shutdown()


def test_webhook_gets_the_address_from_the_vault_and_the_main_db_never_holds_it(app, tmp_path):
    cid = person(("sms", "wechat"))
    hook = gateway()
    app.config.update(NOTIFY_SENDER="webhook", NOTIFY_WEBHOOK_URL=hook.url, NOTIFY_WEBHOOK_TOKEN="t0ken")
    queue.enqueue(cid, "sms", "low_balance", PARAMS, "low_balance:W1:0", T0)
    queue.enqueue(cid, "wechat", "birthday", {"year": 2026, "kind": "amount_off", "value": 2000, "cur": "CNY"},
                  "birthday:2026:" + cid, T0)
    assert queue.send_due(T0)["sent"] == 2
    sms, wechat = sorted(hook.got, key=lambda g: g["body"]["channel"])
    assert sms["body"] == {"key": "low_balance:W1:0", "channel": "sms", "to": PHONE, "template": "low_balance",
                           "params": PARAMS, "text": "Your stored-value card balance is 12.34 CNY. Top up at any "
                           "of our stores."}
    assert sms["headers"]["Authorization"] == "Bearer t0ken"
    assert sms["headers"]["Idempotency-Key"] == "low_balance:W1:0"
    assert (wechat["body"]["to"], wechat["body"]["template"]) == (PHONE, "birthday")
    assert [a["fields"] for a in store.audit(cid, limit=2)] == [["consent", "phone"]] * 2
    hook.shutdown()
    main = b"".join(open(f, "rb").read() for f in glob.glob(str(tmp_path / "possync.db*")))
    assert main and PHONE.encode() not in main and PHONE[3:].encode() not in main and EMAIL.encode() not in main


def test_webhook_failures_are_retried_with_backoff_then_given_up_with_the_reason(app):
    cid = person()
    hook = gateway()
    hook.codes = [503, 500, 502]
    app.config.update(NOTIFY_SENDER="webhook", NOTIFY_WEBHOOK_URL=hook.url, NOTIFY_MAX_ATTEMPTS=3,
                      NOTIFY_BACKOFF_MIN=5)
    queue.enqueue(cid, "sms", "low_balance", PARAMS, "k1", T0)
    assert queue.send_due(T0)["retry"] == 1
    assert (row().attempts, row().due_at, row().error) == (1, T0 + timedelta(minutes=5),
                                                           "webhook answered HTTP 503 Service Unavailable")
    assert queue.send_due(T0 + timedelta(minutes=4))["retry"] == 0  # not due yet
    assert queue.send_due(T0 + timedelta(minutes=5))["retry"] == 1
    assert row().due_at == T0 + timedelta(minutes=15)  # then twice as long
    assert queue.send_due(T0 + timedelta(minutes=15))["failed"] == 1
    assert (row().state, row().attempts, row().error) == ("failed", 3, "webhook answered HTTP 502 Bad Gateway")
    assert len(hook.got) == 3
    assert queue.retry(now=T0 + timedelta(hours=1)) == 1
    assert queue.send_due(T0 + timedelta(hours=1))["sent"] == 1 and row().state == "sent"
    hook.shutdown()


def test_a_refusing_gateway_fails_at_once_and_an_unreachable_one_is_retried(app):
    cid = person()
    hook = gateway()
    hook.codes = [400]
    app.config.update(NOTIFY_SENDER="webhook", NOTIFY_WEBHOOK_URL=hook.url + "?token=s3cret")
    queue.enqueue(cid, "sms", "low_balance", PARAMS, "k1", T0)
    assert queue.send_due(T0)["failed"] == 1 and row().error == "webhook answered HTTP 400 Bad Request"
    hook.shutdown()
    hook.server_close()
    queue.enqueue(cid, "sms", "low_balance", PARAMS, "k2", T0)
    assert queue.send_due(T0)["retry"] == 1
    assert row("k2").error.startswith("webhook at 127.0.0.1 unreachable: ") and "s3cret" not in row("k2").error
    app.config["NOTIFY_WEBHOOK_URL"] = None
    assert queue.send_due(T0 + timedelta(hours=1))["retry"] == 1
    assert row("k2").error == "NOTIFY_WEBHOOK_URL is not set: give the gateway's URL, or use another NOTIFY_SENDER"


def test_smtp_sends_email_and_a_refused_recipient_fails_without_its_address_in_the_db(app, tmp_path):
    cid = person(("email",))
    server = smtp_server()
    app.config.update(NOTIFY_SENDER="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=server.port,
                      SMTP_FROM="shop@example.cn")
    queue.enqueue(cid, "email", "birthday", {"year": 2026, "kind": "amount_off", "value": 2000, "cur": "CNY"},
                  "birthday:2026:" + cid, T0)
    assert queue.send_due(T0)["sent"] == 1
    mail = server.mails[0]
    assert "To: %s" % EMAIL in mail and "Subject: Happy birthday" in mail and "birthday gift" in mail
    assert "Message-ID: <" in mail and ("birthday.2026." + cid) in mail
    server.refuse = True
    queue.enqueue(cid, "email", "low_balance", PARAMS, "k2", T0)
    assert queue.send_due(T0)["failed"] == 1
    assert row("k2").error == "SMTP server refused the recipient: 550 5.1.1 <[address]>: recipient unknown"
    server.shutdown()
    main = b"".join(open(f, "rb").read() for f in glob.glob(str(tmp_path / "possync.db*")))
    assert EMAIL.encode() not in main


def test_no_address_or_an_erased_customer_is_skipped(app):
    cid = identity.create_customer(ACTOR)
    consent.grant(cid, "email", "form", ACTOR)
    app.config.update(NOTIFY_SENDER="smtp", SMTP_HOST="127.0.0.1", SMTP_FROM="shop@example.cn")
    queue.enqueue(cid, "email", "low_balance", PARAMS, "k1", T0)
    assert queue.send_due(T0)["skipped"] == 1 and row().error == "no email in the vault"
    gone = person(("email",))
    queue.enqueue(gone, "email", "low_balance", PARAMS, "k2", T0)
    rights.erase(gone, ACTOR, "erasure request #1")
    assert queue.send_due(T0)["skipped"] == 1 and row("k2").error == "customer erased"


def test_bad_settings_are_named_and_the_message_retried(app):
    cid = person()
    app.config["NOTIFY_SENDER"] = "pigeon"
    queue.enqueue(cid, "sms", "low_balance", PARAMS, "k1", T0)
    assert queue.send_due(T0)["retry"] == 1
    assert row().error.startswith("NOTIFY_SENDER for sms is 'pigeon': use log, webhook or smtp")
    assert queue.listing("queued")[0]["error"] == row().error
    with pytest.raises(NotifyError, match="state 'nope' unknown"):
        queue.listing("nope")
    app.config["SMTP_STARTTLS"] = "false"  # as text from POSSYNC_SMTP_STARTTLS
    assert flag("SMTP_STARTTLS") is False
    app.config["SMTP_STARTTLS"] = "maybe"
    with pytest.raises(NotifyError, match="SMTP_STARTTLS must be true or false, not 'maybe'"):
        flag("SMTP_STARTTLS")
