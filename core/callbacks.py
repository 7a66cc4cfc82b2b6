"""The callback-URL policy and the webhook signature, shared by the api (checked at submit) and
the thumbnailer (checked again before every attempt, and signed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

from core.errors import CallbackRefused

MAX_URL_LENGTH = 2048
# Ports a callback may use: the web's own, and any unprivileged one. Privileged service ports
# (22, 25, 110, ...) are refused. A network in WEBHOOK_ALLOW_NETWORKS lifts both checks.
WEB_PORTS = (80, 443)
FIRST_UNPRIVILEGED_PORT = 1024
# Cloud metadata services that are not caught by the link-local/private checks (AWS's IPv6 one).
_METADATA = (ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
# The same words whether the host does not resolve or resolves somewhere internal: the answer
# must not tell a tenant how internal names resolve.
NOT_PUBLIC = "must name a host whose addresses are all public"


def check_callback_url(url: str, allowed_networks: tuple[str, ...] = ()) -> str:
    """Refuse URLs that are not http(s), use a privileged port other than 80/443, or whose host
    does not resolve to public (globally routable) addresses only, unless an allowed network
    contains the address. Return the checked address to connect to (so a second DNS answer
    cannot differ)."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"must be an http or https URL of at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CallbackRefused("has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("must be an http or https URL with a host")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("must not carry a user name or password")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise CallbackRefused(NOT_PUBLIC) from None
    networks = [ipaddress.ip_network(network, strict=False) for network in allowed_networks]
    allow_listed = True
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if any(address in network for network in networks):
            continue
        allow_listed = False
        if not is_public(address):
            raise CallbackRefused(NOT_PUBLIC)
    if not allow_listed and port not in WEB_PORTS and port < FIRST_UNPRIVILEGED_PORT:
        raise CallbackRefused(f"must use port 80, 443 or {FIRST_UNPRIVILEGED_PORT}-65535")
    return str(infos[0][4][0])


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable (the `ipaddress` module's is_global: not private, shared 100.64/10,
    loopback, link-local, reserved, ...), not multicast or a metadata service; an IPv6
    address that embeds an IPv4 one (mapped, 6to4, Teredo, NAT64) only if that one is public too."""
    if address.is_multicast or not address.is_global or any(address in net for net in _METADATA):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return False
        embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(is_public(inner) for inner in embedded if inner is not None)
    return True


SECRET_PREFIX = "whsec_"


def owner_signing_secret(master_secret: str, owner: str) -> str:
    """The secret an owner's webhooks are signed with, derived from WEBHOOK_SECRET and the owner:
    each tenant can check its own webhooks and forge no one else's; the server stores nothing
    more. `thumbnails keys create` shows it with the key (or `thumbnails keys webhook-secret`)."""
    digest = hmac.new(master_secret.encode(), b"thumbnails webhook signing\x00" + owner.encode(), hashlib.sha256)
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def signature(secret: str, timestamp: int, event: str, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp + "." + event + "." + body`, hex: what a receiver recomputes
    (the `v2` of the signature header). The event name is signed, so it cannot be swapped."""
    return hmac.new(secret.encode(), f"{timestamp}.{event}.".encode() + body, hashlib.sha256).hexdigest()
