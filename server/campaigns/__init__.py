"""Campaigns: coupons and vouchers, referral rewards, birthday and holiday gifts."""
