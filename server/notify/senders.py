"""The senders: ``log`` (customer id and template only), ``webhook`` (POST JSON to an SMS/WeChat gateway), ``smtp``.

Each is ``send(message, address, text)`` and raises SendError with a message for people and
``permanent`` True when trying again cannot help. Error texts never carry the address.
"""

import json
import logging
import re
import smtplib
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid

from server.notify import NotifyError, flag, number, setting

log = logging.getLogger("possync.notify")
NAMES = ("log", "webhook", "smtp")
# The vault field each channel sends to; a channel not listed cannot be notified.
ADDRESS = {"sms": "phone", "wechat": "phone", "email": "email"}
SUBJECTS = {"low_balance": "Your stored-value balance is low", "birthday": "Happy birthday"}
_EMAIL = re.compile("[^@\\s<>]+@[^@\\s<>]+")
_DIGITS = re.compile("\\+?[0-9][0-9 -]{5,}[0-9]")


class SendError(Exception):
    """A message could not be sent; ``permanent``: retrying cannot help (refused recipient, bad request)."""

    def __init__(self, message, permanent=False):
        super().__init__(message)
        self.permanent = permanent


def name_for(channel):
    """The sender of ``channel`` per NOTIFY_SENDER; NotifyError for an unknown one."""
    chosen = setting("NOTIFY_SENDER")
    if isinstance(chosen, dict):
        chosen = chosen.get(channel, "log")
    if chosen not in NAMES:
        raise NotifyError("NOTIFY_SENDER for %s is %r: use log, webhook or smtp (or a JSON object per channel)"
                          % (channel, chosen))
    return chosen


def send(name, message, address, text):
    """Send ``message`` (dict: key, customer, channel, template, params) with sender ``name``."""
    {"log": _log, "webhook": _webhook, "smtp": _smtp}[name](message, address, text)


def scrub(text, address):
    """``text`` without ``address`` nor anything shaped like an email or phone number."""
    if address:
        text = text.replace(address, "[address]")
    return _DIGITS.sub("[number]", _EMAIL.sub("[address]", text))


def _log(message, address, text):
    log.info("notify %s: %s to customer %s over %s", message["key"], message["template"], message["customer"],
             message["channel"])


def _webhook(message, address, text):
    url = setting("NOTIFY_WEBHOOK_URL")
    if not url:
        raise SendError("NOTIFY_WEBHOOK_URL is not set: give the gateway's URL, or use another NOTIFY_SENDER")
    body = json.dumps({"key": message["key"], "channel": message["channel"], "to": address,
                       "template": message["template"], "params": message["params"], "text": text},
                      ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Idempotency-Key": message["key"]}
    token = setting("NOTIFY_WEBHOOK_TOKEN")
    if token:
        headers["Authorization"] = "Bearer " + token
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=number("NOTIFY_TIMEOUT_S", 1)) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
        raise SendError("webhook answered HTTP %d %s" % (exc.code, scrub(str(exc.reason), address)), permanent)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        # Only host and port: a gateway URL may carry a token in its path or query.
        raise SendError("webhook at %s unreachable: %s" % (urllib.parse.urlsplit(url).hostname or "?",
                                                           scrub(str(reason), address)))


def _smtp(message, address, text):
    host, sender = setting("SMTP_HOST"), setting("SMTP_FROM")
    if not host or not sender:
        raise SendError("SMTP_HOST and SMTP_FROM must be set to send email")
    mail = EmailMessage()
    mail["From"], mail["To"] = sender, address
    mail["Subject"] = SUBJECTS.get(message["template"], "A message from your store")
    # One Message-ID per queue key: a resend after a crash is recognisable as the same message.
    mail["Message-ID"] = make_msgid(idstring=message["key"].replace(":", "."), domain="possync")
    mail.set_content(text)
    try:
        with smtplib.SMTP(host, number("SMTP_PORT", 1), timeout=number("NOTIFY_TIMEOUT_S", 1)) as smtp:
            if flag("SMTP_STARTTLS"):
                smtp.starttls()
            if setting("SMTP_USER"):
                smtp.login(setting("SMTP_USER"), setting("SMTP_PASSWORD") or "")
            smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        code, said = next(iter(exc.recipients.values()), (0, b""))
        raise SendError("SMTP server refused the recipient: %d %s" % (code, _said(said, address)), permanent=True)
    except smtplib.SMTPResponseException as exc:
        raise SendError("SMTP server answered %d %s" % (exc.smtp_code, _said(exc.smtp_error, address)),
                        permanent=500 <= exc.smtp_code < 600 and not isinstance(exc, smtplib.SMTPAuthenticationError))
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError("SMTP server %s unreachable: %s" % (host, scrub(str(exc), address)))


def _said(said, address):
    if isinstance(said, bytes):
        said = said.decode("utf-8", "replace")
    return scrub(said, address)
