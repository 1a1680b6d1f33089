"""Scheduled jobs (points expiry, tier reviews, stale approvals, birthday gifts, reminders, notifications)
and their runs."""


class JobError(Exception):
    """A job cannot be run or listed; the message says what was wrong and what to do next."""
