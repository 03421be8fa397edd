"""Where an agent-chosen url may lead: public addresses only, resolved once and pinned.

``visit`` and image thumbnails fetch urls the agent wrote or a search result named. Left
alone, such a fetch reaches the cloud metadata service (``169.254.169.254``,
``metadata.google.internal``), private networks, IPv6 ULAs, services on the rollout machine
itself (``127.0.0.1``, ``[::1]``, ``2130706433``), or gets there through a redirect.
:func:`resolve_target` resolves the host once, refuses it unless *every* address it resolves
to is public (or the backend spec opted in with ``allow_private_addresses=True`` for a local
service), and returns the address to connect to: the connection is made to that address
(DNS is not asked again, so a rebinding answer cannot swap it), with the original host in
the ``Host`` header and TLS SNI. :class:`~.http.HttpClient` calls it for the first url and
for every redirect hop.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..core.failures import StepError
from .base import BackendError

_BLOCKED_NAMES = ("localhost", "metadata.google.internal", "metadata", "instance-data")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A checked url: connect to ``ip``:``port``; send ``host_header`` and use ``host`` for TLS."""

    url: str
    scheme: str
    host: str
    port: int
    ip: str
    host_header: str

    @property
    def pinned_url(self) -> str:
        """The url with its host replaced by the resolved address."""
        parts = urlsplit(self.url)
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        netloc = f"{ip}:{self.port}"
        rest = parts.path or "/"
        return f"{parts.scheme}://{netloc}{rest}" + (f"?{parts.query}" if parts.query else "")


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: str | IPAddress) -> bool:
    """Whether ``ip`` is a globally routable unicast address (and so is any IPv4 address it embeds)."""
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
        return False
    inner = _embedded_v4(addr)
    if inner is not None and not is_public(inner):
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return True  # ::ffff:a.b.c.d is a.b.c.d, public as checked above
    return addr.is_global and not addr.is_multicast and not addr.is_reserved


def resolve_target(url: str, allow_private: bool = False) -> Target:
    """Check ``url`` and resolve its host; raise ``BackendError(bad_arguments)`` naming why it is refused.

    Only ``http``/``https`` urls with a host. Every address the host resolves to must be
    public unless ``allow_private``; the first one is pinned.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise BackendError(StepError.BAD_ARGUMENTS, f"malformed url {url[:200]!r} ({err})") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".").lower()
    if scheme not in ("http", "https") or not host:
        raise BackendError(StepError.BAD_ARGUMENTS, f"only http(s) urls with a host can be opened, got {url[:200]!r}")
    port = port or (443 if scheme == "https" else 80)
    refused = f"refusing {url[:200]!r}"
    if not allow_private and (host in _BLOCKED_NAMES or host.endswith((".localhost", ".internal"))):
        raise BackendError(StepError.BAD_ARGUMENTS, f"{refused}: {host} is a local or cloud-internal name")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise BackendError(
            StepError.BAD_ARGUMENTS, f"{refused}: the host {host[:100]!r} does not resolve ({err})"
        ) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise BackendError(StepError.BAD_ARGUMENTS, f"{refused}: the host {host[:100]!r} has no address")
    if not allow_private:
        private = [a for a in addresses if not is_public(a.split("%")[0])]
        if private:
            raise BackendError(
                StepError.BAD_ARGUMENTS,
                f"{refused}: {host[:100]} resolves to {private[0]}, which is not a public address",
            )
    default_port = port == (443 if scheme == "https" else 80)
    shown = f"[{host}]" if ":" in host else host
    return Target(url, scheme, host, port, addresses[0], shown if default_port else f"{shown}:{port}")
