"""The points one batch of records books, decided in memory from what apply_txs read up front.

A sale books its earn (``{dev}:{seq}:earn``), one bonus per campaign (``{dev}:{seq}:bonus:<id>``)
and, when it carries ``redeem`` points, the burn: under ``auth:{dev}:{auth}``, the key the online
authorisation booked it with (so nothing twice), else ``{dev}:{seq}:burn``; if that authorisation was
released meanwhile (no sale in time, server.loyalty.redeem), under ``auth:{dev}:{auth}:late``. It counts toward the
qualifying spend and raises the tier at once when a threshold is reached; the tier multiplier
is the one in force before the sale.

A refund or void takes back its share of what its sale earned (earn + bonuses, E): refunds
together take back floor(E x refunded / amount) at most E, a void all of E and gives the
sale's burn back (``unburn``). The share is kept per sale (SalePoints) so the total never
depends on arrival order: a reversal whose sale is not known yet takes back base-rate points
of its amount from the card's customer (``{dev}:{seq}:reverse``) and the sale, when it comes,
settles the difference (``{dev}:{seq}:settle``). Each sale row lists the reversals it counted,
so a record given again changes nothing; points of a merged customer go to the one it was
merged into.
"""

from datetime import datetime, timezone

from server.loyalty import programme
from server.loyalty.earn import base_points, expires_at, qualified, sale_points
from server.loyalty.models import new_customer_id
from server.loyalty.redeem import LATE


class Booking:
    """Entries, enrolments and sale rows of one batch; ``people`` carries each balance as it moves."""

    def __init__(self, prog, now, cards, rows, people, keys, merchants, released=frozenset()):
        self.prog, self.now, self.cards, self.rows, self.people = prog, now, cards, rows, people
        self.keys, self.merchants, self.released = keys, merchants, released
        self.entries, self.new_cards = [], []
        self._expiry = {}

    @staticmethod
    def keys_of(tx):
        """The ledger keys a record may book that could already be booked (duplicates, authorised burns)."""
        dev, seq = tx["dev"], tx["seq"]
        if tx["kind"] != "sale":
            return ["%s:%s:reverse" % (dev, seq)]
        return ["%s:%s:earn" % (dev, seq), _burn_key(tx), _burn_key(tx) + ":late"]

    def sale(self, tx):
        """Book a sale; ``(customer, points it earned, enrolled now)``."""
        dev, seq, tok = tx["dev"], tx["seq"], tx.get("tok")
        cust = self._resolve(self.cards.get(tok)) if tok else None
        new = False
        if cust is None and tok:
            cust, new = self._enrol(tx), True
        if cust is None:
            return None, 0, False
        row = self.rows.get((dev, tx["ref"]))
        earn_key = "%s:%s:earn" % (dev, seq)
        if (row is not None and row["seq"] == seq) or earn_key in self.keys:
            return cust, self.keys.get(earn_key, (cust, 0))[1], new
        when = sold_at(tx, self.now)
        earn, bonuses = sale_points(self.prog, tx, self.people[cust]["tier"], when, self.merchants.get(dev))
        expires = self._expires(when)
        earned = self._entry(cust, earn, tx["kind"], earn_key, tx, expires)
        for campaign, bonus in bonuses:
            earned += self._entry(cust, bonus, "bonus", "%s:%s:bonus:%s" % (dev, seq, campaign), tx, expires)
        pending = row if row is not None and row["seq"] is None else None
        self.rows[(dev, tx["ref"])] = new_row = {
            "id": row["id"] if row else None, "dev": dev, "ref": tx["ref"], "seq": seq, "customer": cust,
            "amount": tx["amount"], "earned": earned, "burned": self._burn(cust, tx), "refunded": 0,
            "voided": False, "reversed": 0, "unburned": False, "seqs": pending["seqs"] if pending else "",
            "dirty": True}
        if pending is not None:
            earned += self._settle(new_row, pending, tx)
        self._spend(cust, tx, 1)
        return cust, earned, new

    def reverse(self, tx):
        """Book a refund or void; ``(customer, points it took back (negative), False)``."""
        dev, seq, orig = tx["dev"], tx["seq"], tx.get("orig")
        key = "%s:%s:reverse" % (dev, seq)
        row = self.rows.get((dev, orig)) if orig is not None else None
        if key in self.keys or (row is not None and ",%s," % seq in row["seqs"] + ","):
            cust = self._resolve(self.keys[key][0]) if key in self.keys else self._resolve(row["customer"])
            return cust, self.keys.get(key, (cust, 0))[1], False
        if row is not None and row["seq"] is not None:
            cust = self._resolve(row["customer"])
            taken = self._take_back(row, tx)
            back = self._entry(cust, row["reversed"] - taken, tx["kind"], key, tx)
            row["reversed"] = taken
            back += self._unburn(row, tx)
        else:
            cust = self._resolve(tx.get("customer") or self.cards.get(tx.get("tok")))
            if row is None and orig is not None:
                row = self.rows[(dev, orig)] = {"id": None, "dev": dev, "ref": orig, "seq": None, "customer": None,
                                                "amount": 0, "earned": 0, "burned": 0, "refunded": 0,
                                                "voided": False, "reversed": 0, "unburned": False, "seqs": ""}
            if row is not None:
                cust = self._resolve(row["customer"]) or cust
                row["customer"] = cust
                self._take_back(row, tx)
            base = base_points(self.prog, tx["amount"], tx["cur"]) if cust else 0
            back = self._entry(cust, -base, tx["kind"], key, tx, note="sale not known yet: base rate")
            if row is not None:
                row["reversed"] += base
        if cust is not None:
            self._spend(cust, tx, -1)
        return cust, back, False

    def _take_back(self, row, tx):
        """Count a refund's amount or a void on its sale row; the points its reversals should now total."""
        if tx["kind"] == "void":
            row["voided"] = True
        else:
            row["refunded"] += tx["amount"]
        row["seqs"] += ",%s" % tx["seq"]
        row["dirty"] = True
        return _due(row)

    def _settle(self, row, pending, tx):
        """A sale meets reversals that came before it: book what they should have taken back."""
        row["refunded"], row["voided"] = pending["refunded"], pending["voided"]
        taken = _due(row)
        already = pending["reversed"]
        other = self._resolve(pending["customer"])
        prefix = "%s:%s:settle" % (row["dev"], row["seq"])
        if other is not None and other != row["customer"] and already:
            self._entry(other, already, "settle", prefix + ":back", tx, note="reversed from the sale's customer")
            already = 0
        back = self._entry(row["customer"], already - taken, "settle", prefix, tx)
        row["reversed"] = taken
        return back + self._unburn(row, tx)

    def _unburn(self, row, tx):
        """A voided sale gives back the points its redemption burned, once."""
        if not row["voided"] or not row["burned"] or row["unburned"]:
            return 0
        row["unburned"] = True
        return self._entry(self._resolve(row["customer"]), row["burned"], "unburn",
                           "%s:%s:unburn" % (tx["dev"], tx["seq"]), tx)

    def _burn(self, cust, tx):
        """Book the sale's redemption unless its authorisation did; the points burned."""
        redeem = tx.get("redeem")
        if not isinstance(redeem, int) or isinstance(redeem, bool) or redeem <= 0:
            return 0
        key = _burn_key(tx)
        note = "no authorisation on record" if tx.get("auth") else "redeemed without an authorisation id"
        if tx.get("auth") is not None and (tx["dev"], str(tx["auth"])) in self.released:
            key, note = key + ":late", LATE
        if key in self.keys:
            return -self.keys[key][1]
        return -self._entry(cust, -redeem, "burn", key, tx, note=note)

    def _spend(self, cust, tx, sign):
        """Count a record in the qualifying spend (programme currency only); raise the tier at once."""
        if tx["cur"] != self.prog["cur"]:
            return
        person = self.people[cust]
        person["qual"] += sign * tx["amount"]
        person["dqual"] += sign * tx["amount"]
        reached = qualified(self.prog, person["qual"])
        if self.prog["rank"][reached] > self.prog["rank"].get(person["tier"], 0):
            person["tier"], person["raised"] = reached, True

    def _expires(self, when):
        """expires_at of points earned at ``when``, once per year (fixed date) or per time (rolling)."""
        key = when.year if self.prog["expiry"][0] == "fixed" else when
        if key not in self._expiry:
            self._expiry[key] = expires_at(self.prog, when)
        return self._expiry[key]

    def _entry(self, cust, delta, reason, key, tx, expires=None, note=None):
        """Append one entry (none for 0 points or an event already booked); the points booked."""
        if delta == 0 or key in self.keys:
            return 0
        self.entries.append((cust, tx["dev"], tx["seq"], delta, reason, self.now, key, expires, note,
                             "ingest:%s" % tx["dev"]))
        self.keys[key] = (cust, delta)
        self.people[cust]["points"] += delta
        self.people[cust]["dpoints"] += delta
        return delta

    def _enrol(self, tx):
        cust = new_customer_id()
        self.cards[tx["tok"]] = cust
        self.people[cust] = {"id": cust, "points": 0, "tier": programme.BASIC, "qual": 0, "dpoints": 0, "dqual": 0,
                             "merged_into": None, "new": True}
        self.new_cards.append((tx["tok"], cust, tx.get("bin", ""), tx.get("last4", ""), self.now))
        return cust

    def _resolve(self, cust):
        """The customer that holds ``cust``'s points now (following merges)."""
        for _ in range(16):
            person = self.people.get(cust)
            if person is None or not person["merged_into"]:
                break
            cust = person["merged_into"]
        return cust


def _due(row):
    """What a sale's reversals take back in all: E for a void, else E x refunded / amount, rounded down."""
    if row["voided"]:
        return row["earned"]
    return row["earned"] * min(row["refunded"], row["amount"]) // row["amount"] if row["amount"] else 0


def _burn_key(tx):
    if tx.get("auth") is not None:
        return "auth:%s:%s" % (tx["dev"], tx["auth"])
    return "%s:%s:burn" % (tx["dev"], tx["seq"])


def sold_at(tx, now):
    """When the sale was made: its ``ts`` (unix seconds) if usable and not after ``now``, else ``now``."""
    ts = tx.get("ts")
    if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0:
        try:
            return min(datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None), now)
        except (OverflowError, OSError, ValueError):
            pass
    return now
