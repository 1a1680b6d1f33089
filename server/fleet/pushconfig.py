"""The config every terminal is pushed on pos/{dev}/down/config (retained): offline limits and the hot list.

A change of either raises one version counter in the database, in the transaction of the change
(``bump``), so any process makes one without a broker; the running ingest polls the counter
(``Pusher.tick``, about once a second) and publishes a fresh signed config to every device that
has not had that version yet: all of them after a change, a newly enrolled one on its own.
A revoked device's retained config is removed from the broker once (an empty retained message),
and the device row remembers it, so a restart does not send it again.
"""

import calendar
import json
import logging
import time

from peewee import Case

from protocol import envelope, topics
from server.db import db, utcnow
from server.fleet.models import Device, FleetConfig
from server.ingest.answers import config_frame
from server.wallet import settings as wallet_settings
from server.wallet.models import WalletAccount

log = logging.getLogger("possync.ingest")

ROW = 1
TOKEN_BYTES = 67  # "<64 hex>", in the body's list
LOGGED = 20  # revoked devices named in one log line


def bump(reason, now=None, limits=None):
    """Raise the config version (inside the caller's transaction, if any); return the new version.

    The version is at least the current Unix time in seconds, so it still rises past what
    terminals hold after the database was restored from an older backup.
    """
    now = now or utcnow()
    floor = calendar.timegm(now.timetuple())
    update = {FleetConfig.version: Case(None, [(FleetConfig.version >= floor, FleetConfig.version + 1)], floor),
              FleetConfig.reason: reason[:40], FleetConfig.changed_at: now}
    row = {"id": ROW, "version": floor, "reason": reason[:40], "changed_at": now, "limits": limits or ""}
    if limits is not None:
        update[FleetConfig.limits] = limits
    with db.atomic():
        FleetConfig.insert(**row).on_conflict(conflict_target=[FleetConfig.id], update=update).execute()
        return version()


def version():
    """The current config version; 0 before the first change."""
    row = FleetConfig.select(FleetConfig.version).where(FleetConfig.id == ROW).tuples().first()
    return row[0] if row else 0


def configured_limits(config):
    """The offline limits of a settings dict (``WALLET_OFFLINE_LIMITS``, JSON text allowed), else the default."""
    value = config.get("WALLET_OFFLINE_LIMITS")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = "not JSON: %s" % value[:40]
    return wallet_settings.offline_limits(value)


def record_limits(limits, now=None):
    """Make ``limits`` ({"card", "terminal"} minor units) the ones terminals get; True if that was a change."""
    text = json.dumps({"card": limits["card"], "terminal": limits["terminal"]}, sort_keys=True)
    with db.atomic():
        row = FleetConfig.get_or_none(FleetConfig.id == ROW)
        if row is not None and row.limits == text:
            return False
        bump("limits", now, limits=text)
    log.info("offline limits for the terminals are now %s per card, %s per terminal (minor units)",
             limits["card"], limits["terminal"])
    return True


def room():
    """How many card tokens fit in one config frame (for the longest device id)."""
    probe = {"cfg": (1 << 53) - 1, "ts": (1 << 53) - 1, "card": (1 << 53) - 1, "term": (1 << 53) - 1,
             "all": False, "frozen": []}
    _, payload = config_frame("X" * 32, b"", probe)
    return (envelope.MAX_BODY - (len(payload) - 65) + 1) // TOKEN_BYTES


def hot_list(limit):
    """``(tokens, all)``: the cards terminals must refuse, at most ``limit``: frozen ones, the latest frozen
    first, then the replaced and closed ones, the newest first; ``all`` is False when some were left out."""
    group = Case(None, [(WalletAccount.state == "frozen", 0)], 1)
    query = (WalletAccount.select(WalletAccount.tok).where(WalletAccount.state != "active")
             .order_by(group, WalletAccount.frozen_at.desc(nulls="LAST"), WalletAccount.created_at.desc(),
                       WalletAccount.tok)
             .limit(limit + 1))
    toks = [tok for (tok,) in query.tuples()]
    return toks[:limit], len(toks) <= limit


def content(now=None):
    """The config body every device is sent (without v, dev, kind), from the database now."""
    cfg = version()  # read first: a change committed after this read raises the version again
    row = FleetConfig.get_or_none(FleetConfig.id == ROW)
    limits = json.loads(row.limits) if row is not None and row.limits else wallet_settings.offline_limits()
    toks, whole = hot_list(room())
    return {"cfg": cfg, "ts": int(now if now is not None else time.time()), "card": limits["card"],
            "term": limits["terminal"], "all": whole, "frozen": toks}


class Pusher:
    """Publishes the current config to every active device that has not had it, and removes revoked devices'
    retained configs; run by the ingest worker.

    ``publish(topic, payload)`` sends one retained QoS 1 message and returns False if it could not.
    ``limits`` (the ingest's configured offline limits) are recorded at the first tick.
    """

    def __init__(self, keys, publish, limits=None, every_s=1.0, clock=time.monotonic):
        self.keys = keys
        self.publish = publish
        self.limits = limits
        self.every_s = every_s
        self.clock = clock
        self.sent = {}  # dev -> config version published to it
        self._next = None
        self._warned = 0

    def forget(self):
        """Send every device its config again at the next tick (after a reconnect the broker may have lost it)."""
        self.sent = {}
        self._next = None

    def tick(self):
        """Every ``every_s``: clear revoked devices' configs, then publish the config to the devices missing
        its current version; return how many got it."""
        now = self.clock()
        if self._next is not None and now < self._next:
            return 0
        self._next = now + self.every_s
        if self.limits is not None:
            record_limits(self.limits)
            self.limits = None
        self.clear_revoked()
        return self._push()

    def clear_revoked(self):
        """Remove the retained config of each revoked device not cleared yet (an empty retained message on its
        down/config) and mark it cleared; return how many. A failed publish is tried again at the next tick."""
        devs = [dev for (dev,) in Device.select(Device.id)
                .where(Device.revoked_at.is_null(False), Device.config_cleared_at.is_null()).tuples()]
        done = []
        for dev in devs:
            if not self.publish(topics.topic(dev, "down/config"), b""):
                break
            done.append(dev)
        if done:
            Device.update(config_cleared_at=utcnow()).where(Device.id.in_(done)).execute()
            log.info("retained config removed from the broker for %d revoked device(s): %s%s", len(done),
                     ", ".join(done[:LOGGED]), " ..." if len(done) > LOGGED else "")
        return len(done)

    def _push(self):
        """Publish the current config to the active devices that have not had it; return how many."""
        current = version()
        if current == 0:
            return 0
        devs = [dev for (dev,) in Device.select(Device.id).where(Device.revoked_at.is_null()).tuples()
                if self.sent.get(dev) != current]
        if not devs:
            return 0
        body = content()
        if not body["all"] and self._warned != body["cfg"]:
            self._warned = body["cfg"]
            log.warning("config %d: the hot list holds more cards than one frame carries; terminals get the %d "
                        "most recent (the rest are refused online and flagged when spent offline)",
                        body["cfg"], len(body["frozen"]))
        done = 0
        for dev in devs:
            key = self.keys.get(dev)
            if key is None:
                continue
            if not self.publish(*config_frame(dev, key, body)):
                break
            self.sent[dev] = body["cfg"]
            done += 1
        if done:
            log.info("config %d published to %d device(s)", body["cfg"], done)
        return done
