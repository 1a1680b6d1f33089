"""Customer display bytes: the lines agent.core.layout lays out, framed for a CD5220 VFD in
GB18030 or ASCII, and the cached statuses shown when the server is unreachable.

zh-CN falls back to English when the charset is ASCII or a glyph cannot be shown.
"""

from agent.core import layout
from agent.core import texts as T
from agent.core.layout import COLS, DisplayError, check_lang


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
        code = T.GB18030.get(c) if charset == "gb18030" else None
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
    if check_lang(lang) != "en" and charset != "ascii":
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
    return _show(lambda lg: layout.render(status, lg, offline), lang, charset)


def show_authr(authr, lang, charset):
    """Display bytes for an authorisation answer, falling back to English when needed."""
    return _show(lambda lg: layout.render_authr(authr, lg), lang, charset)


def show_message(key, lang, charset):
    """Display bytes for a fixed message, falling back to English when needed."""
    return _show(lambda lg: layout.render_message(key, lg), lang, charset)


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
