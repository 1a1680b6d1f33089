"""Money as text: integer minor units shown with the currency's decimals (ISO 4217 exponents).

Shared by the terminal's display and anything on the server that shows amounts, so both
agree on how many decimals a currency has.
"""

# Currencies whose minor unit is not 1/100; every other code has 2 decimals.
EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}
DEFAULT_EXPONENT = 2


def exponent(cur):
    """Digits after the decimal point of currency ``cur``."""
    return EXPONENTS.get(cur, DEFAULT_EXPONENT)


def text(amount, cur):
    """``amount`` minor units of ``cur`` as text, e.g. 123450 CNY -> "1234.50", -5 CNY -> "-0.05"."""
    exp = exponent(cur)
    sign = "-" if amount < 0 else ""
    whole = abs(amount) // 10 ** exp
    if not exp:
        return sign + str(whole)
    frac = str(abs(amount) % 10 ** exp)
    return sign + str(whole) + "." + "0" * (exp - len(frac)) + frac
