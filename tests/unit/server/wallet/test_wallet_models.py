"""Wallet tables: registered with the database, one account per card, one entry per event key."""

from datetime import datetime

import pytest
from peewee import IntegrityError

from server.db import db, models
from server.wallet import WalletError, service
from server.wallet.models import MODELS, WalletAccount, WalletEntry, find

T0 = datetime(2025, 6, 1)


def test_tables_are_created_with_the_others(app):
    assert set(MODELS) <= set(models())
    assert {m._meta.table_name for m in MODELS} <= set(db.get_tables())


def test_find_by_id_or_token_and_a_helpful_miss(app):
    account = service.open_account("ab" * 32, now=T0)["id"]
    assert find(account).id == find("ab" * 32).id == account
    with pytest.raises(WalletError) as exc:
        find("cd" * 32)
    assert "cdcdcdcd..." in str(exc.value) and "cd" * 32 not in str(exc.value)


def test_keys_and_tokens_are_unique_in_the_database(app):
    account = service.open_account("ab" * 32, now=T0)["id"]
    WalletEntry.create(account=account, delta=1, kind="adjust", key="k", at=T0, booked_at=T0)
    with pytest.raises(IntegrityError):
        with db.atomic():
            WalletEntry.create(account=account, delta=1, kind="adjust", key="k", at=T0, booked_at=T0)
    with pytest.raises(IntegrityError):
        with db.atomic():
            WalletAccount.create(id="W" + "A" * 16, tok="ab" * 32)
