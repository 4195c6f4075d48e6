"""Local stand-ins for outside systems, on loopback only: the GitHub sandbox the demo runs
(when no GitHub is configured) and the test suite drives. Never started otherwise."""
