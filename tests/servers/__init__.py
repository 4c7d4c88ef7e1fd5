"""Real servers the tests talk to, started privately on loopback (no system service)."""
