"""The terminal's config file: the contract between whoever provisions a terminal and its agent.

The server (`possync-server device add`), the technician tools and the agent all
take the shape and defaults from here, so they cannot drift apart.
"""

import json

DEFAULTS = {
    "mqtt": {"host": "127.0.0.1", "port": 1883, "tls": None, "keepalive": 30},
    "outbox": {"path": "/var/lib/possync/outbox.log", "max_bytes": 4194304, "max_count": 20000},
    "pos": {"host": "127.0.0.1", "port": 9100},
    "reader": None,
    "display": None,
    "drop_dir": None,
    "currency": "CNY",
    "window": 32,
    "ack_timeout_s": 10,
    "heartbeat_s": 30,
    "swipe_ttl_s": 120,
    # Default acquirer metadata ({"inst", "lic", "mid", "tid", "settle"}) for sales whose POS sends none.
    "acq": None,
    # Stored-value spends without the server: the most not yet reconciled, per card and for the
    # terminal, in minor units of "currency" (0 allows none).
    "offline": {"card": 20000, "terminal": 100000},
    # How long a stored-value spend or a redemption waits for the server's approval.
    "auth_timeout_ms": 3000,
    # Hot list: tokens of frozen (reported lost) cards, refused for offline spends.
    "frozen": [],
}


def defaults():
    """A fresh deep copy of DEFAULTS (safe to change)."""
    return json.loads(json.dumps(DEFAULTS))


def build(dev, key, token_key, password, mqtt_host, mqtt_port, tls_ca=None):
    """The config of terminal ``dev``: its keys (bytes), MQTT login, and defaults for the rest."""
    config = defaults()
    config["device"] = dev
    config["key_hex"] = key.hex()
    config["token_key_hex"] = token_key.hex()
    config["mqtt"].update({"host": mqtt_host, "port": mqtt_port, "username": dev, "password": password,
                           "tls": {"ca": tls_ca} if tls_ca else None})
    return config
