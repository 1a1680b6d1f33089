"""Queue a message (idempotent by key), send the due ones: consent and address read from the vault then, audited.

A failed send is tried again after NOTIFY_BACKOFF_MIN minutes, then twice as long each time,
NOTIFY_MAX_ATTEMPTS times in all; ``error`` keeps the last reason. A customer who has not
granted the channel, has no address for it or was erased is ``skipped``, not sent.
"""

import json
from datetime import timedelta

from server.customers import identity
from server.customers.identity import CustomerError
from server.db import utcnow
from server.fleet.models import iso
from server.notify import NotifyError, number, senders
from server.notify.models import STATES, Notification
from server.vault import store
from server.vault.crypto import VaultError

ACTOR = "job:notify"
PURPOSE = "send notification"
BATCH = 200
ERROR_MAX = 300
# The fields each template takes; nothing else goes into the queue, so no personal data can.
TEMPLATES = {
    "low_balance": ("account", "balance", "cur"),
    "birthday": ("year", "kind", "value", "cur"),
}
TEXTS = {
    "low_balance": "Your stored-value card balance is {money} {cur}. Top up at any of our stores.",
    "birthday": "Happy birthday! A {year} birthday gift is waiting for you in your account.",
}


def enqueue(customer, channel, template, params, key, now=None):
    """Queue ``template`` with ``params`` for ``customer`` over ``channel`` unless ``key`` is queued already;
    True if queued now."""
    if channel not in senders.ADDRESS:
        raise NotifyError("cannot notify over %r: channels are %s" % (channel, ", ".join(sorted(senders.ADDRESS))))
    if template not in TEMPLATES:
        raise NotifyError("no template %r: templates are %s" % (template, ", ".join(sorted(TEMPLATES))))
    if not isinstance(params, dict) or set(params) != set(TEMPLATES[template]) or not all(
            isinstance(v, (int, str)) and not isinstance(v, bool) for v in params.values()):
        raise NotifyError("template %s takes exactly %s (numbers or short codes)"
                          % (template, ", ".join(TEMPLATES[template])))
    now = now or utcnow()
    return Notification.insert(key=key, customer=customer, channel=channel, template=template,
                               params=json.dumps(params, sort_keys=True), due_at=now,
                               created_at=now).on_conflict_ignore().as_rowcount().execute() == 1


def render(template, params):
    """The text of ``template`` with ``params`` (money in minor units shown with two decimals)."""
    values = dict(params)
    if "balance" in values:
        values["money"] = "%d.%02d" % divmod(values["balance"], 100)
    return TEXTS[template].format(**values)


def send_due(now=None, progress=None, limit=BATCH):
    """Send up to ``limit`` messages due at ``now``; counts of sent, retry (will be tried again), failed, skipped."""
    now = now or utcnow()
    rows = list(Notification.select().where((Notification.state == "queued") & (Notification.due_at <= now))
                .order_by(Notification.due_at, Notification.id).limit(limit))
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    if progress:
        progress(0, len(rows))
    for done, row in enumerate(rows, 1):
        counts[_send(row, now)] += 1
        if progress:
            progress(done, len(rows))
    return counts


def retry(ids=None, now=None):
    """Queue failed messages (``ids``, or every failed one) again with a fresh count of attempts; how many."""
    query = Notification.update(state="queued", attempts=0, due_at=now or utcnow()).where(
        Notification.state == "failed")
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    return query.execute()


def listing(state=None, customer=None, limit=50):
    """The newest ``limit`` messages (in ``state``, of ``customer``) as dicts, newest first."""
    if state is not None and state not in STATES:
        raise NotifyError("state %r unknown: one of %s" % (state, ", ".join(STATES)))
    query = Notification.select().order_by(Notification.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Notification.state == state)
    if customer is not None:
        query = query.where(Notification.customer == customer)
    return [as_dict(row) for row in query]


def as_dict(row):
    """The public view of a message (it holds no address)."""
    return {"id": row.id, "key": row.key, "customer": row.customer_id, "channel": row.channel,
            "template": row.template, "params": json.loads(row.params), "state": row.state,
            "attempts": row.attempts, "due_at": iso(row.due_at), "created_at": iso(row.created_at),
            "sent_at": iso(row.sent_at), "sender": row.sender, "error": row.error}


def _send(row, now):
    """Try one message; which count it adds to."""
    message = as_dict(row)
    try:
        name = senders.name_for(row.channel)
        root = identity.get(identity.resolve(row.customer_id))
        if root.state == "erased":
            return _finish(row, "skipped", "customer erased", name)
        field = senders.ADDRESS[row.channel]
        wanted = ["consent"] if name == "log" else ["consent", field]
        held = store.get(root.id, wanted, actor=ACTOR, purpose=PURPOSE)
        if not (held.get("consent") or {}).get(row.channel, {}).get("granted"):
            return _finish(row, "skipped", "no consent for %s" % row.channel, name)
        address = held.get(field)
        if name != "log" and not address:
            return _finish(row, "skipped", "no %s in the vault" % field, name)
        senders.send(name, dict(message, customer=root.id), address, render(row.template, message["params"]))
    except senders.SendError as exc:
        return _failed(row, now, str(exc), exc.permanent, name)
    except (NotifyError, CustomerError, VaultError) as exc:  # settings or vault keys to fix: try again later
        return _failed(row, now, str(exc), False, None)
    return _finish(row, "sent", None, name, attempts=row.attempts + 1, sent_at=now)


def _failed(row, now, error, permanent, name):
    attempts = row.attempts + 1
    if permanent or attempts >= number("NOTIFY_MAX_ATTEMPTS", 1):
        return _finish(row, "failed", error, name, attempts=attempts)
    wait = timedelta(minutes=number("NOTIFY_BACKOFF_MIN", 0) * 2 ** (attempts - 1))
    Notification.update(attempts=attempts, due_at=now + wait, error=error[:ERROR_MAX], sender=name).where(
        Notification.id == row.id).execute()
    return "retry"


def _finish(row, state, error, name, attempts=None, sent_at=None):
    """Put ``row`` in its final ``state``; skipping is no attempt, so ``attempts`` stays unless given."""
    Notification.update(state=state, error=error[:ERROR_MAX] if error else None, sender=name, sent_at=sent_at,
                        attempts=row.attempts if attempts is None else attempts).where(
        Notification.id == row.id).execute()
    return state
