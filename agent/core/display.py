"""Customer display: loyalty status as two 20-column lines, framed for a CD5220 VFD.

MicroPython's str.encode knows UTF-8 only, so GB18030 bytes come from a hand table of
exactly the glyphs the texts below use; zh-CN falls back to English when it cannot be shown.
"""

from protocol.errors import ProtocolError

COLS = 20

# Per language: "pts" heads line 1, "earned"/"lost" wrap the signed points of this record.
_TEXTS = {
    "en": {"pts": "Points:", "earned": "%s earned", "lost": "%s points", "new": "New member",
           "offline": "OFFLINE, cached", "lic": "ACQUIRER CHECK!"},
    "zh-CN": {"pts": "积分:", "earned": "本次%s", "lost": "本次%s", "new": "新会员",
              "offline": "离线 缓存", "lic": "收单机构异常"},
}

_TIERS = {
    "en": {"basic": "BASIC", "silver": "SILVER", "gold": "GOLD", "vip": "VIP"},
    "zh-CN": {"basic": "普通", "silver": "银卡", "gold": "金卡", "vip": "VIP"},
}

# Separator between the left text and the right value of line 1 and line 2;
# None right-aligns the value at column 20.
_LAYOUT = {"en": (None, None), "zh-CN": ("", "  ")}

# Units for numbers too wide for their field, smallest first (values are truncated toward zero).
_UNITS = {
    "en": ((10 ** 3, "K"), (10 ** 6, "M"), (10 ** 9, "B"), (10 ** 12, "T")),
    "zh-CN": ((10 ** 4, "万"), (10 ** 8, "亿")),
}

_MESSAGES = {
    "en": {"welcome": ("Welcome", ""), "stored": ("Sale stored", ""),
           "card_error": ("Card read error", ""), "outbox_full": ("STORE FULL-CALL IT", ""),
           "offline": ("Network offline", ""), "thanks": ("Thank you", "")},
    "zh-CN": {"welcome": ("欢迎光临", ""), "stored": ("交易已保存", ""),
              "card_error": ("读卡失败 请重刷", ""), "outbox_full": ("存储已满 请联系技术", ""),
              "offline": ("网络离线", ""), "thanks": ("谢谢惠顾", "")},
}

# Glyph -> its two-byte GB18030 code (checked against CPython's codec by the tests).
GB18030 = {
    "万": 0xCDF2, "临": 0xC1D9, "交": 0xBDBB, "亿": 0xD2DA, "会": 0xBBE1, "保": 0xB1A3,
    "储": 0xB4A2, "光": 0xB9E2, "分": 0xB7D6, "刷": 0xCBA2, "单": 0xB5A5, "卡": 0xBFA8,
    "员": 0xD4B1, "失": 0xCAA7, "存": 0xB4E6, "已": 0xD2D1, "常": 0xB3A3, "异": 0xD2EC,
    "惠": 0xBBDD, "技": 0xBCBC, "收": 0xCAD5, "新": 0xD0C2, "易": 0xD2D7, "普": 0xC6D5,
    "本": 0xB1BE, "术": 0xCAF5, "机": 0xBBFA, "构": 0xB9B9, "次": 0xB4CE, "欢": 0xBBB6,
    "满": 0xC2FA, "离": 0xC0EB, "积": 0xBBFD, "系": 0xCFB5, "线": 0xCFDF, "络": 0xC2E7,
    "缓": 0xBBBA, "网": 0xCDF8, "联": 0xC1AA, "请": 0xC7EB, "读": 0xB6C1, "谢": 0xD0BB,
    "败": 0xB0DC, "迎": 0xD3AD, "通": 0xCDA8, "重": 0xD6D8, "金": 0xBDF0, "银": 0xD2F8,
    "顾": 0xB9CB,
}


class DisplayError(ProtocolError):
    """A status, text or charset the display cannot show; ``reason`` is a short code
    (``glyph``, ``charset``, ``lang``, ``status``, ``message``, ``width``, ``size``)."""


def width(text):
    """Display columns taken by ``text``: 1 per ASCII character, 2 per CJK glyph."""
    n = 0
    for c in text:
        n += 1 if ord(c) < 0x80 else 2
    return n


def _lang(lang):
    if lang not in _TEXTS:
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
    for div, unit in _UNITS[lang]:
        if width(sign + text) <= room:
            return sign + text
        text = str(n // div) + unit
    if width(sign + text) > room:
        unit = _UNITS[lang][-1][1]
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


def render(status, lang="en", offline=False):
    """Return ``(line1, line2)`` of at most 20 columns each for a loyalty status dict.

    ``offline`` marks a cached status: "*" before line 1, and line 2 says so unless an
    acquirer-licence warning (``lic`` present and not "OK") takes it. A status without a
    customer (``cust`` "" and not ``new``) is a card-less sale's warning: the warning text
    over the verdict code.
    """
    lang = _lang(lang)
    if not isinstance(status, dict):
        raise DisplayError("status", "status must be a dict")
    texts = _TEXTS[lang]
    star = "*" if offline else ""
    lic = status.get("lic")
    warn = lic is not None and lic != "OK"
    if warn and status.get("cust") == "" and status.get("new") is not True:
        return star + texts["lic"], _code(lic)
    sep1, sep2 = _LAYOUT[lang]
    head = star + texts["pts"]
    room = COLS - width(head) - (1 if sep1 is None else width(sep1))
    line1 = _join(head, _fit(_int(status, "pts", None), room, lang, ""), sep1)
    if warn:
        return line1, texts["lic"]
    if offline:
        return line1, texts["offline"]
    tier = status.get("tier")
    tier = _TIERS[lang].get(tier, "") if isinstance(tier, str) else ""
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


def render_message(key, lang="en"):
    """Return ``(line1, line2)`` of the fixed text ``key`` ("welcome", "outbox_full", ...)."""
    lines = _MESSAGES[_lang(lang)].get(key)
    if lines is None:
        raise DisplayError("message", "no message %r" % (key,))
    return lines


def encode_line(text, charset):
    """Encode display text: printable ASCII as is, other glyphs from the GB18030 table
    ("gb18030") or not at all ("ascii"); a glyph without a code raises ``glyph``."""
    if charset != "gb18030" and charset != "ascii":
        raise DisplayError("charset", "unknown display charset %r" % (charset,))
    out = bytearray()
    for c in text:
        o = ord(c)
        if 0x20 <= o < 0x7F:
            out.append(o)
            continue
        code = GB18030.get(c) if charset == "gb18030" else None
        if code is None:
            raise DisplayError("glyph", "no %s code for U+%04X" % (charset, o))
        out.append(code >> 8)
        out.append(code & 0xFF)
    return bytes(out)


def frame_cd5220(line1, line2, charset):
    """CD5220 bytes: ESC @ init, clear, ESC Q A line 1 CR, ESC Q B line 2 CR, each line
    space-padded to 20 columns."""
    out = bytearray(b"\x1b@\x0c")
    for cmd, line in ((b"\x1bQA", line1), (b"\x1bQB", line2)):
        data = encode_line(line, charset)
        if len(data) > COLS:
            raise DisplayError("width", "line of %d columns" % len(data))
        out.extend(cmd)
        out.extend(data)
        out.extend(b" " * (COLS - len(data)))
        out.extend(b"\r")
    return bytes(out)


def _show(draw, lang, charset):
    """Frame ``draw(lang)``; English (the plain-text fallback) when the charset is ASCII
    or a glyph has no code."""
    if _lang(lang) != "en" and charset != "ascii":
        try:
            line1, line2 = draw(lang)
            return frame_cd5220(line1, line2, charset)
        except DisplayError as exc:
            if exc.reason != "glyph":
                raise
    line1, line2 = draw("en")
    return frame_cd5220(line1, line2, charset)


def show(status, lang, charset, offline=False):
    """Display bytes for a loyalty status, falling back to English when needed."""
    return _show(lambda lg: render(status, lg, offline), lang, charset)


def show_message(key, lang, charset):
    """Display bytes for a fixed message, falling back to English when needed."""
    return _show(lambda lg: render_message(key, lg), lang, charset)


class StatusCache:
    """The last statuses by card token, shown marked offline when the server is unreachable.

    Bounded to ``size`` tokens; a put beyond that evicts the least recently put token
    (kept in an explicit list: MicroPython dicts are unordered).
    """

    def __init__(self, size=256):
        if size < 1:
            raise DisplayError("size", "cache size must be at least 1")
        self.size = size
        self._status = {}
        self._order = []

    def put(self, tok, status):
        """Remember ``status`` for ``tok`` as the newest entry."""
        if tok in self._status:
            self._order.remove(tok)
        self._status[tok] = status
        self._order.append(tok)
        if len(self._order) > self.size:
            del self._status[self._order.pop(0)]

    def get(self, tok):
        """The status last put for ``tok``, or None."""
        return self._status.get(tok)

    def __len__(self):
        return len(self._order)
