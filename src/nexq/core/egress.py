"""Where Nexq may send requests on a customer's behalf (webhooks), and how it sends them.

A customer names a URL and the server posts to it: without a rule, that is a way into what
only the server can reach (loopback ports, the cloud's metadata service at 169.254.169.254,
the private network). The policy here refuses every address that is not public, unless the
operator allows it (``allow``) or hands the traffic to an egress proxy that applies its own
policy (``proxy``).

The check is made on the address that is actually dialled: a name is resolved once, every
address it resolves to is checked, and the connection goes to the checked address (the
name is never resolved a second time, which defeats DNS rebinding). The Host header and the
TLS server name stay the name, so certificates are verified as usual. Knows no service.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import certifi
import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[IPAddress]]

PUBLIC_ONLY = "Nexq only posts to public addresses"
CONNECT_SECONDS = 3.0
IO_SECONDS = 5.0
# The whole exchange, however slowly a receiver drips its answer: the sender is a
# house-keeping thread that must get back to its other work.
DEADLINE_SECONDS = 10.0
USER_AGENT = b"Nexq-Webhook/1"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOCAL_NAMES = ("localhost",)  # RFC 6761: always loopback, whatever DNS says
_LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# Not public, though the ipaddress module of some Python versions calls parts of it global.
_PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")  # RFC 6890
# IPv6 prefixes that carry an IPv4 address a gateway will dial: judged by that address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # RFC 3056
_LABEL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class Refused(Exception):
    """The destination is not allowed; ``reason`` is safe to show to the customer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Undelivered(Exception):
    """The request was allowed but did not succeed; ``reason`` names no URL or payload."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Destination:
    """A parsed URL: what is dialled and what is asked for, taken apart once."""

    scheme: str
    host: str  # an ASCII name (IDNA), or an address without brackets
    port: int
    target: str  # path and query, percent-encoded
    address: IPAddress | None  # the host, when it is an address

    @property
    def explicit_port(self) -> int | None:
        """The port, unless it is the scheme's own (then URLs and Host headers omit it)."""
        return None if self.port == _DEFAULT_PORTS[self.scheme] else self.port

    @property
    def authority(self) -> str:
        """The Host header: the host (bracketed if IPv6) and any non-default port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.explicit_port is None else f"{host}:{self.port}"


def parse_networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["127.0.0.1", "10.1.0.0/16"]`` → networks (a lone address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in texts if t.strip())


def why_not_public(address: IPAddress) -> str | None:
    """Why a request must not go to ``address`` ("a private address" …), or None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = why_not_public(embedded)
            return f"a gateway to {embedded}, {reason}" if reason else None
        if address.is_site_local:
            return "a site-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address in _THIS_NETWORK:
        return "a 'this network' address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE):
        return "a private address"
    if address.is_reserved or not address.is_global or address in _PROTOCOL_ASSIGNMENTS:
        return "a reserved address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to for TCP, in the resolver's order, without repeats."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


class Egress:
    """The destination policy and the sender of JSON posts that obeys it."""

    def __init__(
        self,
        allow: Sequence[IPNetwork] = (),
        proxy: str | None = None,
        resolver: Resolver = resolve,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._allow = tuple(allow)
        self._proxy = proxy
        self._resolve = resolver
        self._tls = tls

    def check(self, url: str) -> Destination:
        """The destination of ``url`` if the URL may be saved; :class:`Refused` if not.

        No name is resolved here (names change; the send checks again): addresses written
        in the URL and the name ``localhost`` are judged now, so a mistake shows at once.
        """
        destination = parse(url)
        if destination.address is not None:
            self._judge(destination.host, [destination.address], "written")
        elif _is_local_name(destination.host):
            self._judge(destination.host, list(_LOOPBACK), "a loopback name")
        return destination

    def post_json(self, url: str, payload: dict[str, object]) -> None:
        """POST ``payload`` to ``url``: answered 2xx, else :class:`Refused`/:class:`Undelivered`."""
        destination = self.check(url)
        body = json.dumps(payload).encode()
        if self._proxy is not None:
            # The proxy resolves the name and applies the operator's policy to it.
            proxy_url, proxy_auth = _proxy_parts(self._proxy)
            pool: httpcore.ConnectionPool = httpcore.HTTPProxy(
                proxy_url=proxy_url,
                proxy_auth=proxy_auth,
                ssl_context=self._tls or _tls(),
                retries=0,
                network_backend=_DeadlineBackend(None),
            )
        else:
            pool = httpcore.ConnectionPool(
                ssl_context=self._tls or _tls(),
                retries=0,
                network_backend=_DeadlineBackend(self._pin(destination)),
            )
        with pool:
            _exchange(pool, destination, body)

    def _pin(self, destination: Destination) -> list[IPAddress]:
        """The checked addresses to dial for ``destination``, in order."""
        if destination.address is not None:
            return [destination.address]
        try:
            addresses = self._resolve(destination.host, destination.port)
        except (OSError, UnicodeError, ValueError):
            raise Undelivered(f"{destination.host} does not resolve") from None
        if not addresses:
            raise Undelivered(f"{destination.host} does not resolve")
        self._judge(destination.host, addresses)
        return addresses

    def _judge(self, host: str, addresses: list[IPAddress], how: str = "resolves") -> None:
        """Refuse unless every one of ``addresses`` is public or allowed by the operator.

        ``how`` says what ``host`` is, for the message: "resolves" (a name looked up),
        "written" (an address in the URL) or "a loopback name".
        """
        for address in addresses:
            if any(address in network for network in self._allow):
                continue
            reason = why_not_public(address)
            if reason is None:
                continue
            if how == "resolves":
                raise Refused(f"{host} resolves to {address}, {reason}; {PUBLIC_ONLY}")
            raise Refused(f"{host} is {reason if how == 'written' else how}; {PUBLIC_ONLY}")


def parse(url: str) -> Destination:
    """Take ``url`` apart, or :class:`Refused` with what is wrong in it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Refused("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise Refused("an http(s) URL such as https://hooks.example.com/nexq")
    if "@" in parts.netloc:
        # A user name in the authority is where URL parsers disagree about the host.
        raise Refused("no user name or password in the URL; put a token in its path or query")
    host = parts.hostname or ""
    if port == 0:
        raise Refused("port 0 is not a port")
    address = _address(host, bracketed=parts.netloc.startswith("["))
    if address is None:
        host = _name(host)
    target = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_QUERY_SAFE)
    return Destination(scheme, host, port or _DEFAULT_PORTS[scheme], target, address)


def _address(host: str, bracketed: bool) -> IPAddress | None:
    """The address written as ``host``, None for a name; refuses ambiguous spellings."""
    if bracketed:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise Refused(f"{host} is not an IPv6 address") from None
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
    except OSError:
        return None
    # 2130706433, 0x7f.1, 127.1: the C library reads them as addresses, people rarely do.
    raise Refused(f"{host}: write an IPv4 address as four decimal numbers, such as 192.0.2.10")


def _name(host: str) -> str:
    """``host`` as an ASCII DNS name (IDNA), or :class:`Refused`."""
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise Refused(f"{host!r} is not a host name") from None
    labels = ascii_host.removesuffix(".").split(".")
    if (
        len(ascii_host) > 253
        or any(not 0 < len(label) <= 63 or not set(label) <= _LABEL for label in labels)
        or labels[-1].isdigit()  # no top-level domain is a number: an address in disguise
    ):
        raise Refused(f"{host!r} is not a host name")
    return ascii_host


def _is_local_name(host: str) -> bool:
    name = host.removesuffix(".")
    return any(name == local or name.endswith("." + local) for local in _LOCAL_NAMES)


def _proxy_parts(proxy: str) -> tuple[str, tuple[str, str] | None]:
    """(the proxy's URL without credentials, its Basic credentials if it has any)."""
    parts = urlsplit(proxy)
    if parts.username is None:
        return proxy, None
    bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return bare, (unquote(parts.username), unquote(parts.password or ""))


def _tls() -> ssl.SSLContext:
    # The same trust store httpx uses, so receivers valid before this module still are.
    return ssl.create_default_context(cafile=certifi.where())


def _exchange(pool: httpcore.ConnectionPool, destination: Destination, body: bytes) -> None:
    """Send the request; read the status line and headers only, never the body."""
    url = httpcore.URL(
        scheme=destination.scheme.encode(),
        host=destination.host.encode(),
        port=destination.explicit_port,
        target=destination.target.encode(),
    )
    headers = [
        (b"Host", destination.authority.encode()),
        (b"User-Agent", USER_AGENT),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", str(len(body)).encode()),
    ]
    timeouts = {
        "connect": CONNECT_SECONDS,
        "read": IO_SECONDS,
        "write": IO_SECONDS,
        "pool": IO_SECONDS,
    }
    try:
        # Redirects are not followed (httpcore never does): a 3xx is an answer, not a hop.
        with pool.stream(
            "POST", url, headers=headers, content=body, extensions={"timeout": timeouts}
        ) as response:
            status = response.status
    except httpcore.TimeoutException:
        raise Undelivered("timed out") from None
    except (httpcore.NetworkError, OSError):
        raise Undelivered("could not connect or the connection broke") from None
    except (httpcore.ProtocolError, httpcore.ProxyError, httpcore.UnsupportedProtocol):
        raise Undelivered("the answer was not valid HTTP") from None
    if not 200 <= status < 300:
        raise Undelivered(f"answered HTTP {status}")


class _DeadlineBackend(httpcore.NetworkBackend):
    """Dials only the given addresses (when given) and ends every exchange by a deadline."""

    def __init__(self, pinned: list[IPAddress] | None) -> None:
        self._pinned = pinned
        self._deadline = time.monotonic() + DEADLINE_SECONDS
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        # ``host`` is the URL's name: with pinned addresses it is never looked up again.
        targets = [str(a) for a in self._pinned] if self._pinned is not None else [host]
        failure: Exception = httpcore.ConnectError("no address to dial")
        for target in targets:
            try:
                stream = self._inner.connect_tcp(
                    target, port, _left(self._deadline, timeout), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("no unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A stream whose every read and write waits no longer than the exchange's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(self._deadline, timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(self._deadline, timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _left(self._deadline, timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _left(deadline: float, timeout: float | None) -> float:
    """The smaller of ``timeout`` and the time left; past the deadline, a timeout now."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("past the deadline")
    return left if timeout is None else min(timeout, left)
