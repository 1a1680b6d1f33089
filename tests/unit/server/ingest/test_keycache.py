"""DeviceKeys: decrypted once, and changes made by another process are picked up."""

from server.fleet import devices
from server.ingest.keycache import DeviceKeys

MISSING = object()


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_a_device_enrolled_by_another_process_is_known_at_its_first_frame(app, master):
    clock = Clock()
    keys = DeviceKeys(master, every_s=2.0, miss_s=0.5, clock=clock)
    keys.refresh()
    key = devices.add_device("T1", master)[1]
    assert keys.get("T1", MISSING) == key


def test_unknown_devices_are_looked_up_at_most_once_per_miss_interval(app, master):
    clock = Clock()
    keys = DeviceKeys(master, every_s=2.0, miss_s=0.5, clock=clock)
    assert keys.get("T1", MISSING) is MISSING
    key = devices.add_device("T1", master)[1]
    assert keys.get("T1", MISSING) is MISSING
    clock.t += 0.5
    assert keys.get("T1", MISSING) == key


def test_revocation_reaches_a_running_cache_on_tick(app, master):
    clock = Clock()
    keys = DeviceKeys(master, every_s=2.0, clock=clock)
    key = devices.add_device("T1", master)[1]
    keys.tick()
    assert keys.get("T1") == key
    devices.revoke_device("T1")
    keys.tick()
    assert keys.get("T1", MISSING) == key
    clock.t += 2.0
    keys.tick()
    assert keys.get("T1", MISSING) is None


def test_keys_are_decrypted_once(app, master, monkeypatch):
    devices.add_device("T1", master)
    keys = DeviceKeys(master)
    keys.refresh()
    calls = []
    from server import keys as keymod
    real = keymod.unseal
    monkeypatch.setattr(keymod, "unseal", lambda *a: calls.append(a[1]) or real(*a))
    keys.refresh()
    devices.add_device("T2", master)
    keys.refresh()
    assert calls == ["T2"]


def test_a_key_sealed_under_another_master_is_refused_not_fatal(app, master):
    import os
    devices.add_device("T1", os.urandom(32))
    good = devices.add_device("T2", master)[1]
    keys = DeviceKeys(master)
    assert keys.get("T1", MISSING) is MISSING and keys.get("T2") == good
