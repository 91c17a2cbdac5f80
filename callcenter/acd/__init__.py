"""Automatic call distribution: agent states, routing strategies and the dispatcher.

Everything here is pure (no I/O, no clock of its own): the simulator drives it in virtual time
and the server drives it from PBX events, so both run the same decisions.
"""
