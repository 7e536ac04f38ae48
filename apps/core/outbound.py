"""The one gate for HTTP requests the portal makes: webhook deliveries, an
organization's OpenID Connect provider, and any library handed
:func:`requests_session`.

Every request is held to the same rules, checked at the moment it is sent:

- https only; plain http where ``OUTBOUND_ALLOW_HTTP`` is on (development).
- Ports 80, 443 and 1024 and above: no mail, SSH or directory servers.
- The host is resolved once and every address it resolves to must be public:
  not loopback, private, link-local, shared (100.64/10), reserved, multicast,
  unspecified, IPv6 unique-local or site-local, nor an IPv4 address wrapped in
  IPv6 (mapped, compatible, 6to4, NAT64) that is one of those. Networks named
  in ``OUTBOUND_ALLOW_NETWORKS`` are let through, on any port (development:
  loopback, for a local identity provider or webhook receiver).
- The connection goes to the address that was checked, with the URL's host
  for the ``Host`` header, TLS SNI and certificate verification: a name that
  resolves to a public address for the check and a private one a moment
  later (DNS rebinding) is never connected to the private one.
- Redirects are returned, never followed; connect and read time out; a
  response larger than ``max_bytes`` is cut off with an error.

A name that does not resolve is refused by :func:`check_url` outside
development (a check that cannot see the address must not pass it).
"""

from __future__ import annotations

import io
import ipaddress
import json as jsonlib
import logging
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests
import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.structures import CaseInsensitiveDict

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
MAX_BYTES = 1024 * 1024
_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"https": 443, "http": 80}
_PRIVILEGED_PORTS_ALLOWED = frozenset({80, 443})
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

# What a library handed requests_session() raises for a refused or failed
# request, so its callers can catch it without importing requests.
SessionError = requests.RequestException


class OutboundError(Exception):
    """A request that was refused or failed; the message is for people."""


class RefusedDestination(OutboundError):
    """The policy refused the URL before any connection was made.

    ``code`` says which rule: ``invalid``, ``scheme``, ``port``, ``address``
    or ``unresolved``.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class OutboundTimeout(OutboundError):
    """No connection or no answer in time."""


class OutboundConnectionError(OutboundError):
    """The destination could not be reached, or TLS verification failed."""


class ResponseTooLarge(OutboundError):
    """The answer was larger than the caller's limit; it was cut off."""


@dataclass(frozen=True)
class Destination:
    """A URL the policy accepted, with the addresses it resolved to then."""

    url: str
    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[IPAddress, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Response:
    """An answer read in full (within the caller's limit); header names are
    lower-case."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


# --- the rules --------------------------------------------------------------------


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [
            ipaddress.ip_network(str(n).strip(), strict=False)
            for n in settings.OUTBOUND_ALLOW_NETWORKS
            if str(n).strip()
        ]
    except ValueError as exc:
        raise ImproperlyConfigured(f"OUTBOUND_ALLOW_NETWORKS: {exc}") from exc


def _non_public_kind(address: IPAddress) -> str:
    """What makes ``address`` not a public internet address ("" if it is one)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind = _non_public_kind(embedded)
            return f"{kind}, {embedded} inside IPv6" if kind else ""
        if address in _NAT64_LOCAL:
            return "local-use NAT64"
        if address.is_site_local:
            return "site-local"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared address space", address in _SHARED),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for kind, hit in checks:
        if hit:
            return kind
    return "" if address.is_global else "not globally routable"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries to the same host: mapped
    (::ffff:a.b.c.d), compatible (::a.b.c.d), 6to4 (2002::/16) or NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (
        address in _IPV4_COMPATIBLE and int(address) > 1  # not :: or ::1
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _address_refusal(host: str, address: IPAddress, port: int) -> tuple[str, str]:
    """Which rule refuses connecting to ``address`` on ``port``, and why;
    ("", "") if none does."""
    if any(address in network for network in _allowed_networks()):
        return "", ""  # named by the operator: the rules there are theirs
    kind = _non_public_kind(address)
    if kind:
        what = host if host == str(address) else f"{host} ({address})"
        return "address", f"{what} is a private or local address: {kind}."
    return _port_refusal(port)


def _port_refusal(port: int) -> tuple[str, str]:
    if port < 1024 and port not in _PRIVILEGED_PORTS_ALLOWED:
        return "port", f"Port {port} is not allowed; use 443, 80 or 1024 and up."
    return "", ""


def _parse(url: str) -> tuple[str, str, int, str]:
    """Scheme, host (IDNA, lower-case), port and request target of ``url``."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise RefusedDestination(f"Not a valid URL: {exc}.", code="invalid") from exc
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if settings.OUTBOUND_ALLOW_HTTP else ("https",)
    if scheme not in _DEFAULT_PORTS or scheme not in allowed:
        raise RefusedDestination("URLs must use https.", code="scheme")
    if parts.username is not None or parts.password is not None:
        raise RefusedDestination(
            "A URL may not carry a user name or password.", code="invalid"
        )
    host = (parts.hostname or "").rstrip(".")
    if host and not _is_ip_literal(host):
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise RefusedDestination(
                f"Not a valid host name: {host}.", code="invalid"
            ) from exc
    if not host:
        raise RefusedDestination("The URL has no host.", code="invalid")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or _DEFAULT_PORTS[scheme], target


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _checked(url: str, *, unresolved_ok: bool) -> Destination:
    scheme, host, port, target = _parse(url)
    addresses = _resolve(host, port)
    if not addresses and not unresolved_ok:
        raise RefusedDestination(
            f"{host} does not resolve to an address, so it cannot be checked; "
            "use a name that resolves.",
            code="unresolved",
        )
    refusals = [_address_refusal(host, a, port) for a in addresses] or [
        _port_refusal(port)
    ]
    for code, message in refusals:
        if code:
            raise RefusedDestination(message, code=code)
    return Destination(url, scheme, host, port, target, tuple(addresses))


def check_url(url: str) -> Destination:
    """Check a URL that is about to be saved (a webhook, an SSO issuer).

    Raises :class:`RefusedDestination` with a message for the person who typed
    it. In development a name that does not resolve passes (it is checked
    again, and refused, when a request is made); elsewhere it is refused.
    """
    return _checked(url, unresolved_ok=bool(settings.DEV_MODE))


# --- sending ----------------------------------------------------------------------


def _pool(destination: Destination, address: IPAddress, timeout: urllib3.Timeout):
    common: dict[str, Any] = {"timeout": timeout, "retries": False, "maxsize": 1}
    if destination.scheme == "http":
        return urllib3.HTTPConnectionPool(str(address), destination.port, **common)
    return urllib3.HTTPSConnectionPool(
        str(address),
        destination.port,
        cert_reqs="CERT_REQUIRED",
        ca_certs=settings.OUTBOUND_CA_BUNDLE or certifi.where(),
        # TLS speaks to the host of the URL, not to the address it is pinned to.
        server_hostname=destination.host,
        **common,
    )


def _read(answer: Any, *, url: str, max_bytes: int, deadline: float) -> bytes:
    declared = answer.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"{url} answered with more than {max_bytes} bytes.")
    body = io.BytesIO()
    for chunk in answer.stream(_CHUNK, decode_content=True):
        body.write(chunk)
        if body.tell() > max_bytes:
            raise ResponseTooLarge(f"{url} answered with more than {max_bytes} bytes.")
        if time.monotonic() > deadline:
            raise OutboundTimeout(f"{url} did not finish answering in time.")
    return body.getvalue()


def _send_to(
    destination: Destination,
    address: IPAddress,
    *,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    timeouts: tuple[float, float],
    max_bytes: int,
) -> Response:
    connect, read = timeouts
    deadline = time.monotonic() + connect + read
    timeout = urllib3.Timeout(connect=connect, read=read)
    with _pool(destination, address, timeout) as pool:
        answer = pool.urlopen(
            method,
            destination.target,
            body=body,
            headers=headers,
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=True,
        )
        try:
            content = _read(
                answer, url=destination.url, max_bytes=max_bytes, deadline=deadline
            )
        finally:
            answer.release_conn()
    names = {k.lower(): v for k, v in answer.headers.items()}
    names.pop("content-encoding", None)  # the content is decoded
    return Response(destination.url, answer.status, names, content)


def _failure(url: str, exc: Exception) -> OutboundError:
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    timed_out = isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError)
    # urllib3 derives a refused connection from its connect timeout.
    if timed_out and not isinstance(exc, urllib3.exceptions.NewConnectionError):
        return OutboundTimeout(f"{url} did not answer in time.")
    return OutboundConnectionError(f"{url} could not be reached: {exc}")


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    json: Any = None,
    timeout: float | tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
    max_bytes: int = MAX_BYTES,
) -> Response:
    """Make one request under the policy and return the answer read in full.

    Raises :class:`RefusedDestination` before connecting when the URL breaks a
    rule, :class:`OutboundTimeout`, :class:`ResponseTooLarge` or
    :class:`OutboundConnectionError`. A redirect is returned, not followed.
    """
    try:
        destination = _checked(url, unresolved_ok=False)
    except RefusedDestination as exc:
        logger.warning("Outbound request refused: %s", exc)
        raise
    # The Host is the checked one; the answer comes unencoded, so its size
    # limit is the size of what is read.
    sent = {
        k: v
        for k, v in (headers or {}).items()
        if k.lower() not in {"host", "accept-encoding"}
    }
    names = {k.lower() for k in sent}
    if json is not None:
        body = jsonlib.dumps(json, separators=(",", ":"))
        if "content-type" not in names:
            sent["Content-Type"] = "application/json"
    if "user-agent" not in names:
        sent["User-Agent"] = settings.SITE_NAME
    sent["Host"] = destination.host_header
    data = body.encode() if isinstance(body, str) else body
    timeouts = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    last: Exception | None = None
    # Every address was checked; try them in the resolver's order.
    for address in destination.addresses:
        try:
            return _send_to(
                destination,
                address,
                method=method.upper(),
                headers=sent,
                body=data,
                timeouts=timeouts,
                max_bytes=max_bytes,
            )
        except urllib3.exceptions.NewConnectionError as exc:
            last = exc
        except urllib3.exceptions.HTTPError as exc:
            raise _failure(url, exc) from exc
        except OSError as exc:
            raise _failure(url, exc) from exc
    raise _failure(url, last or OSError("no address"))


def get(url: str, **kwargs: Any) -> Response:
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> Response:
    return request("POST", url, **kwargs)


# --- for libraries that take a requests session -----------------------------------


class RedirectNotFollowed(requests.TooManyRedirects):
    """A library's request was answered with a redirect; it is not followed."""


class _PolicyAdapter(requests.adapters.BaseAdapter):
    """A requests transport that sends through :func:`request`."""

    def __init__(self, *, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes

    def send(  # type: ignore[override]
        self,
        prepared: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        # verify, cert and proxies are the policy's to decide, not the caller's.
        body = prepared.body
        if body is not None and not isinstance(body, bytes | str):
            body = b"".join(
                p if isinstance(p, bytes) else str(p).encode() for p in _iterable(body)
            )
        try:
            answer = request(
                prepared.method or "GET",
                prepared.url or "",
                headers={
                    name: value.decode("latin-1") if isinstance(value, bytes) else value
                    for name, value in prepared.headers.items()
                },
                body=body,
                timeout=_timeouts(timeout),
                max_bytes=self.max_bytes,
            )
        except OutboundTimeout as exc:
            raise requests.Timeout(str(exc), request=prepared) from exc
        except OutboundError as exc:
            raise requests.ConnectionError(str(exc), request=prepared) from exc
        response = requests.Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(answer.headers)
        response.raw = io.BytesIO(answer.content)
        response.url = answer.url
        response.request = prepared
        response.reason = ""
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        return response

    def close(self) -> None:
        pass


def _iterable(body: Any) -> Iterable[Any]:
    return body if hasattr(body, "__iter__") else [body]


def _timeouts(timeout: Any) -> tuple[float, float]:
    if isinstance(timeout, int | float):
        return (float(timeout), float(timeout))
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(timeout):
        return (float(timeout[0]), float(timeout[1]))
    return (CONNECT_TIMEOUT, READ_TIMEOUT)


class _PolicySession(requests.Session):
    def send(self, request: requests.PreparedRequest, **kwargs: Any):  # type: ignore[override]
        kwargs["allow_redirects"] = False
        response = super().send(request, **kwargs)
        if response.is_redirect:
            raise RedirectNotFollowed(
                f"{request.url} answered with a redirect to "
                f"{response.headers.get('location', '(none)')}, which is not "
                "followed.",
                response=response,
            )
        return response


def requests_session(*, max_bytes: int = MAX_BYTES) -> requests.Session:
    """A requests session for a library that makes its own requests (allauth,
    Stripe): every request it sends goes through :func:`request`, and fails
    with a :data:`SessionError` when refused."""
    session = _PolicySession()
    session.trust_env = False  # no proxies or .netrc credentials from the environment
    adapter = _PolicyAdapter(max_bytes=max_bytes)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
