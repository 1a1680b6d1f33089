"""Config the server pushes on down/config: check it, decide whether it is newer, keep it across restarts.

The frame is kept exactly as it came (its MAC covers those bytes) in a file of its own next
to the outbox, and verified again when loaded, so what a restart applies is what the server
signed; the technician's config file is never written.
"""

from agent.core import shim
from protocol import envelope, frame, topics
from protocol.errors import ProtocolError


def verify(dev, key, payload):
    """The body of a down/config frame for ``dev`` under its ``key``; ProtocolError (bad_mac, wrong_device,
    bad_field, ...) otherwise."""
    topic = topics.topic(dev, "down/config")
    obj = envelope.validate(frame.loads(frame.verify(topic, payload, key)), dev)
    if obj["kind"] != "config":
        raise ProtocolError("bad_kind", "a %s body on down/config" % obj["kind"])
    return obj


def newer(obj, applied):
    """True if config ``obj`` should replace ``applied`` (None: nothing applied yet): its version is higher."""
    return applied is None or obj["cfg"] > applied["cfg"]


def limits(obj):
    """The offline limits of a config, in the shape agent.core.offline takes: ``{"card": n, "terminal": m}``."""
    return {"card": obj["card"], "terminal": obj["term"]}


def hot_list(obj):
    """The frozen card tokens of a config as a set (membership is all the offline check needs)."""
    return set(obj["frozen"])


def save(path, payload):
    """Keep the frame ``payload`` at ``path``: written to path.tmp, flushed to storage, renamed over ``path``."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(payload)
        shim.fsync(f)
    shim.rename(tmp, path)
    shim.fsync_dir(path.rsplit("/", 1)[0] if "/" in path else ".")


def load(path, dev, key):
    """The newest valid config kept at ``path``: ``(obj, payload, problems)``; obj and payload are None if none.

    ``path.tmp`` is tried too (a save cut short before its rename, or on a file system that
    cannot rename over a file); ``problems`` lists "file: reason" for every file refused.
    """
    best, best_payload, problems = None, None, []
    for name in (path, path + ".tmp"):
        try:
            with open(name, "rb") as f:
                payload = f.read()
        except OSError:
            continue
        try:
            obj = verify(dev, key, payload)
        except ProtocolError as exc:
            problems.append(name + ": " + exc.reason)
            continue
        if newer(obj, best):
            best, best_payload = obj, payload
    return best, best_payload, problems
