"""Add and list merchants, and say which merchant a terminal sells for."""

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peewee import IntegrityError

from server.db import db
from server.fleet.devices import FleetError
from server.fleet.models import Device, Merchant
from server.licences import vocab

_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}\Z")


def add_merchant(code, name, province, tz="Asia/Shanghai"):
    """Create merchant ``code`` registered in ``province`` (full name, short name or GB/T 2260 code)."""
    if not _CODE_RE.match(code or ""):
        raise FleetError("merchant code %r: use 1-32 characters A-Z a-z 0-9 - _" % (code,))
    if not (name or "").strip():
        raise FleetError("merchant %s: give its name with --name" % code)
    full = vocab.province(province)
    if full is None:
        raise FleetError("merchant %s: province %r is unknown (use a name such as 浙江省 or 浙江, or a "
                         "GB/T 2260 code such as 33)" % (code, province))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise FleetError("merchant %s: time zone %r is unknown (use an IANA name such as Asia/Shanghai)" % (code, tz))
    try:
        with db.atomic():
            return Merchant.create(code=code, name=name.strip(), province=full, tz=tz)
    except IntegrityError:
        raise FleetError("merchant %s already exists (see `possync-server merchant list`)" % code)


def list_merchants():
    """Every merchant by code."""
    return list(Merchant.select().order_by(Merchant.code))


def set_merchant(dev, code):
    """Make terminal ``dev`` sell for merchant ``code``; its later sales are judged in that province."""
    if Merchant.get_or_none(Merchant.code == code) is None:
        raise FleetError("no merchant %s (add it first: possync-server merchant add %s --name NAME --province P)"
                         % (code, code))
    if Device.update(merchant=code).where(Device.id == dev).execute() != 1:
        raise FleetError("no device %s (see `possync-server device list`)" % dev)
