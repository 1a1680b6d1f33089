"""A private Mosquitto: a free loopback port, a password file and the DESIGN.md §2 ACL.

The benches and the tests (tests/realparts.py) both start their brokers with this.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

from server.fleet import devices

SERVER_USER = "server"


class BenchError(Exception):
    """A bench cannot run or finish; the message says what to do."""


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError("process exited with %s before listening on port %d" % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError("nothing listening on port %d after %.0f s" % (port, timeout))


def die_with_parent():
    """preexec_fn for a child process: Linux sends it SIGTERM if the bench dies (even kill -9)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def parent_gone(ppid):
    """True when the process that started this one is no longer its parent (it died)."""
    return os.getppid() != ppid


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """End a process we started, by its own pid: ``sig``, then SIGKILL."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


class Mosquitto:
    """A private Mosquitto 2.x in ``workdir``; ``add_users`` before or after ``start``."""

    ACL = (
        "user " + SERVER_USER + "\n"
        "topic readwrite pos/#\n"
        "topic read $share/#\n"
        "\n"
        "pattern write pos/%u/up/#\n"
        "pattern readwrite pos/%u/state\n"
        "pattern read pos/%u/down/#\n"
    )

    def __init__(self, workdir, server_password, persistence=True):
        if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
            raise BenchError("mosquitto is not installed (Debian: apt-get install mosquitto mosquitto-clients, "
                             "or run `make setup`)")
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.passwd = os.path.join(workdir, "passwd")
        self.proc = None
        self.users = {}
        self.server_user = SERVER_USER
        self.server_password = server_password
        open(self.passwd, "a").close()
        with open(os.path.join(workdir, "acl"), "w") as f:
            f.write(self.ACL)
        with open(os.path.join(workdir, "mosquitto.conf"), "w") as f:
            f.write(
                "user root\n"
                "per_listener_settings false\n"
                "allow_anonymous false\n"
                "listener %d 127.0.0.1\n"
                "password_file %s\n"
                "acl_file %s\n"
                "persistence %s\n"
                "persistence_location %s/\n"
                "autosave_interval 1\n"
                "max_queued_messages 100000\n"
                "max_inflight_messages 100\n"
                # Without it a small frame can wait for a delayed TCP ACK (Nagle): a swipe's
                # status took ~43 ms instead of ~2.5 ms on an idle loopback.
                "set_tcp_nodelay true\n"
                "log_dest file %s/mosquitto.log\n"
                "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
                % (self.port, self.passwd, os.path.join(workdir, "acl"), "true" if persistence else "false",
                   workdir, workdir)
            )
        self.add_users([(SERVER_USER, server_password)])

    def add_users(self, pairs):
        """Add ``[(name, password), ...]`` to the password file; a running broker reloads it."""
        self.users.update(pairs)
        devices.mosquitto_users(self.passwd, dict(pairs))
        self.reload()

    def add_user(self, name, password):
        self.add_users([(name, password)])

    def reload(self):
        """Make a running broker read its password file again."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)

    def start(self):
        """Start the broker and wait until it listens."""
        self.proc = subprocess.Popen(["mosquitto", "-c", os.path.join(self.dir, "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        wait_port(self.port, proc=self.proc)
        return self

    def stop(self):
        stop_process(self.proc)

    def kill(self):
        """kill -9 the broker (a crash, not a shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        with open(os.path.join(self.dir, "mosquitto.log"), errors="replace") as f:
            return f.read()
