"""What each vault field may hold: checks that name the field (never echo the value) and the text that is sealed."""

import json
import re
from datetime import date, datetime, timedelta

from server.db import utcnow
from server.vault.crypto import VaultError

FIELDS = ("name", "phone", "email", "birthday", "address", "gender", "age_band", "income_band", "region",
          "preferences", "consent")
GENDERS = ("female", "male", "other", "undisclosed")
CHANNELS = ("sms", "email", "wechat", "phone", "post")
NOTE = re.compile("note\\.(0|[1-9][0-9]{0,8})")
JSON_FIELDS = ("preferences", "consent")

_PHONE = re.compile("\\+?[0-9]{6,15}")
_EMAIL = re.compile("[^@\\s]+@[^@\\s.]+(\\.[^@\\s.]+)+")
_DATE = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")
_AGE_BAND = re.compile("([0-9]{1,3})-([0-9]{1,3})|[0-9]{1,3}\\+")
_LIMITS = {"name": 100, "address": 200, "region": 64, "income_band": 32, "email": 254}
NOTE_LIMIT = 2000
SOURCE_LIMIT = 64


def check_name(field):
    """Raise VaultError unless ``field`` is one of FIELDS or a note ``note.<n>``."""
    if not isinstance(field, str) or not (field in FIELDS or NOTE.fullmatch(field)):
        raise VaultError("unknown vault field %r: use one of %s, or note.<n> for a note"
                         % (field if isinstance(field, str) else type(field).__name__, ", ".join(FIELDS)))


def encode(field, value):
    """The text to seal for ``value`` of ``field``, or VaultError saying what the field takes."""
    check_name(field)
    if field in JSON_FIELDS:
        if field == "consent":
            _consent(value)
        return _json(field, value)
    _text(field, value, NOTE_LIMIT if field.startswith("note.") else _LIMITS.get(field, 64))
    check = _CHECKS.get(field)
    if check:
        check(value)
    return value


def decode(field, text):
    """The value ``encode`` was given, from its sealed text."""
    return json.loads(text) if field in JSON_FIELDS else text


def _text(field, value, limit):
    if not isinstance(value, str):
        raise VaultError("vault field %s must be text, not %s" % (field, type(value).__name__))
    if not value.strip():
        raise VaultError("vault field %s is empty: give None to delete it" % field)
    if len(value) > limit:
        raise VaultError("vault field %s is %d characters long, at most %d" % (field, len(value), limit))


def _phone(value):
    if not _PHONE.fullmatch(value):
        raise VaultError("vault field phone must be an optional + and 6-15 digits, no spaces (e.g. +8613800138000)")


def _email(value):
    if not _EMAIL.fullmatch(value):
        raise VaultError("vault field email must look like name@example.com")


def _birthday(value):
    try:
        day = date.fromisoformat(value) if _DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
        raise VaultError("vault field birthday must be a real date as YYYY-MM-DD (e.g. 1990-05-17)")
    # Today anywhere on earth (UTC+14) still counts: a birthday entered at a till may be ahead of UTC.
    if day > (utcnow() + timedelta(hours=14)).date():
        raise VaultError("vault field birthday lies in the future")


def _gender(value):
    if value not in GENDERS:
        raise VaultError("vault field gender must be one of %s" % ", ".join(GENDERS))


def _age_band(value):
    m = _AGE_BAND.fullmatch(value)
    if not m or (m.group(1) and int(m.group(1)) > int(m.group(2))):
        raise VaultError("vault field age_band must be a range like 25-34 or an open band like 65+")


_CHECKS = {"phone": _phone, "email": _email, "birthday": _birthday, "gender": _gender, "age_band": _age_band}


def _json(field, value):
    if not isinstance(value, dict):
        raise VaultError("vault field %s must be a dict, not %s" % (field, type(value).__name__))
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
        same = json.loads(text) == value
    except (TypeError, ValueError):
        same = False
    if not same:
        raise VaultError("vault field %s must survive JSON unchanged: text keys; values text, whole or decimal "
                         "numbers, true/false, null, lists or dicts" % field)
    return text


def _consent(value):
    if not isinstance(value, dict):
        raise VaultError("vault field consent must be a dict {channel: {granted, at, source}}, not %s"
                         % type(value).__name__)
    shape = '{"granted": true|false, "at": "YYYY-MM-DDTHH:MM:SSZ", "source": text}'
    for channel, entry in value.items():
        if channel not in CHANNELS:
            raise VaultError("vault field consent: unknown channel %r (use %s)"
                             % (str(channel)[:16], ", ".join(CHANNELS)))
        if not isinstance(entry, dict) or set(entry) != {"granted", "at", "source"}:
            raise VaultError("vault field consent.%s must be %s" % (channel, shape))
        if not isinstance(entry["granted"], bool):
            raise VaultError("vault field consent.%s: granted must be true or false" % channel)
        if not _utc_iso(entry["at"]):
            raise VaultError("vault field consent.%s: at must be an ISO time in UTC (e.g. 2025-06-01T10:00:00Z)"
                             % channel)
        source = entry["source"]
        if not isinstance(source, str) or not source.strip() or len(source) > SOURCE_LIMIT:
            raise VaultError("vault field consent.%s: source must be text of 1-%d characters (e.g. pos, web, form)"
                             % (channel, SOURCE_LIMIT))


def _utc_iso(text):
    if not isinstance(text, str) or "T" not in text:
        return False
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return when.tzinfo is not None and when.utcoffset() == timedelta(0)
