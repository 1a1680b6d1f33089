"""Wire format shared by the terminal agent and the sync server (MicroPython-safe)."""
