"""PIN blocks of online stored-value authorisations: the PIN sealed under the device key.

Block = PIN length (1 byte) + the PIN's ASCII digits + 0xFF fill, 16 bytes, XORed with the
first 16 bytes of HMAC-SHA256(key, "possync-pin\\0" + dev + "\\0" + aid + "\\0" + nonce)
(aid in decimal, nonce as its 16 hex characters). The nonce makes every pad unique, the
frame MAC protects the block's integrity; the prefix keeps these HMAC inputs apart from
frame MACs (which start with "pos/"). No error ever holds a PIN or a pad.
"""

import binascii

from protocol import mac
from protocol.errors import ProtocolError

BLOCK = 16
MIN_PIN = 4
MAX_PIN = 12
_DIGITS = "0123456789"
_HEX = "0123456789abcdef"


def _only(s, alphabet):
    for c in s:
        if c not in alphabet:
            return False
    return True


def _pad(key, dev, aid, nonce):
    if type(dev) is not str or not dev:
        raise ProtocolError("bad_pin_block", "dev must be the device id")
    if type(aid) is not int or not 0 <= aid < 1 << 53:
        raise ProtocolError("bad_pin_block", "aid must be an integer >= 0")
    if type(nonce) is not str or len(nonce) != 16 or not _only(nonce, _HEX):
        raise ProtocolError("bad_pin_block", "nonce must be 16 lowercase hex digits")
    msg = b"possync-pin\x00" + dev.encode() + b"\x00" + str(aid).encode() + b"\x00" + nonce.encode()
    return mac.hmac_sha256(key, msg)[:BLOCK]


def _xor(a, b):
    return bytes([a[i] ^ b[i] for i in range(BLOCK)])


def seal_pin(key, dev, aid, nonce, pin):
    """The PIN block of ``pin`` (4-12 digits) for authorisation ``aid`` of ``dev``: 32 lowercase hex."""
    if type(pin) is not str or not MIN_PIN <= len(pin) <= MAX_PIN or not _only(pin, _DIGITS):
        raise ProtocolError("bad_pin", "a PIN must be %d-%d digits" % (MIN_PIN, MAX_PIN))
    plain = bytes([len(pin)]) + pin.encode() + b"\xff" * (BLOCK - 1 - len(pin))
    return binascii.hexlify(_xor(plain, _pad(key, dev, aid, nonce))).decode()


def open_pin(key, dev, aid, nonce, hexblock):
    """The PIN digits sealed in ``hexblock``; ProtocolError("bad_pin_block") if it does not open."""
    if type(hexblock) is not str or len(hexblock) != 2 * BLOCK or not _only(hexblock, _HEX):
        raise ProtocolError("bad_pin_block", "a PIN block must be %d lowercase hex digits" % (2 * BLOCK))
    plain = _xor(binascii.unhexlify(hexblock), _pad(key, dev, aid, nonce))
    n = plain[0]
    ok = MIN_PIN <= n <= MAX_PIN
    if ok:
        for i in range(1, BLOCK):
            c = plain[i]
            if (i <= n and not 0x30 <= c <= 0x39) or (i > n and c != 0xFF):
                ok = False
    if not ok:
        raise ProtocolError("bad_pin_block", "the PIN block does not open under this device key, aid and nonce")
    return plain[1:1 + n].decode()
