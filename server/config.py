"""Server settings: defaults, a JSON file, then POSSYNC_* environment overrides."""

import json
import os

# Paths left None are placed in the Flask instance folder by create_app.
DEFAULTS = {
    "INSTANCE_PATH": None,
    "DATABASE_URL": None,
    "SQLITE_SYNCHRONOUS": "normal",
    "SECRET_KEY_FILE": None,
    # The personal-data vault: its own database and AES-GCM key ring (POSSYNC_VAULT_KEYS overrides the file).
    "VAULT_DATABASE_URL": None,
    "VAULT_KEY_FILE": None,
    "MQTT_HOST": "127.0.0.1",
    "MQTT_PORT": 1883,
    "MQTT_USERNAME": "server",
    "MQTT_PASSWORD": "",
    "MQTT_TLS_CA": None,
    "MQTT_SHARED": True,
    "MQTT_CLIENT_ID": None,
    "MQTT_KEEPALIVE": 30,
    "HTTP_HOST": "127.0.0.1",
    "HTTP_PORT": 8080,
    # Stored value: JSON (or a JSON text in POSSYNC_WALLET_*); None = the defaults in server/wallet/settings.py.
    "WALLET_BONUS_TIERS": None,
    "WALLET_OFFLINE_LIMITS": None,
    "WALLET_PIN_TRIES": None,
    "WALLET_PIN_LOCK_MIN": None,
    "WALLET_LOW_BALANCE": None,
    "WALLET_AUTH_GRACE_MIN": None,
    # Birthday gifts (server/jobs/birthday.py): JSON {"kind", "value", "cur"}; None = off.
    "BIRTHDAY_GIFT": None,
    # Notifications (server/notify): sender log | webhook | smtp, or JSON per channel {"sms": "webhook"}.
    "NOTIFY_SENDER": "log",
    "NOTIFY_CHANNEL": "sms",
    "NOTIFY_WEBHOOK_URL": None,
    "NOTIFY_WEBHOOK_TOKEN": None,
    "NOTIFY_TIMEOUT_S": 10,
    "NOTIFY_MAX_ATTEMPTS": 5,
    "NOTIFY_BACKOFF_MIN": 5,
    "SMTP_HOST": None,
    "SMTP_PORT": 25,
    "SMTP_STARTTLS": False,
    "SMTP_USER": None,
    "SMTP_PASSWORD": "",
    "SMTP_FROM": None,
    "INGEST": True,
    "INGEST_MAX_BATCH": 500,
    "INGEST_BATCH_WINDOW_S": 0.005,
    # How often ingest looks for a changed hot list or offline limits to push to the terminals,
    # and for revoked terminals whose retained config to remove from the broker.
    "INGEST_CONFIG_POLL_S": 1.0,
    # `run` also runs the due scheduled jobs (server/jobs) every minute; JOBS_EVERY_MIN overrides
    # their intervals, e.g. {"stale": 5, "birthday": 0} (0: only by hand).
    "JOBS": True,
    "JOBS_EVERY_MIN": None,
    # Processes the daily tag recompute scans the sales in: None for one per core (at most 4,
    # from 300,000 sales), 1 to keep it in the job's own process (leaves the other cores to ingest).
    "TAGS_SCAN_WORKERS": None,
    # Largest request body accepted (a registry import upload); larger ones get 413.
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
    # Crash tests only: "kill_after_commit" makes ingest kill -9 itself between a
    # commit and its acks. Never set in production.
    "FAULT": None,
}

ENV_PREFIX = "POSSYNC_"


class ConfigError(Exception):
    """A settings file or variable that cannot be used; the message names it."""


def load(path=None, environ=os.environ):
    """Return the settings of the JSON file ``path`` (if any) with environment overrides."""
    config = {}
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except OSError as exc:
            raise ConfigError("cannot read config file %s (%s)" % (path, exc.strerror))
        except ValueError as exc:
            raise ConfigError("config file %s is not JSON (%s)" % (path, exc))
        if not isinstance(config, dict):
            raise ConfigError("config file %s must hold a JSON object" % path)
        unknown = sorted(set(config) - set(DEFAULTS))
        if unknown:
            raise ConfigError("config file %s: unknown setting(s) %s (known: %s)"
                              % (path, ", ".join(unknown), ", ".join(sorted(DEFAULTS))))
    config.update(from_env(environ))
    return config


def from_env(environ):
    """Settings given as POSSYNC_<NAME> variables, typed like their defaults."""
    out = {}
    for name, default in DEFAULTS.items():
        text = environ.get(ENV_PREFIX + name)
        if text is None:
            continue
        out[name] = _typed(name, default, text)
    return out


def _typed(name, default, text):
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError("%s%s must be true or false, not %r" % (ENV_PREFIX, name, text))
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise ConfigError("%s%s must be a number, not %r" % (ENV_PREFIX, name, text))
    return text
