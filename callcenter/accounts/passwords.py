"""Password hashing with scrypt (memory-hard, in the standard library: nothing to install).

A stored hash is self-describing, ``scrypt$N$r$p$salt$hash`` (base64 without padding), so the
cost can be raised later without breaking old accounts: :func:`needs_rehash` says when a
login should store a fresh hash. Comparison is constant-time. :func:`verify_dummy` spends the
same work when the user does not exist, so timing does not reveal which names are accounts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1
"""scrypt cost: 16 MiB of memory and ~50 ms per hash (OWASP's minimum for scrypt)."""
SALT_BYTES, KEY_BYTES = 16, 32
MIN_LENGTH, MAX_LENGTH = 8, 256
"""Password length bounds: short ones are guessable; very long ones only cost CPU."""


class WeakPassword(ValueError):
    """The password is refused before it is hashed (too short, too long)."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES,
                          maxmem=256 * 1024 * 1024)


def hash_password(password: str) -> str:
    """A fresh salted hash of ``password`` (after :func:`check_strength`)."""
    check_strength(password)
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored``; a malformed hash matches nothing."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt" or len(password) > MAX_LENGTH:
            return False
        derived = _derive(password, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(derived, _unb64(key))


_DUMMY = f"scrypt${N}${R}${P}${_b64(b'0' * SALT_BYTES)}${_b64(b'0' * KEY_BYTES)}"


def verify_dummy(password: str) -> None:
    """Spend a verification's time for a user that does not exist (always fails)."""
    verify_password(_DUMMY, password)


def needs_rehash(stored: str) -> bool:
    return not stored.startswith(f"scrypt${N}${R}${P}$")
