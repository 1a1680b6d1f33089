"""Card reader sources: a serial magstripe reader (pyserial) and a keyboard-wedge TTY/stdin.

Both hand the raw bytes of one swipe to the runner, which gives them to
protocol.track.parse_swipe; nothing here keeps, logs or writes the bytes.
"""

import os
import termios

import serial

GAP_MS = 80  # a pause this long ends a swipe
MAX_SWIPE = 512


class Assembler:
    """Cuts a byte stream into swipes: at CR/LF after a track 2, or after an inter-char gap.

    A CR/LF after a track 1 alone waits for the gap, since many readers send track 2 on
    the next line.
    """

    def __init__(self, gap_ms=GAP_MS):
        self.gap_ms = gap_ms
        self.buf = bytearray()
        self.last_ms = 0

    def feed(self, data, now_ms):
        """Add bytes read at ``now_ms``; return the list of complete swipes."""
        out = []
        if self.buf and now_ms - self.last_ms >= self.gap_ms:
            out.append(self._take())
        self.last_ms = now_ms
        for b in data:
            if b in (10, 13):
                if _has_track2(self.buf):
                    out.append(self._take())
                elif self.buf:
                    self.buf.append(13)
                continue
            self.buf.append(b)
            if len(self.buf) > MAX_SWIPE:  # noise on the line: let the parser reject it
                out.append(self._take())
        return out

    def poll(self, now_ms):
        """Return the buffered swipe if the gap has passed since the last byte, else None."""
        if self.buf and now_ms - self.last_ms >= self.gap_ms:
            return self._take()
        return None

    def pending_ms(self, now_ms):
        """How long until ``poll`` may return a swipe, or None when nothing is buffered."""
        if not self.buf:
            return None
        return max(0, self.gap_ms - (now_ms - self.last_ms))

    def _take(self):
        raw = bytes(self.buf).rstrip(b"\r")
        for i in range(len(self.buf)):  # do not leave card bytes lying in the buffer
            self.buf[i] = 0
        self.buf = bytearray()
        return raw


def _has_track2(buf):
    """A track 2 start sentinel: ';' followed by a digit (a track 1 LRC may be a lone ';')."""
    i = buf.find(b";")
    while 0 <= i < len(buf) - 1:
        if 48 <= buf[i + 1] <= 57:
            return True
        i = buf.find(b";", i + 1)
    return False


class SerialReader:
    """A magstripe reader on a serial port, read without blocking from the main loop."""

    def __init__(self, port, baud=9600, gap_ms=GAP_MS):
        self.port = serial.Serial(port, baud, timeout=0)
        self.asm = Assembler(gap_ms)

    def fileno(self):
        return self.port.fileno()

    def read(self, now_ms):
        """Read what is waiting; return complete swipes."""
        return self.asm.feed(self.port.read(4096), now_ms)

    def close(self):
        self.port.close()


class TtyReader:
    """A keyboard-wedge reader typing into a TTY or stdin (fd 0 by default); echo is turned off."""

    def __init__(self, fd=0, gap_ms=GAP_MS):
        self.fd = fd
        self.asm = Assembler(gap_ms)
        self._saved = None
        if os.isatty(fd):  # never echo a card number onto a screen
            self._saved = termios.tcgetattr(fd)
            attrs = termios.tcgetattr(fd)
            attrs[3] &= ~(termios.ECHO | termios.ICANON)
            attrs[6][termios.VMIN] = 0
            attrs[6][termios.VTIME] = 0
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        os.set_blocking(fd, False)
        self.eof = False

    def fileno(self):
        return self.fd

    def read(self, now_ms):
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return []
        if not data:
            self.eof = True
        return self.asm.feed(data, now_ms)

    def close(self):
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSANOW, self._saved)
            self._saved = None
