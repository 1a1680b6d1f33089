"""Low-balance reminders: one per account each time its balance falls below its threshold after a top-up.

The queue key names the account and its newest top-up, so the job may run as often as it likes:
an account is reminded again only after it was topped up and fell below the threshold once more.
"""

from peewee import chunked, fn

from server.notify import queue, setting
from server.wallet import service
from server.wallet.models import WalletEntry

CHUNK = 200


def low_balance(now=None, progress=None):
    """Queue a reminder for every active account below its threshold not reminded since its last top-up;
    counts of ``low`` accounts and ``queued`` reminders."""
    accounts = [a for a in service.low_balance() if a["low_balance"] > 0]
    channel = setting("NOTIFY_CHANNEL")
    queued = 0
    if progress:
        progress(0, len(accounts))
    for done, part in enumerate(chunked(accounts, CHUNK)):
        last = dict(WalletEntry.select(WalletEntry.account, fn.MAX(WalletEntry.id)).where(
            WalletEntry.account.in_([a["id"] for a in part]) & (WalletEntry.kind == "topup"))
            .group_by(WalletEntry.account).tuples())
        for a in part:
            key = "low_balance:%s:%d" % (a["id"], last.get(a["id"]) or 0)
            queued += queue.enqueue(a["customer"], channel, "low_balance",
                                    {"account": a["id"], "balance": a["balance"], "cur": a["cur"]}, key, now)
        if progress:
            progress(min(len(accounts), (done + 1) * CHUNK), len(accounts))
    return {"low": len(accounts), "queued": queued}
