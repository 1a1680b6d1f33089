"""The POS JSON-lines API on 127.0.0.1: one JSON object per line each way (spine contract).

Runs inside the runner's selector loop (no threads): requests go to ``handle(req, client) -> reply``,
and ``push(event)`` sends an asynchronous line to every connected client. A handler that must
wait (for the server's approval) returns None and later calls ``answer(client, reply)``; until
then that client's next requests wait, so replies always come in request order.
"""

import json
import logging
import selectors
import socket

log = logging.getLogger("possync.agent")

MAX_LINE = 16 * 1024
MAX_OUT = 1024 * 1024  # a client that reads nothing is dropped beyond this


def read_reply(lines):
    """The next reply from the agent on a POS connection's line reader, skipping pushed events."""
    while True:
        line = lines.readline()
        if not line:
            raise OSError("the agent closed the POS connection")
        reply = json.loads(line)
        if "event" not in reply:
            return reply


def error(code, message):
    """A reply for a request that was not carried out."""
    return {"ok": False, "error": code, "message": message}


class _Client:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.outbuf = b""
        self.waiting = False  # a request of this client awaits its deferred answer


class PosServer:
    """Listens on ``host:port`` (port 0 picks a free one, see ``.port``)."""

    def __init__(self, host, port, handle, sel):
        self.handle = handle
        self.sel = sel
        self.clients = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        sel.register(self.sock, selectors.EVENT_READ, self._accept)

    def _accept(self, sock, mask):
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.clients[conn] = _Client(conn)
        self.sel.register(conn, selectors.EVENT_READ, self._event)

    def _event(self, conn, mask):
        c = self.clients.get(conn)
        if c is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(c)
        if mask & selectors.EVENT_READ and conn in self.clients:
            try:
                data = conn.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._drop(c)
                return
            c.inbuf += data
            if c.waiting and len(c.inbuf) > MAX_OUT:
                log.warning("pos: dropping a client that floods requests while one awaits its answer")
                self._drop(c)
                return
            self._serve(c)

    def _serve(self, c):
        """Answer the complete request lines buffered for ``c`` until one must wait."""
        while c.sock in self.clients and not c.waiting:
            line, nl, rest = c.inbuf.partition(b"\n")
            if not nl:
                if len(c.inbuf) > MAX_LINE:
                    self._send(c, error("malformed", "request line longer than %d bytes" % MAX_LINE))
                    self._drop(c)
                break
            c.inbuf = rest
            if line.strip():
                reply = self._reply(line, c)
                if reply is None:
                    c.waiting = True
                else:
                    self._send(c, reply)

    def _reply(self, line, c):
        try:
            req = json.loads(line)
        except ValueError:
            return error("malformed", "each request must be one JSON object on one line")
        if type(req) is not dict:
            return error("malformed", "each request must be one JSON object on one line")
        return self.handle(req, c)

    def answer(self, c, reply):
        """Send the deferred ``reply`` to client ``c`` (if still connected), then serve its next requests."""
        if c.sock not in self.clients:
            return
        c.waiting = False
        self._send(c, reply)
        self._serve(c)

    def connected(self, c):
        """True while client ``c`` is connected."""
        return c.sock in self.clients

    def push(self, event):
        """Send ``event`` (a dict) to every connected POS client."""
        for c in list(self.clients.values()):
            self._send(c, event)

    def _send(self, c, obj):
        if c.sock not in self.clients:
            return
        c.outbuf += json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        if len(c.outbuf) > MAX_OUT:
            log.warning("pos: dropping a client that does not read its replies")
            self._drop(c)
            return
        self._flush(c)

    def _flush(self, c):
        try:
            n = c.sock.send(c.outbuf)
            c.outbuf = c.outbuf[n:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(c)
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.outbuf else 0)
        self.sel.modify(c.sock, want, self._event)

    def _drop(self, c):
        if self.clients.pop(c.sock, None) is not None:
            self.sel.unregister(c.sock)
            c.sock.close()

    def close(self):
        for c in list(self.clients.values()):
            self._drop(c)
        self.sel.unregister(self.sock)
        self.sock.close()
