"""Fixtures for the compliance tests: merchants, terminals and stored verdicts written directly."""

from datetime import datetime

import pytest

from server.fleet.merchants import add_merchant, set_merchant
from server.fleet.models import Device, Merchant
from server.licences import registry
from server.licences.models import SaleVerdict


@pytest.fixture
def shop(app):
    """shop(code, *devs, tz=...) adds a merchant (None: no merchant) and its terminals."""
    def shop(code, *devs, tz="Asia/Shanghai"):
        if code is not None:
            Merchant.create(code=code, name="Shop " + code, province="广东省", tz=tz)
        for dev in devs:
            Device.create(id=dev, key_enc=b"sealed", merchant=code)
    return shop


@pytest.fixture
def judged(app):
    """judged(dev, seq, verdict, sold_at, merchant=..., inst=..., ...) stores one SaleVerdict.

    ``sold_at`` is "YYYY-MM-DD HH:MM" UTC; the merchant defaults to the device's current one.
    """
    def judged(dev, seq, verdict, sold_at, reason=None, **fields):
        if "merchant" not in fields:
            fields["merchant"] = Device.get_by_id(dev).merchant_id
        fields.setdefault("inst", "48991310")
        return SaleVerdict.create(dev=dev, seq=seq, verdict=verdict, reason=reason or "%s at seq %d" % (verdict, seq),
                                  sold_at=datetime.strptime(sold_at, "%Y-%m-%d %H:%M"), **fields)
    return judged


@pytest.fixture
def gd_shop(app, add):
    """Terminal T1 (really enrolled) sells for merchant GD1 in 广东; the SAMPLE registry is version 1."""
    add("T1")
    add_merchant("GD1", "广州店", "广东")
    set_merchant("T1", "GD1")
    registry.import_file(registry.SAMPLE)
