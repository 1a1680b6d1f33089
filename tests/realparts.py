"""Real parts for the tests: a private Mosquitto, ports, process control. Fixtures live in conftest.py."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_USER = "server"
SERVER_PASSWORD = "server-test-password"


def free_port():
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listening on port %d after %.0fs" % (port, timeout))


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """End a process we started, by its own pid; escalate to SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


class Mosquitto:
    """A private Mosquitto 2.x on a free loopback port with a password file and the DESIGN.md §2 ACL."""

    ACL = (
        "user " + SERVER_USER + "\n"
        "topic readwrite pos/#\n"
        "topic read $share/#\n"
        "\n"
        "pattern write pos/%u/up/#\n"
        "pattern readwrite pos/%u/state\n"
        "pattern read pos/%u/down/#\n"
    )

    def __init__(self, workdir, persistence=True):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.passwd = os.path.join(workdir, "passwd")
        self.users = {}
        self.proc = None
        open(self.passwd, "w").close()
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
                "log_dest file %s/mosquitto.log\n"
                "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
                % (self.port, self.passwd, os.path.join(workdir, "acl"),
                   "true" if persistence else "false", workdir, workdir)
            )
        self.server_user = SERVER_USER
        self.server_password = SERVER_PASSWORD
        self.add_user(SERVER_USER, SERVER_PASSWORD)

    def add_user(self, name, password):
        """Add or replace a broker user; a running broker reloads its password file."""
        subprocess.run(["mosquitto_passwd", "-b", self.passwd, name, password], check=True)
        self.users[name] = password
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)

    def start(self):
        """Start (or restart) the broker on the same port and state."""
        self.proc = subprocess.Popen(["mosquitto", "-c", os.path.join(self.dir, "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        return self

    def kill(self):
        """kill -9 the broker (a crash, not a shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)

    def log(self):
        with open(os.path.join(self.dir, "mosquitto.log"), errors="replace") as f:
            return f.read()

