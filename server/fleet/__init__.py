"""Fleet: terminals (devices), their keys and liveness, and the fleet page."""
