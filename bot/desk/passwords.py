"""Agents' passwords: scrypt hashes as ``DESK_AGENTS`` holds them (``scrypt:N:r:p:salt:hash``).

hashlib.scrypt (OpenSSL's) rather than a new dependency: a memory-hard
function in the standard library, with its parameters stored in the hash so
they can be raised later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# 2**14 x 8 x 128 bytes = 16 MiB a hash, about 50 ms on this project's machines.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MEMORY = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """``scrypt:N:r:p:salt:hash``, what ``DESK_AGENTS`` holds."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MEMORY
    )
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}:{_b64(salt)}:{_b64(digest)}"


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (compared in constant time)."""
    try:
        _, n, r, p, salt, expected = stored.split(":")
        digest = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MEMORY,
        )
        return hmac.compare_digest(digest, _unb64(expected))
    except ValueError:
        return False
