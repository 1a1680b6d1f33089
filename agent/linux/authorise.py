"""Stored-value spends, point redemptions and coupon checks from the POS: ask the server on
up/auth, answer the POS when the signed authr comes, or, for a spend, go offline within the
limits when it does not come within ``auth_timeout_ms``.

A coupon check (``{"op": "coupon", "code": "PGBR-F0C8-P3C7"}``) uses nothing: the sale naming
the coupon does. Its reply is ``{"ok": true, "outcome": ..., "message": ...}`` with outcome
VALID (plus kind, value, cur, min_spend, expires), USED, EXPIRED, VOID, NOT_YET_VALID,
NOT_YOURS, CARD_NEEDED, UNKNOWN (a mistyped code is caught here without asking) or OFFLINE.

Runs in the runner's main loop (no threads): a request is answered later through
PosServer.answer. A PIN from the POS is sealed into the request at once and kept nowhere:
not in the outbox, the log, a reply, or any state held while waiting.
"""

import binascii
import collections
import logging
import os

from agent.core import offline, records, shim
from agent.linux import coupons, posops
from agent.linux.pos import error
from protocol import envelope, money
from protocol.errors import ProtocolError

log = logging.getLogger("possync.agent")

KEEP_REDEEMS = 64  # approved redemptions waiting for their sale

# What the cashier should do after each decline code of an authr.
DECLINES = {
    "FROZEN": "the card is frozen (reported lost or stolen): keep it and ask the customer to contact the service desk",
    "BAD_PIN": "wrong PIN: ask the customer to enter it again",
    "LOCKED": "the PIN is locked after too many wrong tries: take another payment method",
    "INSUFFICIENT": "the balance is too low for this amount: spend less from the card, take the rest another way",
    "UNKNOWN_CARD": "this card has no stored-value account: take another payment method",
    "PIN_REQUIRED": "this card needs its PIN: send the spend again with the PIN the customer enters",
    "WRONG_CURRENCY": "the card holds another currency than this spend: take another payment method",
    "BAD_AMOUNT": "the server does not take this amount (points are redeemed in whole redeem units): change it",
}
_ANSWER_FIELDS = ("aid", "ok", "code", "bal", "cur", "ckind", "value", "min", "exp")
def new_aid():
    """A fresh authorisation id: 53 random bits, so ids do not repeat across restarts without stored state."""
    return (int.from_bytes(os.urandom(7), "big") & ((1 << 53) - 1)) or 1


class Authoriser:
    """Pending authorisations of one runner and the approved redemptions waiting for their sale."""

    def __init__(self, runner):
        self.runner = runner
        self.pending = {}  # aid -> job: what to do with the answer (never the PIN)
        self.redeems = collections.OrderedDict()  # aid -> {"points", "ref", "card"}

    def start(self, op, req, client):
        """Begin a POS "svspend", "redeem" or "coupon": a reply now, or None (answered later)."""
        r = self.runner
        if client is None:
            return error("bad_field", "op: %s needs the POS socket (it waits for the server's approval)" % op)
        if op == "coupon":
            return self._check_coupon(req, client)
        try:
            if op == "svspend":
                pairs = records.check_tx(req, r.cfg["currency"])
                ref, amount, cur = pairs[0][1], pairs[1][1], pairs[2][1]
                pin = records.pin_of(req)
            else:
                (ref, amount), cur, pin = records.check_redeem(req), None, None
        except ProtocolError as exc:
            return error(exc.reason, exc.detail)
        now = int(shim.now())
        card = r.last_swipe.peek(now)
        if card is None:
            return error("no_card", "swipe the member card first: a %s needs the card" % op)
        job = {"op": op, "client": client, "ref": ref, "amount": amount, "cur": cur, "card": card}
        if r.session.connected:
            aid = new_aid()
            nonce = binascii.hexlify(os.urandom(8)).decode()
            try:
                body = records.auth(r.dev, r.cfg["key"], aid, now, op, ref, card, amount, nonce, cur, pin)
            except ProtocolError as exc:
                return error(exc.reason, exc.detail)
            pin = None
            if r.session.publish("up/auth", body, 1):
                job["deadline"] = shim.monotonic_ms() + r.cfg["auth_timeout_ms"]
                self.pending[aid] = job
                r.stats["auths"] += 1
                return None
        return self._unanswered(job, None)

    def on_answer(self, answer):
        """A verified authr: answer the POS request waiting for it; tell every POS as an event."""
        r = self.runner
        r.stats["authr"] += 1
        event = {"event": "authr"}
        for k in _ANSWER_FIELDS:
            if k in answer:
                event[k] = answer[k]
        r.pos.push(event)
        job = self.pending.pop(answer["aid"], None)
        if job is None:
            r.stats["late_authr"] += 1
            log.info("auth: an answer (%s) for no waiting request: it came after the timeout", answer["code"])
            return
        if job["op"] == "coupon":
            r.show("authr", dict(answer, op="coupon"))
            if r.pos.connected(job["client"]):
                r.pos.answer(job["client"], coupons.reply(job["code"], "VALID" if answer["ok"] else answer["code"],
                                                          answer))
            return
        r.show("authr", answer)
        if not r.pos.connected(job["client"]):
            log.warning("auth: the POS left before the answer (%s); nothing stored", answer["code"])
            return
        if not answer["ok"]:
            why = DECLINES.get(answer["code"], "declined by the server (%s): take another payment method"
                               % answer["code"])
            if job["op"] == "redeem" and answer["code"] == "INSUFFICIENT":
                why = "not enough points for this redemption: redeem fewer points (bal is what the customer has)"
            reply = error("declined", why)
            reply.update(code=answer["code"], auth=answer["aid"])
            if answer["code"] == "INSUFFICIENT":
                reply.update(self._balance(answer))
        elif job["op"] == "redeem":
            self.redeems[answer["aid"]] = {"points": job["amount"], "ref": job["ref"], "card": job["card"]}
            while len(self.redeems) > KEEP_REDEEMS:
                self.redeems.popitem(last=False)
            reply = {"ok": True, "auth": answer["aid"], "points": job["amount"]}
            reply.update(self._balance(answer))
        else:
            reply = self._spend(job, answer["aid"], None)
            if reply["ok"]:
                reply.update(self._balance(answer))
        r.pos.answer(job["client"], reply)

    def expire(self, now_ms, everything=False):
        """Requests whose answer is overdue (all of them when the connection dropped) go on without it."""
        for aid in [a for a in self.pending if everything or now_ms - self.pending[a]["deadline"] >= 0]:
            job = self.pending.pop(aid)
            self.runner.stats["auth_timeouts"] += 1
            if self.runner.pos.connected(job["client"]):
                self.runner.pos.answer(job["client"], self._unanswered(job, aid))

    def redemption(self, req, card):
        """The approval a sale's ``redeem``/``auth`` refers to: ``(approval, None)`` or ``(None, error reply)``."""
        a = self.redeems.get(req["auth"])
        if a is None:
            return None, error("bad_field", "auth: %d is not a redemption approved at this terminal, or it was "
                               "used already: ask for one with the redeem op" % req["auth"])
        if a["points"] != req["redeem"]:
            return None, error("bad_field", "redeem: approval %d is for %d points" % (req["auth"], a["points"]))
        if a["ref"] != req["ref"]:
            return None, error("bad_field", "ref: approval %d was given for ref %s" % (req["auth"], a["ref"]))
        if card is not None and card["tok"] != a["card"]["tok"]:
            return None, error("bad_field", "auth: approval %d is for another card than the one swiped last"
                               % req["auth"])
        return a, None

    def redeemed(self, aid):
        """The sale carrying approval ``aid`` is stored: it cannot be used again."""
        self.redeems.pop(aid, None)

    def _balance(self, answer):
        out = {"bal": answer["bal"]}
        if "cur" in answer:
            out["cur"] = answer["cur"]
        return out

    def _check_coupon(self, req, client):
        """Ask the server about the coupon ``req["code"]`` (with the card swiped, if any); None while waiting."""
        r = self.runner
        text = req.get("code")
        if type(text) is not str or not 0 < len(text) <= 40:
            return error("bad_field", "code: must be the coupon code as printed on the voucher (e.g. PGBR-F0C8-P3C7)")
        code, why = coupons.parse(text)
        if code is None:
            r.show("authr", {"op": "coupon", "ok": False, "code": "UNKNOWN"})
            return {"ok": True, "outcome": "UNKNOWN", "message": why}
        job = {"op": "coupon", "client": client, "code": code}
        now = int(shim.now())
        card = r.last_swipe.peek(now)
        if r.session.connected:
            aid = new_aid()
            pairs = [("aid", aid), ("ts", now), ("op", "coupon")]
            if card is not None:
                pairs += [("tok", card["tok"]), ("bin", card["bin"]), ("last4", card["last4"])]
            pairs += [("coupon", code), ("nonce", binascii.hexlify(os.urandom(8)).decode())]
            if r.session.publish("up/auth", envelope.build("auth", r.dev, pairs), 1):
                job["deadline"] = shim.monotonic_ms() + r.cfg["auth_timeout_ms"]
                self.pending[aid] = job
                r.stats["coupon_checks"] += 1
                return None
        return self._unanswered(job, None)

    def _unanswered(self, job, tried):
        """No answer (``tried``: the id of the request that went unanswered, None if none was sent)."""
        r = self.runner
        if job["op"] == "coupon":
            r.show("authr", {"op": "coupon", "ok": False, "code": "OFFLINE"})
            return coupons.reply(job["code"], "OFFLINE", None)
        if job["op"] == "redeem":
            if tried is None:
                return error("offline", "points can be redeemed only online and the terminal is offline: complete "
                             "the sale without redeeming, or try again when it is back online")
            return error("auth_timeout", "the server did not answer within %d ms and points can be redeemed only "
                         "online: try again, or complete the sale without redeeming" % r.cfg["auth_timeout_ms"])
        tok, amount, cur = job["card"]["tok"], job["amount"], job["cur"]
        if cur != r.cfg["currency"]:
            r.show("message", "declined")
            return error("offline_limit", "the terminal cannot reach the server and spends offline only in %s: take "
                         "another payment method, or wait until it is back online" % r.cfg["currency"])
        ok, why = offline.allowed(r.outbox.pending(), tok, amount, r.cfg["offline"], r.cfg["frozen"])
        if not ok:
            r.stats["offline_refused"] += 1
            r.show("message", "declined")
            if why == "frozen_card":
                return error("frozen_card", "this card is on the frozen list (reported lost or stolen): do not accept "
                             "it; keep the card and ask the customer to contact the service desk")
            which = "card" if why == "card_limit" else "terminal"
            used = offline.exposure(r.outbox.pending(), tok)[0 if which == "card" else 1]
            return error("offline_limit", "the terminal cannot reach the server and this spend would pass the offline "
                         "limit of this %s (%s of %s %s spent offline and not yet reconciled): take another payment "
                         "method, or wait until the terminal is back online"
                         % (which, money.text(used, cur), money.text(r.cfg["offline"][which], cur), cur))
        reply = self._spend(job, None, tried)
        if reply["ok"]:
            reply["offline"] = True
            r.show("message", "sv_offline")
        return reply

    def _spend(self, job, aid, tried):
        """Store the svspend of ``job`` (approved as ``aid``, or offline after request ``tried``)."""
        r = self.runner
        req = {"op": "svspend", "ref": job["ref"], "amount": job["amount"], "cur": job["cur"]}
        now = int(shim.now())
        seq, failed = posops.store(r, "svspend", lambda s: records.tx(r.dev, s, now, req, job["cur"], job["card"],
                                                                      None, aid, tried), job["card"])
        if failed is not None:
            return error(failed["error"], "the terminal could not store the spend, so it is NOT done (%s): take "
                         "another payment method and call support" % failed["error"])
        reply = {"ok": True, "stored": True, "seq": seq}
        if aid is not None:
            reply["auth"] = aid
        return reply
