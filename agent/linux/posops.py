"""What each POS op does in a runner: ``status`` reports the agent's state, svspend, redeem and
coupon go to its Authoriser, every other op is a tx record stored in the outbox."""

import logging

from agent.core import records, shim
from agent.core.outbox import OutboxError
from agent.linux.pos import error
from protocol import envelope
from protocol.errors import ProtocolError

log = logging.getLogger("possync.agent")


def answer(runner, req, client=None):
    """Answer one POS request; a tx is "stored" only after the outbox fsync. ``client`` is the POS
    connection (None for the drop folder); svspend, redeem and coupon answer it later (None here)."""
    op = req.get("op")
    if op == "status":
        return status(runner)
    if op in envelope.AUTH_OPS:
        return runner.auth.start(op, req, client)
    cur, acq = runner.cfg["currency"], runner.cfg["acq"]
    try:
        records.check_tx(req, cur, acq)
    except ProtocolError as exc:
        return error(exc.reason, exc.detail)
    now = int(shim.now())
    card = runner.last_swipe.peek(now)
    if "redeem" in req:
        approval, refused = runner.auth.redemption(req, card)
        if refused is not None:
            return refused
        card = approval["card"]
    if card is None and op in envelope.SV_KINDS:
        return error("no_card", "swipe the member card first: a %s needs the card's token" % op)
    seq, failed = store(runner, op, lambda s: records.tx(runner.dev, s, now, req, cur, card, acq), card)
    if failed is not None:
        return failed
    if "redeem" in req:
        runner.auth.redeemed(req["auth"])
    return {"ok": True, "stored": True, "seq": seq}


def store(runner, op, build, card):
    """Append ``build(seq)`` to the outbox for a record of ``card`` (or None); return ``(seq, None)``,
    or ``(None, reply)`` saying why it was not stored."""
    try:
        seq, _ = runner.outbox.append(build)
    except OutboxError as exc:
        runner.stats["not_stored"] += 1
        log.error("outbox: a %s was NOT stored: %s", op, exc.reason)
        if exc.reason == "full":
            runner.show("message", "outbox_full")
            if runner.session.connected:
                runner.heartbeat()
        return None, {"ok": True, "stored": False, "error": "outbox_" + exc.reason, "message": exc.detail}
    except ProtocolError as exc:  # a field the envelope refuses that check_tx let through
        return None, error(exc.reason, exc.detail)
    runner.stats["stored"] += 1
    if card is not None:
        runner.last_swipe.consume()
    runner.statuses.sent("seq", seq, None if card is None else card["tok"])
    runner.pump()
    return seq, None


def status(runner):
    """The agent's state as the POS `status` op and `possync-agent status` report it."""
    oldest = runner.outbox.oldest_ts
    return {"ok": True, "device": runner.dev, "connected": bool(runner.session and runner.session.connected),
            "depth": runner.outbox.depth,
            "oldest_s": 0 if oldest is None else max(0, int(shim.now()) - oldest),
            "full": runner.outbox.full, "next_seq": runner.outbox.next_seq,
            "in_flight": len(runner.forwarder.in_flight()), "version": runner.ver,
            "protocol": envelope.VERSION, "dropped_down": sum(runner.session.dropped.values()),
            "config": runner.pushed["cfg"] if runner.pushed is not None else 0, "config_at": runner.pushed_at,
            "frozen": len(runner.cfg["frozen"]), "offline": runner.cfg["offline"], "currency": runner.cfg["currency"]}
