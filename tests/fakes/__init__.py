"""Real in-process stand-ins for outside services (HTTP servers on 127.0.0.1)."""
