"""Real local servers for the notify tests: an HTTP gateway and a small SMTP server, each in a thread."""

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Gateway(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.got.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        code = server.codes.pop(0) if server.codes else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Enough SMTP for smtplib: HELO/EHLO, MAIL, RCPT (refused with 550 naming the address if asked), DATA, QUIT."""

    def handle(self):
        server, data = self.server, None
        self.wfile.write(b"220 test ESMTP\r\n")
        for line in self.rfile:
            text = line.decode("utf-8").rstrip("\r\n")
            if data is not None:
                if text == ".":
                    server.mails.append("\n".join(data))
                    data = None
                    self.wfile.write(b"250 2.0.0 queued\r\n")
                else:
                    data.append(text)
                continue
            verb = text[:4].upper()
            if verb == "RCPT" and server.refuse:
                self.wfile.write(("550 5.1.1 %s: recipient unknown\r\n" % text[8:]).encode("utf-8"))
            elif verb == "DATA":
                data = []
                self.wfile.write(b"354 go on\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True


def gateway():
    """A running HTTP gateway: ``.url``, ``.got`` (requests seen), ``.codes`` (statuses to answer first)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    server.got, server.codes = [], []
    server.url = "http://127.0.0.1:%d/send" % server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def smtp_server():
    """A running SMTP server: ``.port``, ``.mails`` (message texts received), ``.refuse`` (refuse recipients)."""
    server = _SmtpServer(("127.0.0.1", 0), _Smtp)
    server.mails, server.refuse = [], False
    server.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
