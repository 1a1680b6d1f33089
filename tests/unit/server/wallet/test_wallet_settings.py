"""Programme settings: app config over defaults, checked before use."""

import pytest

from server.wallet import WalletError, settings


def test_app_config_over_defaults(app):
    assert settings.get("WALLET_PIN_TRIES") == 5
    app.config["WALLET_OFFLINE_LIMITS"] = {"card": 1, "terminal": 2}
    assert settings.offline_limits() == {"card": 1, "terminal": 2}
    assert settings.offline_limits({"card": 0, "terminal": 0}) == {"card": 0, "terminal": 0}
    app.config["WALLET_BONUS_TIERS"] = '[{"min": 10, "bonus": 1}]'  # as a POSSYNC_ variable gives it
    assert settings.bonus_tiers() == [{"min": 10, "bonus": 1}]
    app.config["WALLET_PIN_TRIES"] = None
    assert settings.get("WALLET_PIN_TRIES") == 5
    app.config["WALLET_OFFLINE_LIMITS"] = "card=1"
    with pytest.raises(WalletError, match="WALLET_OFFLINE_LIMITS is not JSON"):
        settings.offline_limits()


def test_default_tiers_are_valid_and_sorted():
    tiers = settings.bonus_tiers()
    assert tiers == sorted(tiers, key=lambda t: t["min"]) and tiers[0] == {"min": 50000, "bonus": 5000}
    assert settings.bonus_tiers([]) == []


@pytest.mark.parametrize("tiers", [{"min": 1, "bonus": 1}, [{"min": 1.5, "bonus": 1}], [{"min": 1, "bonus": -1}],
                                   [{"min": 1, "bonus": 1, "cap": 3}], [{"min": True, "bonus": 1}]])
def test_bad_tiers_are_refused(tiers):
    with pytest.raises(WalletError, match="min"):
        settings.bonus_tiers(tiers)


@pytest.mark.parametrize("limits", [{"card": 1}, {"card": -1, "terminal": 1}, [1, 2], {"card": "1", "terminal": 1}])
def test_bad_limits_are_refused(limits):
    with pytest.raises(WalletError, match="WALLET_OFFLINE_LIMITS"):
        settings.offline_limits(limits)
