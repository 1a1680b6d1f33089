"""Settings: JSON file, POSSYNC_* overrides, instance-folder defaults."""

import json
import os

import pytest

from server import config, create_app


def test_file_then_environment(tmp_path):
    path = tmp_path / "server.json"
    path.write_text(json.dumps({"MQTT_HOST": "broker", "MQTT_PORT": 1884, "MQTT_SHARED": True}))
    env = {"POSSYNC_MQTT_PORT": "8883", "POSSYNC_MQTT_SHARED": "false", "POSSYNC_INGEST_BATCH_WINDOW_S": "0.01", "OTHER": "x"}
    assert config.load(str(path), env) == {"MQTT_HOST": "broker", "MQTT_PORT": 8883, "MQTT_SHARED": False,
                                           "INGEST_BATCH_WINDOW_S": 0.01}


@pytest.mark.parametrize("text, message", [
    ("[1]", "must hold a JSON object"), ("{", "is not JSON"), ('{"MQTT_HOTS": 1}', "unknown setting"),
])
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "server.json"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=message):
        config.load(str(path), {})


def test_bad_environment_values():
    with pytest.raises(config.ConfigError, match="POSSYNC_MQTT_PORT must be a number"):
        config.load(None, {"POSSYNC_MQTT_PORT": "high"})
    with pytest.raises(config.ConfigError, match="true or false"):
        config.load(None, {"POSSYNC_MQTT_SHARED": "maybe"})


def test_paths_default_to_the_instance_folder(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
    assert app.config["DATABASE_URL"] == "sqlite:///" + str(tmp_path / "inst" / "possync.db")
    assert app.config["SECRET_KEY_FILE"] == str(tmp_path / "inst" / "master.key")
    assert os.path.exists(tmp_path / "inst" / "possync.db")
