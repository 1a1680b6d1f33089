"""possync sync server: Flask app factory, peewee models, MQTT ingest."""
