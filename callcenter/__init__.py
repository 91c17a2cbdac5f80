"""Call-center server that runs beside an Asterisk PBX.

The package is organised one folder per domain (``cti``, later ``acd``, ``dialer``,
``ivr``, ``sim``) with a single composition root in :mod:`callcenter.app`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("callcenter")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
