"""Outbound dialing: pacing methods (pure) and the dialer loop (sans-I/O, driven by the
simulator in virtual time or by the server over the PBX in real time)."""
