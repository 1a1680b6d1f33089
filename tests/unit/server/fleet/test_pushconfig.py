"""server/fleet/pushconfig.py: the version rises with every hot-list or limits change, in the change's own
transaction; the content fits one frame; the Pusher sends each device each version once, and clears a
revoked device's retained config once, across restarts."""

import json
from datetime import datetime, timedelta

import pytest

from protocol import envelope, frame
from server.db import db
from server.fleet import devices, pushconfig
from server.fleet.models import Device, FleetConfig
from server.wallet import WalletError, cards, service

T0 = datetime(2024, 3, 1, 8, 0, 0)
T0_S = 1709280000


def tok(n):
    return "%064x" % (n + 1)


def opened(n, **kw):
    return service.open_account(tok(n), actor="cli:root", **kw)["id"]


class Broker:
    """Captures what the Pusher publishes; ``up=False`` makes publish fail."""

    def __init__(self):
        self.got = []
        self.up = True

    def publish(self, topic, payload):
        if self.up:
            self.got.append((topic, payload))
        return self.up

    def take(self):
        got, self.got = self.got, []
        return got


class Keys(dict):
    """A DeviceKeys stand-in over the devices added in a test (None = revoked)."""


@pytest.fixture
def fleet(app, master):
    keys = Keys()

    def add(dev):
        keys[dev] = devices.add_device(dev, master)[1]
        return keys[dev]
    return keys, add


def test_bump_starts_at_the_clock_and_then_counts_up(app):
    assert pushconfig.version() == 0
    assert pushconfig.bump("freeze", T0) == T0_S
    assert pushconfig.bump("freeze", T0) == T0_S + 1
    assert pushconfig.bump("unfreeze", T0 - timedelta(days=1)) == T0_S + 2  # a clock set back: still up
    assert pushconfig.bump("freeze", T0 + timedelta(days=1)) == T0_S + 86400  # a restored backup is passed
    assert FleetConfig.get_by_id(1).reason == "freeze"


def test_freeze_unfreeze_reissue_each_raise_the_version_and_a_no_op_does_not(app):
    opened(1)
    v = [pushconfig.version()]
    cards.freeze(tok(1), "cli:root", "lost")
    v.append(pushconfig.version())
    cards.freeze(tok(1), "cli:root", "lost")  # already frozen: nothing changes
    v.append(pushconfig.version())
    cards.unfreeze(tok(1), "cli:root", "found")
    v.append(pushconfig.version())
    cards.reissue(tok(1), tok(2), "cli:root")
    v.append(pushconfig.version())
    assert v[0] == 0 and v[1] > 0 and v[2] == v[1] and v[3] == v[1] + 1 and v[4] == v[3] + 1


def test_a_rolled_back_freeze_leaves_the_version(app):
    opened(1)
    pushconfig.bump("start")
    before = pushconfig.version()
    with pytest.raises(RuntimeError):
        with db.atomic():
            cards.freeze(tok(1), "cli:root", "lost")
            raise RuntimeError("the caller's transaction fails after the freeze")
    assert pushconfig.version() == before
    assert cards.frozen_tokens() == []


def test_limits_are_recorded_once_and_a_change_raises_the_version(app):
    assert pushconfig.record_limits({"card": 100, "terminal": 500}, T0)
    first = pushconfig.version()
    assert not pushconfig.record_limits({"card": 100, "terminal": 500}, T0)
    assert pushconfig.version() == first
    assert pushconfig.record_limits({"card": 200, "terminal": 500}, T0)
    assert pushconfig.version() == first + 1
    c = pushconfig.content(now=5)
    assert (c["cfg"], c["ts"], c["card"], c["term"], c["all"], c["frozen"]) == (first + 1, 5, 200, 500, True, [])


@pytest.mark.parametrize("setting, want", [
    (None, {"card": 20000, "terminal": 100000}),
    ({"card": 1, "terminal": 2}, {"card": 1, "terminal": 2}),
    ('{"card": 3, "terminal": 4}', {"card": 3, "terminal": 4}),
])
def test_configured_limits(setting, want):
    assert pushconfig.configured_limits({"WALLET_OFFLINE_LIMITS": setting}) == want


@pytest.mark.parametrize("setting", ["{card: 1}", {"card": -1, "terminal": 2}, {"card": 1}])
def test_bad_configured_limits_say_so(setting):
    with pytest.raises(WalletError, match="WALLET_OFFLINE_LIMITS"):
        pushconfig.configured_limits({"WALLET_OFFLINE_LIMITS": setting})


def test_the_hot_list_puts_the_latest_freezes_first_and_says_when_cut(app):
    room = pushconfig.room()
    assert room >= 50
    for n in range(room + 3):
        opened(n)
    cards.reissue(tok(0), tok(1000), "cli:root", now=T0)
    for n in range(1, room + 3):
        cards.freeze(tok(n), "cli:root", "lost", now=T0 + timedelta(minutes=n))
    c = pushconfig.content()
    assert c["all"] is False and len(c["frozen"]) == room
    assert c["frozen"][:2] == [tok(room + 2), tok(room + 1)]
    assert tok(0) not in c["frozen"]  # replaced cards come after every frozen one
    body = envelope.build("config", "X" * 32, [(k, c[k]) for k in ("cfg", "ts", "card", "term", "all", "frozen")])
    assert len(body) <= envelope.MAX_BODY
    for n in range(1, 5):
        cards.unfreeze(tok(n), "cli:root", "found")
    c = pushconfig.content()
    assert c["all"] is True and tok(0) in c["frozen"] and tok(1) not in c["frozen"]


def test_the_pusher_sends_each_device_each_version_once(app, fleet):
    keys, add = fleet
    k1, k2 = add("T1"), add("T2")
    opened(1)
    broker = Broker()
    clock = [0.0]
    pusher = pushconfig.Pusher(keys, broker.publish, limits={"card": 700, "terminal": 900}, clock=lambda: clock[0])
    assert pusher.tick() == 2
    sent = dict(broker.take())
    obj = frame.loads(frame.verify("pos/T1/down/config", sent["pos/T1/down/config"], k1))
    assert envelope.validate(obj, "T1") == obj
    assert (obj["card"], obj["term"], obj["frozen"]) == (700, 900, [])
    assert frame.verify("pos/T2/down/config", sent["pos/T2/down/config"], k2)

    clock[0] += 0.5
    cards.freeze(tok(1), "cli:root", "lost")
    assert pusher.tick() == 0  # polled about once a second
    clock[0] += 1
    assert pusher.tick() == 2
    sent = dict(broker.take())
    obj = json.loads(frame.verify("pos/T2/down/config", sent["pos/T2/down/config"], k2))
    assert obj["frozen"] == [tok(1)] and obj["cfg"] == pushconfig.version()

    clock[0] += 1
    assert pusher.tick() == 0  # nothing changed
    add("T3")
    devices.revoke_device("T2")
    keys["T2"] = None
    clock[0] += 1
    assert pusher.tick() == 1 and [t for t, p in broker.take() if p] == ["pos/T3/down/config"]

    pusher.forget()  # reconnected: the broker may have lost its retained messages
    broker.up = False
    assert pusher.tick() == 0
    broker.up = True
    clock[0] += 1
    assert pusher.tick() == 2 and sorted(t for t, _ in broker.take()) == ["pos/T1/down/config", "pos/T3/down/config"]


def test_the_pusher_sends_nothing_before_any_config_exists(app, fleet):
    keys, add = fleet
    add("T1")
    broker = Broker()
    assert pushconfig.Pusher(keys, broker.publish).tick() == 0 and broker.got == []


def test_a_revoked_device_has_its_retained_config_cleared_once_even_across_a_restart(app, fleet):
    keys, add = fleet
    add("T1"), add("T2"), add("T3")
    broker = Broker()
    clock = [0.0]
    pusher = pushconfig.Pusher(keys, broker.publish, limits={"card": 1, "terminal": 2}, clock=lambda: clock[0])
    pusher.tick()
    broker.take()
    for dev in ("T1", "T2"):
        devices.revoke_device(dev)
        keys[dev] = None

    broker.up = False  # the broker is away: nothing is marked cleared, the next tick tries again
    clock[0] += 1
    pusher.tick()
    assert Device.select().where(Device.config_cleared_at.is_null(False)).count() == 0
    broker.up = True
    clock[0] += 1
    assert pusher.tick() == 0
    assert sorted(broker.take()) == [("pos/T1/down/config", b""), ("pos/T2/down/config", b"")]
    clock[0] += 1
    pusher.tick()
    assert broker.take() == []

    restarted = pushconfig.Pusher(keys, broker.publish)
    restarted.tick()
    assert [(t, bool(p)) for t, p in broker.take()] == [("pos/T3/down/config", True)]  # T3 only: its config again
    devices.revoke_device("T3")
    assert restarted.clear_revoked() == 1 and broker.take() == [("pos/T3/down/config", b"")]
    assert restarted.clear_revoked() == 0
