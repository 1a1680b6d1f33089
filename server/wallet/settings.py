"""The stored-value programme's settings: app config ``WALLET_*`` keys over built-in defaults."""

import json

from flask import current_app, has_app_context

from server.wallet import WalletError

DEFAULTS = {
    # Top-up bonus tiers in minor units: the highest tier whose "min" the top-up reaches applies.
    "WALLET_BONUS_TIERS": [{"min": 50000, "bonus": 5000}, {"min": 100000, "bonus": 12000},
                           {"min": 200000, "bonus": 30000}],
    # Offline spend limits in minor units: per card at one terminal, and per terminal in total.
    "WALLET_OFFLINE_LIMITS": {"card": 20000, "terminal": 100000},
    "WALLET_PIN_TRIES": 5,
    "WALLET_PIN_LOCK_MIN": 30,
    "WALLET_LOW_BALANCE": 5000,
    # An online approval whose record has not come after this many minutes is released (server.wallet.stale).
    "WALLET_AUTH_GRACE_MIN": 1440,
}


def get(name):
    """The setting ``name`` from the running app's config (None: not set), else its default.

    JSON text is decoded, so a list or object can come from a POSSYNC_WALLET_* variable.
    """
    value = current_app.config.get(name) if has_app_context() else None
    if value is None:
        return DEFAULTS[name]
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise WalletError("setting %s is not JSON: %r" % (name, value))
    return value


def bonus_tiers(tiers=None):
    """Checked bonus tiers (given, else configured) sorted by ``min``; WalletError names a bad one."""
    tiers = get("WALLET_BONUS_TIERS") if tiers is None else tiers
    if not isinstance(tiers, list):
        raise WalletError("WALLET_BONUS_TIERS must be a JSON list like [{\"min\": 100000, \"bonus\": 10000}]")
    for tier in tiers:
        if not (isinstance(tier, dict) and set(tier) == {"min", "bonus"} and _minor(tier["min"])
                and _minor(tier["bonus"], zero=True)):
            raise WalletError("bonus tier %r: give {\"min\": N, \"bonus\": M} with whole minor units, N > 0, M >= 0"
                              % (tier,))
    return sorted(tiers, key=lambda t: t["min"])


def offline_limits(limits=None):
    """Checked offline limits ``{"card": minor, "terminal": minor}`` (given, else configured)."""
    limits = get("WALLET_OFFLINE_LIMITS") if limits is None else limits
    if not (isinstance(limits, dict) and set(limits) == {"card", "terminal"}
            and all(_minor(v, zero=True) for v in limits.values())):
        raise WalletError("WALLET_OFFLINE_LIMITS must be {\"card\": N, \"terminal\": M} in whole minor units, "
                          "not %r" % (limits,))
    return limits


def grace_minutes(minutes=None):
    """Checked WALLET_AUTH_GRACE_MIN (given, else configured): whole minutes above 0."""
    minutes = get("WALLET_AUTH_GRACE_MIN") if minutes is None else minutes
    if not _minor(minutes):
        raise WalletError("WALLET_AUTH_GRACE_MIN must be a whole number of minutes above 0 (default 1440 = 24 h), "
                          "not %r" % (minutes,))
    return minutes


def _minor(value, zero=False):
    return isinstance(value, int) and not isinstance(value, bool) and (value >= 0 if zero else value > 0)
