"""ISO/IEC 7813 track 1 / track 2 parsing of a card swipe into a loyalty token (MicroPython-safe).

The PAN exists only inside parse_swipe: what leaves is its keyed hash, BIN, last 4, expiry,
service code and name. Error details say what and where, never PAN or track data.
"""

from protocol import mac
from protocol.errors import ProtocolError

MAX_INPUT = 256  # both tracks at full length are 119 characters plus CR/LF
# Per track: (lowest char, highest char, max record length, reason for a char outside them).
# The standard's record length counts SS, data, ES and LRC; the LRC is always on the
# stripe even when the reader does not print it, so it is always counted.
_TRACKS = {
    1: (0x20, 0x5F, 79, "garbage"),
    2: (0x30, 0x3F, 40, "non_numeric"),
}
# ISO/IEC 7813 service code digits: interchange, authorisation, allowed services.
_SVC = ("125679", "024", "01234567")


def _fail(reason, n, what):
    raise ProtocolError(reason, "track %d: %s" % (n, what))


def _digits(s):
    for c in s:
        if c < "0" or c > "9":
            return False
    return True


def _luhn_ok(pan):
    total = 0
    double = False
    for i in range(len(pan) - 1, -1, -1):
        d = ord(pan[i]) - 48
        if double:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        double = not double
    return total % 10 == 0


def _text(raw):
    """Return the swipe as a str without surrounding CR/LF; bytes map one char per byte."""
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > MAX_INPUT:
            raise ProtocolError("too_long", "swipe of %d bytes exceeds %d" % (len(raw), MAX_INPUT))
        raw = "".join([chr(b) for b in raw])
    elif not isinstance(raw, str):
        raise ProtocolError("garbage", "swipe must be bytes or str")
    if len(raw) > MAX_INPUT:
        raise ProtocolError("too_long", "swipe of %d characters exceeds %d" % (len(raw), MAX_INPUT))
    if not raw.strip():
        raise ProtocolError("empty", "no characters in the swipe")
    return raw.strip("\r\n")


def _segments(text):
    """Cut the swipe into [(track, "SS...ES", lrc char or None)]: track 1, then track 2."""
    out = []
    if text[0] == "%":
        end = text.find("?")
        if end < 0:
            _fail("bad_sentinel", 1, "no end sentinel")
        rest = text[end + 1:]
        lrc = None
        # ';' after track 1's end sentinel is its LRC unless a track 2 starts right there.
        if rest and rest[0] not in "\r\n" and (rest[0] != ";" or rest[1:2] in ("", ";", "\r", "\n")):
            lrc = rest[0]
            rest = rest[1:]
        out.append((1, text[:end + 1], lrc))
        rest = rest.lstrip("\r\n")  # some readers end each track with CR/LF
        if rest and rest[0] != ";":
            _fail("garbage", 1, "unexpected characters after the track")
        text = rest
    if text:
        if text[0] != ";":
            raise ProtocolError("garbage", "swipe does not start with a track start sentinel")
        end = text.find("?")
        if end < 0:
            _fail("bad_sentinel", 2, "no end sentinel")
        rest = text[end + 1:]
        if len(rest) > 1:
            _fail("garbage", 2, "unexpected characters after the track")
        out.append((2, text[:end + 1], rest or None))
    return out


def _check(n, seg, lrc):
    """Check length, character set, sentinels and LRC of one track; return its data."""
    low, high, limit, charset_reason = _TRACKS[n]
    if len(seg) + 1 > limit:
        _fail("too_long", n, "%d characters with sentinels and LRC, at most %d allowed" % (len(seg) + 1, limit))
    x = 0
    for i in range(len(seg)):
        c = ord(seg[i])
        if c < low or c > high:
            _fail(charset_reason, n, "character outside the track's character set at offset %d" % i)
        if 0 < i < len(seg) - 1 and seg[i] in "%;":
            _fail("bad_sentinel", n, "start sentinel inside the data at offset %d" % i)
        x ^= c - low
    if lrc is not None:
        got = ord(lrc)
        if got < low or got > high or got - low != x:
            _fail("bad_lrc", n, "LRC 0x%02x does not match computed 0x%02x" % (got, x + low))
    return seg[1:-1]


def _card(n, pan, tail):
    """Validate PAN, expiry and service code; return (pan, exp, svc)."""
    if not _digits(pan):
        _fail("non_numeric", n, "PAN has a non-digit character")
    if len(pan) > 19:
        _fail("too_long", n, "PAN has %d digits, at most 19 allowed" % len(pan))
    if len(pan) < 12:
        _fail("too_short", n, "PAN has %d digits, at least 12 needed" % len(pan))
    if not _luhn_ok(pan):
        _fail("bad_luhn", n, "PAN check digit is wrong")
    exp = tail[:4]
    if len(exp) < 4 or not _digits(exp):
        _fail("bad_expiry", n, "expiry is not 4 digits YYMM")
    if not 1 <= int(exp[2:]) <= 12:
        _fail("bad_expiry", n, "expiry month is not 01-12")
    svc = tail[4:7]
    if len(svc) < 3 or not _digits(svc):
        _fail("bad_service_code", n, "service code is not 3 digits")
    for i in range(3):
        if svc[i] not in _SVC[i]:
            _fail("bad_service_code", n, "service code digit %d has no ISO/IEC 7813 meaning" % (i + 1))
    return pan, exp, svc


def _track1(data):
    """B PAN ^ NAME ^ YYMM SVC discretionary -> (pan, exp, svc, name or None)."""
    if data[:1] != "B":
        _fail("garbage", 1, "format code is not 'B'")
    first = data.find("^")
    if first < 0:
        _fail("bad_separator", 1, "no field separator after the PAN")
    second = data.find("^", first + 1)
    if second < 0:
        _fail("bad_separator", 1, "no field separator after the name")
    pan, exp, svc = _card(1, data[1:first], data[second + 1:])
    name = data[first + 1:second].strip(" ")
    return pan, exp, svc, name or None


def _track2(data):
    """PAN = YYMM SVC discretionary -> (pan, exp, svc, None)."""
    sep = data.find("=")
    if sep < 0:
        _fail("bad_separator", 2, "no field separator '=' after the PAN")
    pan, exp, svc = _card(2, data[:sep], data[sep + 1:])
    return pan, exp, svc, None


def parse_swipe(raw, token_key, now_yymm):
    """Parse a reader's track 1 and/or track 2 output into the swipe dict sent upstream.

    ``raw`` is bytes or str, ``token_key`` bytes, ``now_yymm`` today as an int YYMM.
    Raises ProtocolError(reason, detail) on any bad input.
    """
    cards = {}
    for n, seg, lrc in _segments(_text(raw)):
        data = _check(n, seg, lrc)
        cards[n] = _track1(data) if n == 1 else _track2(data)
    track = 2 if 2 in cards else 1
    pan, exp, svc, name = cards[track]
    if 1 in cards:
        name = cards[1][3]
        if track == 2 and cards[1][0] != pan:
            raise ProtocolError("track_mismatch", "track 1 and track 2 carry different PANs")
        if track == 2 and cards[1][1] != exp:
            raise ProtocolError("track_mismatch", "track 1 and track 2 carry different expiry dates")
    if int(exp) < now_yymm:
        raise ProtocolError("expired", "card expiry month is before %04d" % now_yymm)
    return {
        "tok": mac.hexmac(token_key, pan.encode()).decode(),
        "bin": pan[:6],
        "last4": pan[-4:],
        "exp": exp,
        "svc": svc,
        "name": name,
        "track": track,
    }
