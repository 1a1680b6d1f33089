"""The acquirer verdict of one sale: is it acquired by a licensed, in-scope, directly settling institution?

Judged against a Registry (server.licences.registry.load()) on the sale's own date in
Asia/Shanghai, so a sale made while a grant was valid stays OK after the grant ends. The day
of issue and the day of expiry are both valid. Checks run in this order and the first that
fails gives the verdict: MALFORMED, UNKNOWN_ACQUIRER, NO_ACQUIRING_GRANT, NOT_YET_VALID,
REVOKED / CANCELLED / LAPSED, EXPIRED, OUT_OF_SCOPE, INDIRECT_SETTLEMENT, else OK.
"""

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from server.licences import vocab

VERDICTS = ("OK", "UNKNOWN_ACQUIRER", "NO_ACQUIRING_GRANT", "NOT_YET_VALID", "EXPIRED", "LAPSED",
            "CANCELLED", "REVOKED", "OUT_OF_SCOPE", "INDIRECT_SETTLEMENT", "MALFORMED")
CHINA = ZoneInfo("Asia/Shanghai")
_MID_RE = re.compile(r"^[0-9A-Za-z]{15}\Z")
_TID_RE = re.compile(r"^[0-9A-Za-z]{8}\Z")
_ENDED = {"revoked": "REVOKED", "cancelled": "CANCELLED", "voluntary_exit": "CANCELLED", "lapsed": "LAPSED"}
_ENDED_TEXT = {"revoked": "revoked (吊销)", "cancelled": "cancelled (注销)",
               "voluntary_exit": "given up by voluntary exit", "lapsed": "lapsed (not renewed)"}


def judge(acq, merchant_province, sale_time_utc, registry):
    """(verdict, reason) for a sale with acquirer metadata ``acq`` at ``sale_time_utc``.

    ``acq``: {"inst": field-32 code and/or "lic": licence no., "mid": 15 chars, "tid": 8 chars,
    "settle": institution code or licence no. of the party that settles to the merchant};
    ``sale_time_utc``: a datetime (naive = UTC) or Unix seconds.
    """
    problem = _malformed(acq, merchant_province, sale_time_utc)
    if problem:
        return "MALFORMED", problem
    day = china_date(sale_time_utc)
    province = vocab.province(merchant_province)
    licence, problem = _acquirer(acq, registry)
    if problem:
        return problem
    rows = registry.by_licence[licence]
    name = rows[0].institution
    grants = [r for r in rows if vocab.is_acquiring(r.business_type)]
    if not grants:
        held = ", ".join(sorted({r.business_type for r in rows}))
        return "NO_ACQUIRING_GRANT", "%s (%s) holds no bank-card acquiring grant (holds: %s)" % (name, licence, held)
    started = [g for g in grants if g.issued <= day]
    if not started:
        first = min(grants, key=lambda g: g.issued)
        return "NOT_YET_VALID", "%s's %s grant starts %s, the sale was on %s" % (name, first.business_type, first.issued, day)
    grant = max(started, key=lambda g: g.issued)
    ends = grant.ends()
    if ends is not None and day >= ends:
        return _ENDED[grant.status], "%s's %s grant was %s on %s, the sale was on %s" % (
            name, grant.business_type, _ENDED_TEXT[grant.status], ends, day)
    if grant.expires is not None and day > grant.expires:
        return "EXPIRED", "%s's %s grant expired %s (status %s), the sale was on %s" % (
            name, grant.business_type, grant.expires, grant.status.replace("_", " "), day)
    if not _in_scope(grant, province):
        return "OUT_OF_SCOPE", "%s's %s grant (%s) does not cover %s" % (
            name, grant.business_type, _scope_text(grant), province)
    settler = _resolve(acq["settle"], registry)
    if settler != licence:
        return "INDIRECT_SETTLEMENT", "settled by %s, not by the licensed acquirer %s (%s): 二清" % (
            acq["settle"], name, licence)
    return "OK", "%s (%s) %s grant valid on %s for %s, settles directly" % (
        name, licence, grant.business_type, day, province)


def _malformed(acq, merchant_province, when):
    """Why the input is missing or ill-formed, or None."""
    if not isinstance(acq, dict):
        return "acquirer metadata missing"
    inst, lic = acq.get("inst"), acq.get("lic")
    if inst is None and lic is None:
        return "neither acquiring institution code (inst) nor licence number (lic) given"
    if inst is not None and not (isinstance(inst, str) and vocab.CODE_RE.match(inst)):
        return "inst %r is not a field-32 code of 1-11 digits" % (inst,)
    if lic is not None and not (isinstance(lic, str) and vocab.LICENCE_RE.match(lic)):
        return "lic %r is not Z followed by 13 digits" % (lic,)
    for key, pattern, what in (("mid", _MID_RE, "15"), ("tid", _TID_RE, "8")):
        value = acq.get(key)
        if not (isinstance(value, str) and pattern.match(value)):
            return "%s %r is not %s letters or digits" % (key, value, what)
    settle = acq.get("settle")
    if not (isinstance(settle, str) and (vocab.CODE_RE.match(settle) or vocab.LICENCE_RE.match(settle))):
        return "settle %r is not an institution code or licence number" % (settle,)
    if vocab.province(merchant_province) is None:
        return "merchant province %r is unknown" % (merchant_province,)
    if isinstance(when, bool) or not isinstance(when, (datetime, int, float)):
        return "sale time %r is not a datetime or Unix seconds" % (when,)
    return None


def _acquirer(acq, registry):
    """(licence number, None) of the acquirer, or (None, (verdict, reason))."""
    if registry.version is None:
        return None, ("UNKNOWN_ACQUIRER", "no licence registry has been imported yet, so no acquirer is known; "
                      "import one with `possync-server licences import FILE`")
    inst, lic = acq.get("inst"), acq.get("lic")
    by_code = registry.by_code.get(inst) if inst is not None else None
    if inst is not None and by_code is None:
        return None, ("UNKNOWN_ACQUIRER", "acquiring institution code %s is not in registry version %s"
                      % (inst, registry.version))
    if lic is not None and lic not in registry.by_licence:
        return None, ("UNKNOWN_ACQUIRER", "licence %s is not in registry version %s" % (lic, registry.version))
    if by_code is not None and lic is not None and by_code != lic:
        return None, ("MALFORMED", "institution code %s belongs to licence %s, not %s" % (inst, by_code, lic))
    return by_code or lic, None


def _resolve(party, registry):
    """The licence number of a settlement party given as code or licence number, or None."""
    if vocab.LICENCE_RE.match(party):
        return party if party in registry.by_licence else None
    return registry.by_code.get(party)


def china_date(when):
    """The calendar date in Asia/Shanghai of a datetime (naive = UTC) or Unix seconds."""
    if not isinstance(when, datetime):
        when = datetime.fromtimestamp(when, timezone.utc)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(CHINA).date()


def _in_scope(grant, province):
    if grant.scope == "national":
        return True
    return (province in grant.provinces) == (grant.scope == "provinces")


def _scope_text(grant):
    if grant.scope == "national":
        return "全国"
    return ("only " if grant.scope == "provinces" else "all except ") + "、".join(grant.provinces)
