"""Enrol, list and revoke terminals; write their agent config; register them with Mosquitto."""

import os
import secrets
import subprocess

from peewee import IntegrityError

from protocol import agentconfig, topics
from protocol.errors import ProtocolError
from server import keys
from server.db import db, utcnow
from server.fleet.models import Device


class FleetError(Exception):
    """A fleet operation that cannot be done; the message says why and what to do."""


def add_device(dev, master):
    """Register terminal ``dev`` with a new 32-byte HMAC key; return ``(device, key, mqtt_password)``.

    The key is stored sealed under ``master``; key and password are returned once
    and kept nowhere else in clear.
    """
    try:
        topics.check_dev(dev)
    except ProtocolError as exc:
        raise FleetError("%s: %r (use 1-32 characters A-Z a-z 0-9 - _)" % (exc.detail, dev))
    key = secrets.token_bytes(32)
    password = secrets.token_urlsafe(24)
    try:
        with db.atomic():
            device = Device.create(id=dev, key_enc=keys.seal(master, dev, key))
    except IntegrityError:
        raise FleetError("device %s already exists (device ids are never reused: pick another id)" % dev)
    return device, key, password


def forget_device(dev):
    """Delete a device added moments ago whose enrolment could not be finished (nothing refers to it yet)."""
    Device.delete().where(Device.id == dev).execute()


def list_devices():
    """Every device, oldest first."""
    return list(Device.select().order_by(Device.created_at, Device.id))


def revoke_device(dev):
    """Mark ``dev`` revoked: its frames are refused from now on. Returns the device."""
    with db.atomic():
        device = Device.get_or_none(Device.id == dev)
        if device is None:
            raise FleetError("no device %s (see `possync-server device list`)" % dev)
        if device.revoked_at is None:
            device.revoked_at = utcnow()
            device.save(only=[Device.revoked_at])
    return device


def agent_config(dev, key, token_key, password, mqtt_host, mqtt_port, tls_ca=None):
    """The agent's config file (protocol.agentconfig) as a dict."""
    return agentconfig.build(dev, key, token_key, password, mqtt_host, mqtt_port, tls_ca)


def write_secret_file(path, text):
    """Write ``text`` to ``path`` readable by its owner only (0600), replacing it atomically."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def mosquitto_users(passwd_file, users):
    """Set MQTT users in a Mosquitto password file: ``{name: password}``, None deletes ``name``.

    Passwords are hashed by ``mosquitto_passwd -U`` in a 0600 scratch file, never passed
    on a command line (where ``ps`` would show them); other users' lines are kept.
    A running Mosquitto reads the file again on SIGHUP; sending it is the caller's job.
    """
    lines, mode = [], None
    if os.path.exists(passwd_file):
        mode = os.stat(passwd_file).st_mode & 0o777  # Mosquitto may read it as another user
        with open(passwd_file) as f:
            lines = f.readlines()
    present = {line.split(":", 1)[0] for line in lines}
    missing = [name for name, pw in users.items() if pw is None and name not in present]
    if missing:
        raise FleetError("no MQTT user %s in %s (nothing to delete)" % (", ".join(missing), passwd_file))
    kept = [line for line in lines if line.split(":", 1)[0] not in users]
    added = {name: pw for name, pw in users.items() if pw is not None}
    if added:
        scratch = passwd_file + ".%d.new" % os.getpid()
        write_secret_file(scratch, "".join("%s:%s\n" % kv for kv in added.items()))
        try:
            run = subprocess.run(["mosquitto_passwd", "-U", scratch], capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            os.remove(scratch)
            raise FleetError("mosquitto_passwd not found (install the package mosquitto)")
        with open(scratch) as f:
            kept += f.readlines()
        os.remove(scratch)
        if run.returncode != 0:
            raise FleetError("mosquitto_passwd failed for %s: %s" % (passwd_file, (run.stderr or run.stdout).strip()[:200]))
    write_secret_file(passwd_file, "".join(kept))
    if mode is not None:
        os.chmod(passwd_file, mode)
