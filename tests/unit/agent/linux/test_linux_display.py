"""agent/linux/display.py: the exact CD5220 bytes arrive on a pseudo-terminal."""

import pytest

from agent.linux.display import SerialDisplay
from agent_testkit import Pty

STATUS = {"for": "seq", "id": 4, "cust": "C1", "pts": 1520, "earned": 25, "tier": "silver"}


@pytest.fixture
def pty():
    p = Pty()
    yield p
    p.close()


def test_status_in_gb18030(pty):
    d = SerialDisplay(pty.path, 9600, "zh-CN", "gb18030")
    d.status(STATUS)
    got = pty.read_until(b"\r", timeout=5)
    got += pty.read_quiet()
    line1 = "积分:1520".encode("gb18030")
    line2 = "本次+25  银卡".encode("gb18030")
    assert got == (b"\x1b@\x0c\x1bQA" + line1 + b" " * (20 - len(line1)) + b"\r"
                   + b"\x1bQB" + line2 + b" " * (20 - len(line2)) + b"\r")
    d.close()


def test_offline_status_message_and_text_in_english(pty):
    d = SerialDisplay(pty.path, 9600, "en", "ascii")
    d.status(STATUS, offline=True)
    d.message("outbox_full")
    d.text("...")
    got = pty.read_until(b"\x1bQA...", timeout=5) + pty.read_quiet()
    assert b"\x1bQA*Points:        1520\r\x1bQBOFFLINE, cached     \r" in got
    assert b"\x1bQASTORE FULL-CALL IT  \r" in got
    assert got.endswith(b"\x1bQA..." + b" " * 17 + b"\r\x1bQB" + b" " * 20 + b"\r")
    d.close()


def test_write_errors_are_logged_not_raised(pty, caplog):
    d = SerialDisplay(pty.path, 9600, "en", "ascii")
    d.port.close()
    d.text("x")  # must not raise into the sale path
    assert "display: cannot write" in caplog.text
