"""Device keys in memory, decrypted once, re-read so CLI changes from other processes take effect."""

import logging
import time

from server import keys
from server.fleet.models import Device

log = logging.getLogger(__name__)


class DeviceKeys:
    """A mapping ``dev -> key`` (None for a revoked device) over the Device table.

    A device that is unknown or revoked here is looked up again, at most once per
    ``miss_s`` for that device, so a terminal enrolled a moment ago by another
    process is known at its first frame. ``tick()`` re-reads the whole table every
    ``every_s`` so a revocation reaches a running ingest. Only keys whose sealed bytes
    changed are decrypted again.
    """

    def __init__(self, master, every_s=2.0, miss_s=0.5, clock=time.monotonic):
        self.master = master
        self.every_s = every_s
        self.miss_s = miss_s
        self.clock = clock
        self._keys = {}
        self._sealed = {}
        self._missed = {}
        self._loaded = None

    def get(self, dev, default=None):
        """The key of ``dev``, None if revoked, ``default`` if unknown."""
        key = self._keys.get(dev, default)
        if key is None or key is default:
            now = self.clock()
            if now - self._missed.get(dev, now - self.miss_s) >= self.miss_s:
                self._missed[dev] = now
                self._load(dev)
                key = self._keys.get(dev, default)
        return key

    def tick(self):
        """Re-read the table if the last read is older than ``every_s``."""
        if self._loaded is None or self.clock() - self._loaded >= self.every_s:
            self.refresh()

    def refresh(self):
        """Re-read every device's sealed key and revocation from the database."""
        old_sealed, old_keys = self._sealed, self._keys
        self._keys, self._sealed = {}, {}
        for dev, blob, revoked_at in Device.select(Device.id, Device.key_enc, Device.revoked_at).tuples():
            self._put(dev, blob, revoked_at, old_sealed.get(dev), old_keys.get(dev))
        self._loaded = self.clock()

    def _load(self, dev):
        row = Device.select(Device.id, Device.key_enc, Device.revoked_at).where(Device.id == dev).tuples().first()
        if row is not None:
            self._put(dev, row[1], row[2], self._sealed.get(dev), self._keys.get(dev))

    def _put(self, dev, blob, revoked_at, old_blob, old_key):
        blob = bytes(blob)
        self._sealed[dev] = blob
        if revoked_at is not None:
            self._keys[dev] = None
            return
        if old_blob == blob and old_key is not None:
            self._keys[dev] = old_key
            return
        try:
            self._keys[dev] = keys.unseal(self.master, dev, blob)
        except keys.KeyStoreError as exc:
            self._keys.pop(dev, None)
            if old_blob != blob:
                log.error("%s: its frames are refused as unknown_device", exc)
