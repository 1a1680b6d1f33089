"""The agent's JSON config file (spine contract): load, fill defaults, check every key."""

import binascii
import json
import logging
import os

from agent.core import records
from protocol import agentconfig, topics
from protocol.errors import ProtocolError

log = logging.getLogger("possync.agent")

DEFAULTS = agentconfig.DEFAULTS
MAX_MINOR = (1 << 53) - 1
MAX_FROZEN = 100000


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the key."""

    reason = "bad_config"


class _Check:
    def __init__(self, path):
        self.path = path

    def fail(self, key, what):
        raise ConfigError("config %s: %s: %s" % (self.path, key, what))

    def get(self, obj, key, dotted, default=KeyError):
        if key not in obj:
            if default is KeyError:
                self.fail(dotted, "missing")
            return default
        return obj[key]

    def int(self, obj, key, dotted, lo, hi, default=KeyError):
        v = self.get(obj, key, dotted, default)
        if type(v) is not int or not lo <= v <= hi:
            self.fail(dotted, "must be an integer from %d to %d" % (lo, hi))
        return v

    def str(self, obj, key, dotted, default=KeyError):
        v = self.get(obj, key, dotted, default)
        if type(v) is not str or not v:
            self.fail(dotted, "must be a non-empty string")
        return v

    def hexkey(self, obj, key):
        v = self.get(obj, key, key)
        if type(v) is not str or len(v) != 64:
            self.fail(key, "must be 64 hex digits (a 32-byte key)")
        try:
            return binascii.unhexlify(v)
        except (binascii.Error, ValueError):
            self.fail(key, "must be 64 hex digits (a 32-byte key)")

    def section(self, obj, key):
        v = obj.get(key, DEFAULTS[key])
        if v is not None and type(v) is not dict:
            self.fail(key, "must be a JSON object or null")
        return v


def load(path):
    """Read and check the config at ``path``; return a dict with defaults filled in.

    Adds ``key`` and ``token_key`` (bytes) and ``pushed_path``. Raises ConfigError naming the file and key.
    """
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise ConfigError("config %s: no such file (write one with `possync-server device add --agent-config PATH`)" % path)
    except OSError as exc:
        raise ConfigError("config %s: cannot read: %s" % (path, exc.strerror))
    except ValueError as exc:
        raise ConfigError("config %s: not valid JSON: %s" % (path, exc))
    return check(raw, path)


def check(raw, path="<dict>"):
    """Check a parsed config dict (see ``load``)."""
    c = _Check(path)
    if type(raw) is not dict:
        c.fail("(top level)", "must be a JSON object")
    cfg = {}
    cfg["device"] = c.str(raw, "device", "device")
    try:
        topics.check_dev(cfg["device"])
    except ProtocolError as exc:
        c.fail("device", exc.detail)
    cfg["key_hex"] = raw.get("key_hex")
    cfg["key"] = c.hexkey(raw, "key_hex")
    cfg["token_key"] = c.hexkey(raw, "token_key_hex")
    cfg["token_key_hex"] = raw["token_key_hex"]

    m = c.section(raw, "mqtt")
    if m is None:
        c.fail("mqtt", "must be a JSON object")
    d = DEFAULTS["mqtt"]
    mqtt = {
        "host": c.str(m, "host", "mqtt.host", d["host"]),
        "port": c.int(m, "port", "mqtt.port", 1, 65535, d["port"]),
        "username": c.str(m, "username", "mqtt.username", cfg["device"]),
        "password": c.str(m, "password", "mqtt.password"),
        "keepalive": c.int(m, "keepalive", "mqtt.keepalive", 5, 3600, d["keepalive"]),
        "tls": m.get("tls"),
    }
    if mqtt["tls"] is not None:
        if type(mqtt["tls"]) is not dict:
            c.fail("mqtt.tls", "must be null or {\"ca\": \"/path/to/ca.pem\"}")
        ca = mqtt["tls"].get("ca")
        if ca is not None and (type(ca) is not str or not os.path.isfile(ca)):
            c.fail("mqtt.tls.ca", "must name a readable CA certificate file")
    cfg["mqtt"] = mqtt

    o = c.section(raw, "outbox")
    if o is None:
        c.fail("outbox", "must be a JSON object")
    d = DEFAULTS["outbox"]
    cfg["outbox"] = {
        "path": c.str(o, "path", "outbox.path", d["path"]),
        "max_bytes": c.int(o, "max_bytes", "outbox.max_bytes", 4096, 1 << 34, d["max_bytes"]),
        "max_count": c.int(o, "max_count", "outbox.max_count", 1, 10000000, d["max_count"]),
    }
    # The config the server pushes is kept beside the outbox, never in this (the technician's) file.
    cfg["pushed_path"] = cfg["outbox"]["path"] + ".pushed"
    p = c.section(raw, "pos")
    if p is None:
        c.fail("pos", "must be a JSON object")
    d = DEFAULTS["pos"]
    cfg["pos"] = {"host": c.str(p, "host", "pos.host", d["host"]),
                  "port": c.int(p, "port", "pos.port", 0, 65535, d["port"])}

    r = c.section(raw, "reader")
    if r is not None:
        if r.get("stdin") is True:
            r = {"stdin": True}
        else:
            r = {"port": c.str(r, "port", "reader.port"),
                 "baud": c.int(r, "baud", "reader.baud", 300, 921600, 9600)}
    cfg["reader"] = r
    s = c.section(raw, "display")
    if s is not None:
        s = {"port": c.str(s, "port", "display.port"),
             "baud": c.int(s, "baud", "display.baud", 300, 921600, 9600),
             "lang": c.str(s, "lang", "display.lang", "zh-CN"),
             "charset": c.str(s, "charset", "display.charset", "gb18030")}
        if s["lang"] not in ("zh-CN", "en"):
            c.fail("display.lang", "must be \"zh-CN\" or \"en\"")
    cfg["display"] = s

    drop = raw.get("drop_dir")
    if drop is not None and (type(drop) is not str or not drop):
        c.fail("drop_dir", "must be null or a folder path")
    cfg["drop_dir"] = drop
    cur = raw.get("currency", DEFAULTS["currency"])
    if type(cur) is not str or len(cur) != 3 or not cur.isupper() or not cur.isalpha():
        c.fail("currency", "must be an ISO 4217 code such as \"CNY\"")
    cfg["currency"] = cur
    cfg["window"] = c.int(raw, "window", "window", 1, 1000, DEFAULTS["window"])
    cfg["ack_timeout_s"] = c.int(raw, "ack_timeout_s", "ack_timeout_s", 1, 3600, DEFAULTS["ack_timeout_s"])
    cfg["heartbeat_s"] = c.int(raw, "heartbeat_s", "heartbeat_s", 1, 86400, DEFAULTS["heartbeat_s"])
    cfg["swipe_ttl_s"] = c.int(raw, "swipe_ttl_s", "swipe_ttl_s", 1, 3600, DEFAULTS["swipe_ttl_s"])
    acq = raw.get("acq", DEFAULTS["acq"])
    if acq is not None:
        try:
            acq = records.check_acq(acq)
        except ProtocolError as exc:  # detail is "acq[.key]: what"
            c.fail(*exc.detail.split(": ", 1))
    cfg["acq"] = acq
    off = raw.get("offline", DEFAULTS["offline"])
    if type(off) is not dict:
        c.fail("offline", "must be {\"card\": N, \"terminal\": M} in minor units of the terminal currency")
    d = DEFAULTS["offline"]
    cfg["offline"] = {"card": c.int(off, "card", "offline.card", 0, MAX_MINOR, d["card"]),
                      "terminal": c.int(off, "terminal", "offline.terminal", 0, MAX_MINOR, d["terminal"])}
    cfg["auth_timeout_ms"] = c.int(raw, "auth_timeout_ms", "auth_timeout_ms", 100, 60000, DEFAULTS["auth_timeout_ms"])
    frozen = raw.get("frozen", DEFAULTS["frozen"])
    if type(frozen) is not list or len(frozen) > MAX_FROZEN:
        c.fail("frozen", "must be a list of at most %d card tokens" % MAX_FROZEN)
    for i, tok in enumerate(frozen):
        if type(tok) is not str or len(tok) != 64 or any(ch not in "0123456789abcdef" for ch in tok):
            c.fail("frozen[%d]" % i, "must be a card token (64 lowercase hex digits)")
    cfg["frozen"] = frozenset(frozen)
    known = set(DEFAULTS) | {"device", "key_hex", "token_key_hex"}
    for key in sorted(raw):
        if key not in known:  # a newer server may write keys this agent does not know yet
            log.warning("config %s: ignoring unknown key %r", path, key)
    return cfg
