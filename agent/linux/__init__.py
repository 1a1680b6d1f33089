"""CPython adapters of the agent: serial ports, paho-mqtt, POS socket, CLI."""
