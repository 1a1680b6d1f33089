"""The customer display on a serial port: writes the CD5220 bytes agent.core.display builds."""

import logging

import serial

from agent.core import display

log = logging.getLogger("possync.agent")


class SerialDisplay:
    """A 2x20 CD5220 line display; a write error is logged, never raised into the sale path."""

    def __init__(self, port, baud=9600, lang="zh-CN", charset="gb18030"):
        self.port = serial.Serial(port, baud, timeout=0, write_timeout=1)
        self.lang = lang
        self.charset = charset

    def status(self, status, offline=False):
        """Show a loyalty status (marked as cached when ``offline``)."""
        self._write(display.show(status, self.lang, self.charset, offline))

    def authr(self, answer):
        """Show the server's answer to a stored-value spend or a redemption."""
        self._write(display.show_authr(answer, self.lang, self.charset))

    def message(self, key):
        """Show a fixed message: "welcome", "outbox_full", "card_error", ..."""
        self._write(display.show_message(key, self.lang, self.charset))

    def text(self, line1, line2=""):
        """Show two ASCII lines as they are (e.g. "..." while a lookup runs)."""
        self._write(display.frame_cd5220(line1, line2, self.charset))

    def _write(self, data):
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            log.warning("display: cannot write to %s (%s)", self.port.port, exc)

    def close(self):
        self.port.close()
