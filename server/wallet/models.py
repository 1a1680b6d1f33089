"""Models of this room (none yet)."""

MODELS = []
