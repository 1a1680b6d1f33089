"""agent/linux/reader.py: the assembler, and real bytes through pseudo-terminals."""

import os
import termios
import time

import pytest

from agent.core import display as core_display
from agent.linux import config
from agent.linux.display import SerialDisplay
from agent.linux.reader import Assembler, SerialReader, TtyReader
from agent.linux.runner import Runner
from agent.linux.simulate import card_pool, luhn_complete, track_bytes
from agent_testkit import TOKEN_KEY_HEX, Pty, RunnerThread, make_config, wait_for
from realparts import free_port
from protocol import mac, track

T1 = b"%B6222020000000001^SIM/CARD^2912101000?"
T2 = b";6222020000000001=2912101000?"


@pytest.fixture
def pty():
    p = Pty()
    yield p
    p.close()


def test_track2_line_ends_at_cr():
    a = Assembler(gap_ms=100)
    assert a.feed(T2[:10], 0) == []
    assert a.feed(T2[10:] + b"\r", 5) == [T2]
    assert a.poll(1000) is None


def test_track1_line_waits_for_track2_on_the_next_line():
    a = Assembler(gap_ms=100)
    assert a.feed(T1 + b"\r", 0) == []
    assert a.feed(T2 + b"\r\n", 20) == [T1 + b"\r" + T2]
    assert a.poll(1000) is None


def test_gap_ends_a_swipe_without_terminator():
    a = Assembler(gap_ms=100)
    assert a.feed(T1, 0) == []
    assert a.pending_ms(40) == 60
    assert a.poll(99) is None
    assert a.poll(100) == T1
    assert a.pending_ms(200) is None
    # Bytes after a gap start a new swipe.
    a.feed(T1, 300)
    assert a.feed(b";1", 500) == [T1]


def test_track1_lrc_semicolon_is_not_taken_for_a_track2():
    a = Assembler(gap_ms=100)
    assert a.feed(T1 + b";\r", 0) == []


def test_serial_reader_reads_real_bytes_from_a_pty(pty):
    r = SerialReader(pty.path, 9600, gap_ms=50)
    try:
        pan, name, exp = card_pool(1, 3)[0]
        raw = track_bytes(pan, name, exp)
        pty.write(raw + b"\r")
        got = []
        wait_for(lambda: got.extend(r.read(int(time.monotonic() * 1000))) or got, what="a swipe")
        assert got == [raw]
        card = track.parse_swipe(got[0], bytes.fromhex(TOKEN_KEY_HEX), 2501)
        assert card["tok"] == mac.hexmac(bytes.fromhex(TOKEN_KEY_HEX), pan.encode()).decode()
    finally:
        r.close()


def test_tty_reader_turns_echo_off_and_restores_it(pty):
    before = termios.tcgetattr(pty.slave)
    termios.tcsetattr(pty.slave, termios.TCSANOW, before[:3] + [before[3] | termios.ECHO] + before[4:])
    r = TtyReader(pty.slave, gap_ms=50)
    assert not termios.tcgetattr(pty.slave)[3] & termios.ECHO
    pty.write(T2 + b"\n")
    got = []
    wait_for(lambda: got.extend(r.read(0)) or got, what="a wedge swipe")
    assert got == [T2]
    r.close()
    assert termios.tcgetattr(pty.slave)[3] & termios.ECHO


def test_tty_reader_reports_end_of_input():
    rfd, wfd = os.pipe()
    r = TtyReader(rfd)
    os.close(wfd)
    assert r.read(0) == [] and r.eof
    os.close(rfd)


def test_swipe_in_on_one_pty_status_bytes_out_on_another(tmp_path):
    """Reader pty -> runner -> parser -> display pty, with no broker reachable."""
    reader_pty, display_pty = Pty(), Pty()
    _, raw = make_config(tmp_path, free_port(), reader={"port": reader_pty.path},
                         display={"port": display_pty.path, "lang": "zh-CN", "charset": "gb18030"})
    cfg = config.check(raw)
    rt = RunnerThread(Runner(cfg, SerialReader(reader_pty.path, gap_ms=50),
                             SerialDisplay(display_pty.path, 9600, "zh-CN", "gb18030")))
    try:
        display_pty.read_until(core_display.show_message("welcome", "zh-CN", "gb18030"))
        pan = luhn_complete("622202" + "123456789")
        reader_pty.write(track_bytes(pan, "A/B", "3001") + b"\r")
        display_pty.read_until(core_display.show_message("offline", "zh-CN", "gb18030"))
        assert rt.runner.stats["swipes"] == 1
        reader_pty.write(b";garbage?\r")  # a misread: the display asks for a new swipe
        display_pty.read_until(core_display.show_message("card_error", "zh-CN", "gb18030"))
        assert "网络离线".encode("gb18030") in core_display.show_message("offline", "zh-CN", "gb18030")
    finally:
        rt.stop()
        reader_pty.close()
        display_pty.close()
