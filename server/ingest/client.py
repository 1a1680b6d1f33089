"""The ingest's paho client: a persistent session that PUBACKs only when told to."""

import socket

import paho.mqtt.client as mqtt


def make_client(config, on_connect, on_disconnect, on_message):
    """A paho 2.x client for the server settings ``config``, not yet connected.

    ``clean_session=False`` under a stable client id keeps the subscription and every
    un-PUBACKed frame at the broker while ingest is down; ``manual_ack=True`` leaves
    the PUBACK to the worker, after its commit. Each ingest process needs its own
    MQTT_CLIENT_ID (the default is per host).
    """
    client_id = config.get("MQTT_CLIENT_ID") or "possync-ingest-" + socket.gethostname()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, manual_ack=True)
    if config.get("MQTT_USERNAME"):
        client.username_pw_set(config["MQTT_USERNAME"], config.get("MQTT_PASSWORD") or None)
    if config.get("MQTT_TLS_CA"):
        client.tls_set(ca_certs=config["MQTT_TLS_CA"])
    # 0 = no in-flight limit for our acks and statuses: paho then never queues them, and
    # skips the scan of every outgoing message it otherwise makes on each PUBACK.
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 30)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    return client
