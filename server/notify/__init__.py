"""Notifications to customers: a queue in the main DB without addresses; consent and address read from the vault
at send time."""

import json

from flask import current_app, has_app_context

from server import config


class NotifyError(Exception):
    """A notification cannot be queued or the notify settings are wrong; the message says what to fix."""


def setting(name):
    """The setting ``name`` from the running app's config (None: not set), else its default in server.config;
    JSON text decoded for the JSON-valued NOTIFY_SENDER."""
    value = current_app.config.get(name) if has_app_context() else None
    if value is None:
        return config.DEFAULTS[name]
    if name == "NOTIFY_SENDER" and isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            raise NotifyError("NOTIFY_SENDER is neither a sender name nor a JSON object: %r" % (value,))
    return value


def number(name, minimum):
    """Setting ``name`` as a whole number >= ``minimum``; NotifyError for anything else."""
    value = setting(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise NotifyError("%s must be a whole number >= %d, not %r" % (name, minimum, value))
    return value


def flag(name):
    """Setting ``name`` as a bool (true/false, also as text from a POSSYNC_* variable)."""
    value = setting(name)
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.lower() in ("1", "true", "yes", "on")
    if not isinstance(value, bool):
        raise NotifyError("%s must be true or false, not %r" % (name, value))
    return value
