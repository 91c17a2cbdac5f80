"""The small core every other part depends on: a clock, the PBX port (its requests, outcomes,
errors, status and the read view of calls) — and :mod:`callcenter.events`.

Pure cores (:mod:`callcenter.acd`, :mod:`callcenter.dialer`, later the IVR steps and the
complaint workflow) import only from here, never from :mod:`callcenter.sim` or an adapter
(:mod:`callcenter.cti`, :mod:`callcenter.web`, :mod:`crm_bridge`); the simulator and the AMI
adapter implement these interfaces. ``tests/unit/test_import_direction.py`` keeps it so.
"""
