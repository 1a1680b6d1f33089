"""The vault store: round trips, audited access, binding of sealed fields, and no plaintext in the files."""

import os

import pytest

from server.db import utcnow
from server.vault import store
from server.vault.crypto import VaultError
from server.vault.db import vault_db
from server.vault.models import VaultField

CONSENT = {"sms": {"granted": True, "at": "2025-06-01T10:00:00Z", "source": "pos"}}
PERSON = {"name": "张伟", "phone": "+8613800138000", "email": "zhang.wei@example.cn", "birthday": "1988-08-08",
          "address": "上海市浦东新区世纪大道 100 号 12 楼", "gender": "male", "age_band": "35-44",
          "income_band": "20k-30k", "region": "华东", "preferences": {"brands": ["李宁"], "size": 42},
          "consent": CONSENT, "note.1": "屏幕保修至 2026-01"}


def test_round_trip_of_every_field(vault, cid):
    store.put(cid(1), PERSON, "web:alice", "member sign-up")
    assert store.get(cid(1), actor="web:alice", purpose="check sign-up") == PERSON
    wanted = {k: PERSON[k] for k in ("phone", "email")}
    assert store.get(cid(1), ["phone", "email"], "web:alice", "send receipt") == wanted
    assert store.get(cid(1), (f for f in ["phone", "email"]), "web:alice", "send receipt") == wanted
    assert store.fields_of(cid(1)) == sorted(PERSON)
    assert store.get(cid(2), actor="web:alice", purpose="look up") == {}


def test_put_updates_and_none_deletes(vault, cid):
    store.put(cid(1), {"name": "王芳", "phone": "13900139000"}, "cli:root", "sign-up")
    store.put(cid(1), {"name": "王芳芳", "phone": None}, "cli:root", "customer asked")
    assert store.get(cid(1), actor="cli:root", purpose="check") == {"name": "王芳芳"}
    assert VaultField.select().count() == 1


def test_a_bad_value_writes_nothing(vault, cid):
    with pytest.raises(VaultError, match="vault field email must look like"):
        store.put(cid(1), {"name": "赵六", "email": "not-an-email"}, "cli:root", "sign-up")
    assert store.fields_of(cid(1)) == [] and store.audit() == []


def test_every_read_write_and_erase_is_audited(vault, cid):
    before = utcnow()
    store.put(cid(1), {"name": "李娜", "phone": "13700137000", "email": None}, "web:alice", "sign-up at till 3")
    store.get(cid(1), ["phone"], actor="web:bob", purpose="call-back on complaint 12")
    store.get(cid(1), actor="job:birthday", purpose="birthday gift", action="export")
    assert store.erase(cid(1), "cli:root", "customer asked to be forgotten") == 2
    rows = store.audit(cid(1))
    assert [(r["action"], r["actor"], r["customer"], r["fields"], r["purpose"]) for r in rows] == [
        ("erase", "cli:root", cid(1), ["name", "phone"], "customer asked to be forgotten"),
        ("export", "job:birthday", cid(1), ["name", "phone"], "birthday gift"),
        ("read", "web:bob", cid(1), ["phone"], "call-back on complaint 12"),
        ("write", "web:alice", cid(1), ["email", "name", "phone"], "sign-up at till 3"),
    ]
    assert all(before <= r["at"] <= utcnow() for r in rows)
    assert len(store.audit(limit=2)) == 2 and store.audit(cid(2)) == []


def test_audit_rows_hold_no_values(vault, cid):
    store.put(cid(1), PERSON, "web:alice", "sign-up")
    store.get(cid(1), actor="web:alice", purpose="check")
    text = repr(store.audit())
    assert not [v for v in PERSON.values() if isinstance(v, str) and v in text]


@pytest.mark.parametrize("call", [
    lambda c: store.put(c, {"name": "x"}, "", "why"),
    lambda c: store.put(c, {"name": "x"}, "cli:root", " "),
    lambda c: store.get(c),
    lambda c: store.get(c, actor="cli:root"),
    lambda c: store.get(c, purpose="why"),
    lambda c: store.erase(c, None, "why"),
    lambda c: store.erase(c, "cli:root", "x" * 201),
])
def test_actor_and_purpose_are_required(vault, cid, call):
    store.put(cid(1), {"name": "张三"}, "cli:root", "sign-up")
    with pytest.raises(VaultError, match="say who acts|say why"):
        call(cid(1))
    assert store.fields_of(cid(1)) == ["name"] and len(store.audit()) == 1


@pytest.mark.parametrize("customer", ["13800138000", "a@b.example", "c" + "A" * 16, "C" + "A" * 15, "C" + "1" * 16,
                                      7])
def test_only_neutral_customer_ids_are_taken(vault, customer):
    with pytest.raises(VaultError, match="neutral id, C \\+ 16 base32 characters") as err:
        store.put(customer, {"name": "张三"}, "cli:root", "sign-up")
    assert str(customer) not in str(err.value)


def test_bad_requests_say_what_to_give(vault, cid):
    with pytest.raises(VaultError, match="non-empty \\{field: value\\} dict"):
        store.put(cid(1), {}, "cli:root", "why")
    with pytest.raises(VaultError, match="unknown vault field 'nickname'"):
        store.put(cid(1), {"nickname": "小张"}, "cli:root", "why")
    with pytest.raises(VaultError, match="fields must be a list of field names"):
        store.get(cid(1), "name", "cli:root", "why")
    with pytest.raises(VaultError, match="unknown vault field 'nickname'"):
        store.get(cid(1), ["nickname"], "cli:root", "why")
    with pytest.raises(VaultError, match="action must be read or export"):
        store.get(cid(1), None, "cli:root", "why", action="write")
    with pytest.raises(VaultError, match="unknown vault field"):
        store.customers_with("nickname")


def test_customers_with_and_fields_of_open_nothing_and_audit_nothing(vault, cid):
    store.put(cid(2), {"phone": "13800138000"}, "cli:root", "sign-up")
    store.put(cid(1), {"phone": "13900139000", "name": "周七"}, "cli:root", "sign-up")
    store.put(cid(3), {"name": "吴八"}, "cli:root", "sign-up")
    assert store.customers_with("phone") == [cid(1), cid(2)]
    assert store.customers_with("email") == []
    assert store.fields_of(cid(1)) == ["name", "phone"]
    assert len(store.audit()) == 3


@pytest.mark.parametrize("move", ["customer", "field"])
def test_a_value_copied_to_another_customer_or_field_refuses_to_open(vault, cid, move):
    store.put(cid(1), {"phone": "13800138000"}, "cli:root", "sign-up")
    store.put(cid(2), {"phone": "13900139000", "email": "x@y.example"}, "cli:root", "sign-up")
    blob = VaultField.get(customer=cid(1), field="phone").blob
    if move == "customer":
        VaultField.update(blob=blob).where(
            (VaultField.customer == cid(2)) & (VaultField.field == "phone")).execute()
        wanted = ["phone"]
    else:
        VaultField.update(field="email").where(
            (VaultField.customer == cid(1)) & (VaultField.field == "phone")).execute()
        wanted = None
    target = cid(2) if move == "customer" else cid(1)
    with pytest.raises(VaultError, match="belongs to another customer or field"):
        store.get(target, wanted, "cli:root", "check")
    assert [r["action"] for r in store.audit(target)] == ["write"]  # a failed read returned nothing


def test_erase_leaves_other_customers_alone(vault, cid):
    store.put(cid(1), {"name": "张三", "phone": "13800138000"}, "cli:root", "sign-up")
    store.put(cid(2), {"name": "李四"}, "cli:root", "sign-up")
    assert store.erase(cid(1), "cli:root", "right to erasure") == 2
    assert store.erase(cid(1), "cli:root", "asked again") == 0
    assert store.get(cid(1), actor="cli:root", purpose="check") == {}
    assert store.get(cid(2), actor="cli:root", purpose="check") == {"name": "李四"}


def test_erase_refuses_inside_a_vault_transaction(vault, cid):
    store.put(cid(1), {"name": "张三"}, "cli:root", "sign-up")
    with vault_db.atomic():
        with pytest.raises(VaultError, match="outside a vault transaction"):
            store.erase(cid(1), "cli:root", "erase")
    assert store.fields_of(cid(1)) == ["name"]


def files_of(path):
    """Raw bytes of vault.db and its -wal / -shm files, those that exist."""
    out = {}
    for suffix in ("", "-wal", "-shm"):
        name = str(path) + suffix
        if os.path.exists(name):
            with open(name, "rb") as f:
                out[suffix or "db"] = f.read()
    return out


def found(files, needles):
    return sorted({(where, needle) for where, data in files.items() for needle in needles if needle in data})


PEOPLE = {
    1: {"name": "欧阳娜娜", "phone": "+8613812345678", "email": "ouyang.nana@example.cn",
        "address": "广东省深圳市南山区科技园南区 8 栋 1203 室", "note.1": "VIP 客户, 偏好周末送货" * 20},
    2: {"name": "司马光明", "phone": "13987654321", "email": "sima.gm@example.com",
        "address": "北京市海淀区中关村大街 27 号"},
    3: {"name": "诸葛亮", "phone": "+8618600001111", "email": "zhuge@example.org",
        "address": "四川省成都市武侯祠大街 231 号"},
}


def plaintexts():
    needles = set()
    for person in PEOPLE.values():
        for field, value in person.items():
            needles.add(value.encode("utf-8"))
        needles.add(person["name"].encode("gb18030"))
    return needles


def test_vault_files_hold_no_plaintext_and_erase_leaves_no_ciphertext(vault, cid):
    """THE must-show test: scan the raw bytes of every vault file for the personal data put in."""
    blobs = {n: [] for n in PEOPLE}
    for n, person in PEOPLE.items():
        store.put(cid(n), person, "web:alice", "sign-up")
        blobs[n] += [bytes(r.blob) for r in VaultField.select().where(VaultField.customer == cid(n))]
    store.put(cid(1), {"phone": "+8613800000001"}, "web:alice", "new number")  # the old phone blob stays in blobs[1]
    blobs[1] += [bytes(VaultField.get(customer=cid(1), field="phone").blob)]
    needles = plaintexts() | {b"+8613800000001"}

    files = files_of(vault.path)
    assert files.get("-wal"), "the test must see the write-ahead log with the fresh pages"
    assert found(files, needles) == []
    assert found(files, blobs[2]), "the scan must find ciphertext where it is"

    vault_db.close()
    files = files_of(vault.path)
    assert found(files, needles) == []

    assert store.erase(cid(1), "cli:root", "right to erasure") == 5
    vault_db.close()
    files = files_of(vault.path)
    assert found(files, blobs[1]) == [] and found(files, needles) == []
    assert {needle for _, needle in found(files, blobs[2] + blobs[3])} == set(blobs[2] + blobs[3])
    assert store.get(cid(2), actor="cli:root", purpose="check") == PEOPLE[2]


def test_erase_empties_the_wal_while_the_database_stays_open(vault, cid):
    for n, person in PEOPLE.items():
        store.put(cid(n), person, "web:alice", "sign-up")
    blobs = [bytes(r.blob) for r in VaultField.select().where(VaultField.customer == cid(3))]
    store.erase(cid(3), "cli:root", "right to erasure")
    files = files_of(vault.path)
    assert files.get("-wal", b"") == b""
    assert found(files, blobs) == []


def test_nothing_written_in_clear_when_a_field_is_deleted_by_put(vault, cid):
    store.put(cid(1), {"address": "江苏省南京市玄武区 9 号"}, "web:alice", "sign-up")
    blob = bytes(VaultField.get(customer=cid(1)).blob)
    store.put(cid(1), {"address": None}, "web:alice", "moved away")
    store.erase(cid(2), "cli:root", "checkpoint")  # any erase truncates the WAL
    assert found(files_of(vault.path), [blob, "江苏省南京市".encode()]) == []
