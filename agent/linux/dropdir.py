"""Optional drop folder: a POS that cannot use the socket writes one sale per ``*.json`` file.

A file is renamed to ``.done`` once the outbox stored it, to ``.bad`` (with a ``.err`` note)
when its content is invalid, and left in place when the outbox is full (retried later).
Writers should write ``name.tmp`` and rename it to ``name.json`` so no half file is read.
"""

import json
import logging
import os

log = logging.getLogger("possync.agent")


def scan(folder, handle, limit=100):
    """Feed up to ``limit`` ``*.json`` files, oldest name first, to ``handle(req) -> reply``; return how many were stored."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))[:limit]
    except OSError as exc:
        log.warning("drop_dir %s: cannot list (%s)", folder, exc.strerror)
        return 0
    stored = 0
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as f:
                req = json.load(f)
        except OSError:
            continue
        except ValueError:
            _reject(path, "not one JSON object")
            continue
        if type(req) is not dict:
            _reject(path, "not one JSON object")
            continue
        req.setdefault("op", "sale")
        reply = handle(req)
        if reply.get("stored"):
            os.rename(path, path[:-5] + ".done")
            stored += 1
        elif not reply.get("ok") or "stored" not in reply:
            _reject(path, reply.get("message", ""))
        else:
            break  # outbox full or failing: keep the files for later, in order
    return stored


def _reject(path, why):
    base = path[:-5]
    with open(base + ".err", "w", encoding="utf-8") as f:
        f.write(why + "\n")
    os.rename(path, base + ".bad")
    log.warning("drop_dir: %s rejected: %s", os.path.basename(path), why)
