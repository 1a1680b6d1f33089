"""The config the server pushes (offline limits, hot list): put in force over the config file's,
kept beside the outbox, and restored, verified again, after a restart."""

import logging
import os

from agent.core import pushed, shim
from protocol import money

log = logging.getLogger("possync.agent")


def kept_at(path, payload):
    """When the kept config ``payload`` was received: the modification time of the file holding it
    (``path``, or ``path.tmp`` after a save cut short), as Unix seconds."""
    for name in (path, path + ".tmp"):
        try:
            with open(name, "rb") as f:
                if f.read() == payload:
                    return int(os.fstat(f.fileno()).st_mtime)
        except OSError:
            continue
    return int(shim.now())  # removed since it was loaded: the nearest known time


def restore(cfg):
    """Put the config the server pushed before a restart in force in ``cfg``, if one was kept:
    ``(config, when it was received)``, or ``(None, None)``."""
    path = cfg["pushed_path"]
    obj, payload, problems = pushed.load(path, cfg["device"], cfg["key"])
    for problem in problems:
        log.warning("config: a kept config was refused: %s", problem)
    if obj is None:
        return None, None
    at = kept_at(path, payload)
    _apply(cfg, obj, "restored from " + path)
    return obj, at


def receive(cfg, obj, payload, applied, stats):
    """A verified config from the server: put in force in ``cfg`` at once if newer than ``applied``
    (the one in force, or None), then kept. Returns when it was received, or None if it was not newer."""
    if not pushed.newer(obj, applied):
        if obj["cfg"] < applied["cfg"]:
            stats["old_configs"] += 1
            log.warning("config: version %d ignored: version %d is applied already", obj["cfg"], applied["cfg"])
        return None
    at = int(shim.now())
    _apply(cfg, obj, "pushed by the server")
    try:
        pushed.save(cfg["pushed_path"], payload)
    except OSError as exc:
        log.error("config: version %d is applied but could not be kept in %s (%s): after a restart the "
                  "last kept one applies until the server's is received again", obj["cfg"],
                  cfg["pushed_path"], exc.strerror or exc)
    return at


def _apply(cfg, obj, how):
    cfg["offline"] = pushed.limits(obj)
    cfg["frozen"] = frozenset(pushed.hot_list(obj))
    cur = cfg["currency"]
    log.info("config: version %d %s: offline limits %s per card, %s per terminal (%s); %d frozen cards%s",
             obj["cfg"], how, money.text(obj["card"], cur), money.text(obj["term"], cur), cur,
             len(obj["frozen"]), "" if obj["all"] else " (the most recent only: the full list does not fit)")
