"""Cookie session affinity (ACK's `affinity: cookie`), with a value no client can forge.

The cookie names a replica by an HMAC-signed id, never by an address: a
forged, foreign (another service or gateway) or stale cookie simply fails to
verify or names a replica that is gone, and the gateway issues a fresh one.
Pure functions; the secret is the gateway's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from sdserve.spec import CookieAffinity

# 128 bits of HMAC-SHA256 are plenty against forgery and keep the cookie short.
MAC_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, service: str, replica_id: str) -> bytes:
    # The service is part of the message, so one service's cookie cannot steer another's.
    message = f"{service}\0{replica_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()[:MAC_BYTES]


def sign(replica_id: str, *, service: str, secret: bytes) -> str:
    """The cookie value for a replica: base64url(id) "." base64url(mac)."""
    return f"{_b64(replica_id.encode())}.{_b64(_mac(secret, service, replica_id))}"


def verify(value: str, *, service: str, secret: bytes) -> str | None:
    """The replica id a cookie value names, or None when it is not ours."""
    encoded_id, dot, encoded_mac = value.partition(".")
    if not dot:
        return None
    try:
        replica_id = _unb64(encoded_id).decode()
        mac = _unb64(encoded_mac)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not hmac.compare_digest(mac, _mac(secret, service, replica_id)):
        return None
    return replica_id


def set_cookie_header(value: str, affinity: CookieAffinity) -> str:
    """A Set-Cookie header value; Max-Age is the annotation's (the seed: 1800 s)."""
    return (
        f"{affinity.cookie_name}={value}; Max-Age={affinity.max_age}; Path=/; "
        "HttpOnly; SameSite=Lax"
    )
