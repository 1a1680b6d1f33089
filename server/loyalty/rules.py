"""Currency helpers: ISO 4217 minor-unit exponents and money as text (never floats)."""

# ISO 4217 minor-unit exponents that differ from the usual 2 (CNY, USD, EUR, ...).
EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}
DEFAULT_EXPONENT = 2


def exponent(cur):
    """Digits after the decimal point of currency ``cur`` (ISO 4217)."""
    return EXPONENTS.get(cur, DEFAULT_EXPONENT)


def money(amount, cur):
    """``amount`` minor units as text with the currency's decimals, e.g. 1250 CNY -> '12.50'."""
    exp = exponent(cur)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10 ** exp)
    return "%s%d.%0*d" % (sign, whole, exp, frac) if exp else "%s%d" % (sign, whole)
