"""The callback-URL policy and the webhook signature, shared by the api (checked at submit) and
the thumbnailer (checked again before every attempt, and signed)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

from core.errors import CallbackRefused

MAX_URL_LENGTH = 2048
# Cloud metadata services that are not caught by the link-local/private checks (AWS's IPv6 one).
_METADATA = (ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))


def check_callback_url(url: str, allowed_networks: tuple[str, ...] = ()) -> str:
    """Refuse URLs that are not http(s) or whose host resolves to loopback, private, link-local,
    metadata or otherwise special addresses, unless an allowed network contains the address.
    Return the checked address to connect to (so a second DNS answer cannot differ)."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"must be an http or https URL of at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CallbackRefused("has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("must be an http or https URL with a host")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise CallbackRefused(f"host {parts.hostname!r} does not resolve: {error}") from None
    networks = [ipaddress.ip_network(network, strict=False) for network in allowed_networks]
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if any(address in network for network in networks):
            continue
        if _is_internal(address):
            raise CallbackRefused(f"host {parts.hostname!r} resolves to {address}, an internal address")
    return infos[0][4][0]


def _is_internal(address) -> bool:
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or any(address in net for net in _METADATA))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp + "." + body`, hex: what a receiver recomputes."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
