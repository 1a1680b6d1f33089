"""PINs: slow salted hash, lockout, and no PIN in the database file, the WAL or the logs."""

import glob
import logging
from datetime import datetime, timedelta

import pytest

from server.wallet import WalletError, auth, pin, service
from server.wallet.models import WalletAccount, WalletEvent

T0 = datetime(2025, 6, 1, 2, 0)
# Digits 0, 1, 8 and 9 never occur in base32 text, so no hash or id can contain these PINs by chance.
PIN, WRONG, NEW = "908172", "190819", "8091"


def tok(n):
    return "%064x" % (n * 7919 + 1)


def test_hash_is_salted_scrypt_and_self_describing():
    one, two = pin.hash_pin(PIN), pin.hash_pin(PIN)
    assert one != two and one.startswith("scrypt$16384$8$1$")
    assert pin.matches(PIN, one) and pin.matches(PIN, two)
    assert not pin.matches(WRONG, one) and not pin.matches("90817", one) and not pin.matches(None, one)


@pytest.mark.parametrize("bad", ["123", "1234567", "12a4", " 1234", "١٢٣٤", 1234, None])
def test_only_4_to_6_ascii_digits(bad):
    with pytest.raises(WalletError) as exc:
        pin.hash_pin(bad)
    assert "4 to 6 digits" in str(exc.value)


def test_set_change_reset_and_lockout(app):
    account = service.open_account(tok(1), actor="test", now=T0)["id"]
    pin.set_pin(account, PIN, "cli:test", now=T0)
    with pytest.raises(WalletError, match="already has a PIN"):
        pin.set_pin(account, NEW, "cli:test")
    for n in range(4):
        with pytest.raises(WalletError, match="old PIN .* is wrong"):
            pin.change_pin(account, WRONG, NEW, "web:alice", now=T0)
    with pytest.raises(WalletError, match="locked after too many wrong PINs"):
        pin.change_pin(account, WRONG, NEW, "web:alice", now=T0)
    with pytest.raises(WalletError, match="locked"):  # even the right PIN, while locked
        pin.change_pin(account, PIN, NEW, "web:alice", now=T0 + timedelta(minutes=10))
    pin.change_pin(account, PIN, NEW, "web:alice", now=T0 + timedelta(minutes=31))
    row = WalletAccount.get_by_id(account)
    assert pin.matches(NEW, row.pin_hash) and row.pin_fails == 0
    assert [e.action for e in WalletEvent.select().where(WalletEvent.account == account).order_by(WalletEvent.id)] \
        == ["open", "pin_set", "lock", "pin_change"]
    pin.reset_pin(account, "cli:admin", PIN)
    assert pin.matches(PIN, WalletAccount.get_by_id(account).pin_hash)


def test_lock_settings_come_from_the_app(app):
    app.config.update(WALLET_PIN_TRIES=2, WALLET_PIN_LOCK_MIN=5)
    service.open_account(tok(1), pin=PIN, actor="test", now=T0)
    codes = [auth.authorise("T1", i, tok(1), 1, "CNY", WRONG, now=T0)["code"] for i in range(2)]
    assert codes == ["BAD_PIN", "LOCKED"]
    assert WalletAccount.get().locked_until == T0 + timedelta(minutes=5)


def test_pins_never_reach_the_database_file_or_the_logs(app, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # peewee logs every statement with its parameters at DEBUG
    account = service.open_account(tok(1), pin=PIN, actor="test", now=T0)["id"]
    service.topup(account, 5000, "k1", now=T0)
    for i in range(6):
        auth.authorise("T1", i, tok(1), 100, "CNY", WRONG, now=T0)
    auth.authorise("T1", 9, tok(1), 100, "CNY", PIN, now=T0 + timedelta(hours=1))
    with pytest.raises(WalletError) as exc:
        pin.change_pin(account, WRONG, NEW, "web:alice", now=T0 + timedelta(hours=1))
    pin.change_pin(account, PIN, NEW, "web:alice", now=T0 + timedelta(hours=1))
    with pytest.raises(WalletError) as bad:
        pin.set_pin(service.open_account(tok(2), actor="test")["id"], "90817x", "cli:test")
    files = glob.glob(str(tmp_path / "possync.db*"))
    assert len(files) >= 2  # the database and its WAL
    blob = b"".join(open(f, "rb").read() for f in files)
    assert b"scrypt$" in blob  # the hashes are there ...
    for secret in (PIN, WRONG, NEW, "90817x"):  # ... the PINs are not, nor in any log line or message
        assert secret.encode() not in blob
        assert secret not in caplog.text
        assert secret not in str(exc.value) and secret not in str(bad.value)
    assert "SELECT" in caplog.text  # the statements were logged, with their parameters
