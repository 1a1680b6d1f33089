"""Campaigns: coupons and vouchers, referral rewards, birthday and holiday gifts."""


class CampaignError(Exception):
    """A campaign action that cannot be done; the message says what was wrong and what to do next."""
