"""What the customer display says, laid out as two 20-column lines: loyalty statuses,
authorisation answers, coupon checks and fixed messages.

The texts live in agent.core.texts; turning the lines into display bytes is agent.core.display's job.
"""

from agent.core import texts as T
from protocol import money
from protocol.errors import ProtocolError

COLS = 20


class DisplayError(ProtocolError):
    """A status, text or charset the display cannot show; ``reason`` is a short code
    (``glyph``, ``charset``, ``lang``, ``status``, ``message``, ``width``, ``size``)."""


def width(text):
    """Display columns taken by ``text``: 1 per ASCII character, 2 per CJK glyph."""
    n = 0
    for c in text:
        n += 1 if ord(c) < 0x80 else 2
    return n


def check_lang(lang):
    """``lang`` itself if the display has texts for it; else a ``lang`` DisplayError."""
    if lang not in T.TEXTS:
        raise DisplayError("lang", "no texts for language %r" % (lang,))
    return lang


def _int(status, key, default):
    value = status.get(key)
    if value is None:
        value = default
    # MicroPython's bool is no int subclass, CPython's is: reject it on both.
    if type(value) is bool or not isinstance(value, int):
        raise DisplayError("status", key + " must be an integer")
    return value


def _fit(n, room, lang, plus):
    """``n`` as text of at most ``room`` columns: exact if it fits, else in the largest
    precision the language's units allow, else saturated at the largest such value."""
    sign = "-" if n < 0 else plus
    n = abs(n)
    text = str(n)
    for div, unit in T.UNITS[lang]:
        if width(sign + text) <= room:
            return sign + text
        text = str(n // div) + unit
    if width(sign + text) > room:
        unit = T.UNITS[lang][-1][1]
        text = "9" * (room - width(sign) - width(unit)) + unit
    return sign + text


def _join(left, right, sep):
    """``left`` and ``right`` on one line: right-aligned at column 20 when ``sep`` is None."""
    if not right:
        return left
    if sep is None:
        sep = " " * max(1, COLS - width(left) - width(right))
    elif not left:
        sep = ""
    return left + sep + right


def _code(lic):
    """A verdict code as display text: printable ASCII only ("?" for anything else), 20 columns."""
    return "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in str(lic)[:COLS])


def _tier(status, lang):
    tier = status.get("tier")
    return T.TIERS[lang].get(tier, "") if isinstance(tier, str) else ""


def _money(amount, cur, room, lang):
    """Minor units as money text of at most ``room`` columns: with the currency's decimals if
    they fit, else the whole units (truncated toward zero) abbreviated like points."""
    if type(cur) is not str:
        raise DisplayError("status", "a balance needs its currency code")
    text = money.text(amount, cur)
    if width(text) <= room:
        return text
    sign = "-" if amount < 0 else ""
    return sign + _fit(abs(amount) // 10 ** money.exponent(cur), room - len(sign), lang, "")


def _points_line(status, lang, head, with_earned):
    """Line 1 of a stored-value status: points, and what this record earned if it fits, left; tier right."""
    pts = _int(status, "pts", None)
    tier = _tier(status, lang)
    room = COLS - width(head) - (width(tier) + 1 if tier else 0)
    earned = _int(status, "earned", 0) if with_earned else 0
    if earned:
        e = _fit(earned, 6, lang, "+")
        if width(str(pts)) + 1 + width(e) <= room:
            return _join(head + str(pts) + " " + e, tier, None)
    return _join(head + _fit(pts, room, lang, ""), tier, None)


def _sv_line(status, lang):
    """Line 2 of a stored-value status: balance and the low-balance marker left, coupons right."""
    texts = T.TEXTS[lang]
    cpn = _int(status, "cpn", 0)
    right = texts["cpn"] + _fit(cpn, 3, lang, "") if cpn else ""
    if "sv" not in status:
        return _join("", right, None)
    low = " " + texts["low"] if status.get("low") is True else ""
    room = COLS - width(texts["bal"]) - width(low) - (width(right) + 1 if right else 0)
    sv = _money(_int(status, "sv", None), status.get("svcur"), room, lang)
    return _join(texts["bal"] + sv + low, right, None)


def render(status, lang="en", offline=False):
    """Return ``(line1, line2)`` of at most 20 columns each for a loyalty status dict.

    ``offline`` marks a cached status: "*" before line 1, and line 2 says so unless an
    acquirer-licence warning (``lic`` present and not "OK") takes it. A status without a
    customer (``cust`` "" and not ``new``) is a card-less sale's warning: the warning text
    over the verdict code. A status with stored value (``sv``, ``svcur``, ``low``) or coupons
    (``cpn``) shows points, earned and tier on line 1, balance and coupons on line 2.
    """
    lang = check_lang(lang)
    if not isinstance(status, dict):
        raise DisplayError("status", "status must be a dict")
    texts = T.TEXTS[lang]
    star = "*" if offline else ""
    lic = status.get("lic")
    warn = lic is not None and lic != "OK"
    if warn and status.get("cust") == "" and status.get("new") is not True:
        return star + texts["lic"], _code(lic)
    if "sv" in status or "cpn" in status:
        line1 = _points_line(status, lang, star + texts["pts_short"], not (offline or warn))
        if warn:
            return line1, texts["lic"]
        if offline:
            return line1, texts["offline"]
        return line1, _sv_line(status, lang)
    sep1, sep2 = T.LAYOUT[lang]
    head = star + texts["pts"]
    room = COLS - width(head) - (1 if sep1 is None else width(sep1))
    line1 = _join(head, _fit(_int(status, "pts", None), room, lang, ""), sep1)
    if warn:
        return line1, texts["lic"]
    if offline:
        return line1, texts["offline"]
    tier = _tier(status, lang)
    earned = _int(status, "earned", 0)
    if earned:
        fmt = texts["earned"] if earned > 0 else texts["lost"]
        room = COLS - (width(fmt) - 2)
        if tier:
            room -= width(tier) + (1 if sep2 is None else width(sep2))
        left = fmt % _fit(earned, room, lang, "+")
    elif status.get("new") is True:
        left = texts["new"]
    else:
        left = ""
    return line1, _join(left, tier, sep2)


def render_authr(authr, lang="en"):
    """Return ``(line1, line2)`` for the server's answer to an authorisation: approved, or short of
    balance, over the balance; other declines over a short reason. ``bal`` is money when the
    answer has ``cur`` (a stored-value spend), else points (a redemption)."""
    lang = check_lang(lang)
    if not isinstance(authr, dict):
        raise DisplayError("status", "an authorisation answer must be a dict")
    if authr.get("op") == "coupon":
        return render_coupon(authr, lang)
    words = T.AUTHR[lang]
    code = authr.get("code")
    money_ = "cur" in authr
    if authr.get("ok") is True or code == "INSUFFICIENT":
        texts = T.TEXTS[lang]
        label = texts["bal"] if money_ else texts["pts_short"]
        bal = _int(authr, "bal", None)
        room = COLS - width(label)
        value = _money(bal, authr["cur"], room, lang) if money_ else _fit(bal, room, lang, "")
        if authr.get("ok") is True:
            return words["ok"], label + value
        return words["short_money" if money_ else "short_points"], label + value
    reason = T.CODES[lang].get(code) if isinstance(code, str) else None
    return words["no"], reason if reason is not None else _code(code)


def _percent(permille, room, lang):
    """Permille as a percentage text of at most ``room`` columns: 150 -> "15%", 125 -> "12.5%"
    (whole percent, abbreviated like points, when that does not fit)."""
    text = "%d.%d%%" % (permille // 10, permille % 10) if permille % 10 else "%d%%" % (permille // 10)
    if width(text) <= room:
        return text
    return _fit(permille // 10, room - 1, lang, "") + "%"


def render_coupon(answer, lang="en"):
    """Return ``(line1, line2)`` for a coupon check (an authr marked ``"op": "coupon"``): a valid
    coupon over what it is worth (``ckind``, ``value``, ``cur``), a refusal over a hint where one
    helps (re-read an unknown code; the network when it went unanswered)."""
    words = T.COUPON[check_lang(lang)]
    code = answer.get("code")
    if answer.get("ok") is True:
        kind = answer.get("ckind")
        if kind == "gift":
            return words["VALID"], words["gift"]
        value = _int(answer, "value", None)
        room = COLS - (width(words["off"]) - 2)
        if kind == "percent_off":
            return words["VALID"], words["off"] % _percent(value, room, lang)
        return words["VALID"], words["off"] % _money(value, answer.get("cur"), room, lang)
    if not isinstance(code, str) or code == "VALID" or code.upper() != code or code not in words:
        return words["no"], _code(code) if isinstance(code, str) else ""
    if code == "UNKNOWN":
        return words[code], words["check"]
    if code == "OFFLINE":
        return words[code], words["offline"]
    return words[code], ""


def render_message(key, lang="en"):
    """Return ``(line1, line2)`` of the fixed text ``key`` ("welcome", "outbox_full", ...)."""
    lines = T.MESSAGES[check_lang(lang)].get(key)
    if lines is None:
        raise DisplayError("message", "no message %r" % (key,))
    return lines
