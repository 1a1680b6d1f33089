"""The jobs the scheduler knows: name, how often it is due (minutes), what it does, and the call that runs it.

Each call takes ``(now, progress)`` and returns a flat dict of counts (ints), kept with its run.
Imports are inside the calls: a job's room is loaded only when it runs.
"""

import calendar
from collections import namedtuple

from server.jobs import JobError

Job = namedtuple("Job", "name every help run")


def _expiry(now, progress):
    from server.loyalty import jobs

    return jobs.expire(now, progress)


def _tiers(now, progress):
    from server.loyalty import jobs

    out = jobs.review_tiers(now, progress)
    return {"reviewed": out["reviewed"], "changed": sum(out["moves"].values())}


def _stale(now, progress):
    from server.loyalty.redeem import release_stale
    from server.wallet import settings, stale

    wallet = stale.release(now, progress=progress)
    points = release_stale(settings.grace_minutes(), now)
    return {"wallet": wallet["released"], "points": points["released"], "points_back": points["points"]}


def _birthday(now, progress):
    from server.jobs import birthday

    return birthday.run(now, progress)


def _reminders(now, progress):
    from server.notify import reminders

    return reminders.low_balance(now, progress)


def _notify(now, progress):
    from server.notify import queue

    return queue.send_due(now, progress)


def _unix(now):
    """Unix seconds of the naive-UTC ``now`` the scheduler passes."""
    return calendar.timegm(now.utctimetuple())


def _scan_workers():
    """The TAGS_SCAN_WORKERS setting: None (the recompute's choice) or a count of 1 or more; JobError otherwise."""
    from flask import current_app, has_app_context

    value = current_app.config.get("TAGS_SCAN_WORKERS") if has_app_context() else None
    if value is None or value == "":
        return None
    if str(value).isdigit() and int(value) >= 1:
        return int(value)
    raise JobError("TAGS_SCAN_WORKERS must be a count of processes, 1 or more (unset: one per core), not %r"
                   % (value,))


def _refit(now, progress):
    from server.tags import refit

    fitted = refit.refit(_unix(now))
    return {kind: int(model is not None) for kind, (model, error, seconds) in fitted.items()}


def _tags(now, progress):
    from server.tags import recompute

    resume = recompute.status()["unfinished"] is not None  # a run a killed process left: finish it first
    out = recompute.run(progress=progress, resume=resume, now=None if resume else _unix(now),
                        workers=_scan_workers())
    return {"customers": out["customers"], "events": out["events"], "replayed": out["replayed"],
            "resumed": int(resume)}


JOBS = (
    Job("expiry", 1440, "book the expiry of lapsed points", _expiry),
    Job("tiers", 1440, "review the tiers whose review date has come", _tiers),
    Job("stale", 15, "release online approvals whose record never came (WALLET_AUTH_GRACE_MIN)", _stale),
    Job("birthday", 1440, "give birthday gifts (BIRTHDAY_GIFT; birthdays from the vault)", _birthday),
    Job("reminders", 1440, "queue low-balance reminders (WALLET_LOW_BALANCE per account)", _reminders),
    Job("notify", 5, "send the queued notifications that are due (NOTIFY_SENDER; consent checked at send)", _notify),
    Job("refit", 10080, "refit the BG/NBD and Gamma-Gamma models (a failed fit keeps the last good one)", _refit),
    Job("tags", 1440, "recompute every customer's tags (finishes a run a killed process left first)", _tags),
)
