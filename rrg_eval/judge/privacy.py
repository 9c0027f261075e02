"""Where report text may go: loopback and private-network hosts only, unless remote hosts are allowed.

Radiology reports are patient data. A judge client sends them to a chat server, so before any request the
server's address is checked, and requests then go only to the addresses that were checked:

* IP address literals in 127.0.0.0/8, ::1, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and fc00::/7 are private.
  A zone id (``%eth0``) is accepted only on an IPv6 literal (``http://[fe80::1%25eth0]:8000``); anything with
  ``%`` that is not an IPv6 literal (``127.0.0.1%.evil.example``) is not an address and is refused;
* every host *name* is resolved here, and counts as private only when every address it resolves to is
  private. Requests then connect to those checked addresses (the name is still sent as ``Host`` and, for
  https, as the TLS server name), never to what a later DNS lookup might answer. ``foo.localhost`` and
  ``localhost.`` are names like any other. Exactly ``localhost`` is private when it resolves only to loopback
  addresses (127.0.0.1 and ::1 when it does not resolve);
* everything else is remote, including the default OpenAI endpoint ``api.openai.com`` and Azure OpenAI
  (``*.openai.azure.com``), which are refused without a lookup;
* a ``base_url`` with credentials (``http://user:pass@host/``) is refused outright: the key belongs in the
  environment variable named by ``api_key_env``, and a password in the URL would reach error messages.

Remote hosts are allowed when EITHER the config field ``allow_remote`` is true (CLI ``--allow-remote-judge``
or ``--set chexprompt.allow_remote=true``) OR the environment variable ``RRG_EVAL_ALLOW_REMOTE_JUDGE=1`` is
set. Either is an explicit act by the user; the environment variable suits CI and shared setups.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError, MetricUnavailable

ALLOW_ENV = "RRG_EVAL_ALLOW_REMOTE_JUDGE"
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"

PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
KNOWN_REMOTE_SUFFIXES = ("api.openai.com", ".openai.azure.com", ".azure.com", ".openai.com")
LOCALHOST_FALLBACK = ("127.0.0.1", "::1")

Resolver = Callable[[str], list[str]]


def _resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``host`` is a literal of, or None. A zone id (``%...``) is accepted on IPv6 only."""
    if "%" in host:
        literal, _, zone = host.partition("%")
        if ":" not in literal or not zone:
            return None
        try:
            return ipaddress.IPv6Address(literal)
        except ValueError:
            return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_private_address(address: str) -> bool:
    """True for an IP address literal inside one of :data:`PRIVATE_NETWORKS`."""
    ip = parse_address(address)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in PRIVATE_NETWORKS)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a judge base_url (credentials in it), or None. Never repeats the credentials."""
    if not url:
        return None
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        has_userinfo = "@" in parts.netloc
    except ValueError:
        return "is not a valid URL"
    if has_userinfo:
        return ("must not hold credentials (user:password@host); put the API key in the environment variable "
                "named by api_key_env")
    return None


def host_of(url: str) -> str:
    """The host name of ``url`` (lower case, no brackets); a ConfigError when there is none or it holds
    credentials."""
    problem = url_problem(url)
    if problem:
        raise ConfigError(f"judge base_url {problem}")
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host = (parts.hostname or "").lower()
    except ValueError:
        host = ""
    if not host:
        raise ConfigError(f"judge base_url {url!r} has no host; expected e.g. http://127.0.0.1:8000/v1")
    return host


def endpoint_of(url: str) -> str:
    """``scheme://host:port/path`` of ``url``: what identifies the server in cache keys and signatures.

    Lower-case scheme and host, the port always written (80/443 by default), the path without a trailing
    slash; never credentials, query or fragment (the key is never part of a URL here).
    """
    host = host_of(url)
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = (parts.scheme or "http").lower()
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"judge base_url {url!r} has an invalid port") from None
    if port is None:
        port = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class Route:
    """Where requests to one host may go: ``private`` hosts are reached only at ``addresses`` (checked)."""

    host: str
    private: bool
    why: str
    addresses: tuple[str, ...] = ()


def route_of(host: str, resolver: Resolver | None = None) -> Route:
    """Classify ``host`` and, when private, the addresses requests must connect to."""
    host = host.lower()
    ip = parse_address(host)
    if ip is not None:
        if is_private_address(host):
            return Route(host, True, f"{host} is a loopback or private-network address", (host,))
        return Route(host, False, f"{host} is a public IP address")
    if "%" in host:
        return Route(host, False, f"{host} is not an address: a zone id (%) is valid only on an IPv6 literal")
    bare = host.rstrip(".")
    if any(bare == s.lstrip(".") or bare.endswith(s) for s in KNOWN_REMOTE_SUFFIXES):
        return Route(host, False, f"{host} is a hosted API")
    addresses = (resolver or _resolve)(host)
    if host == "localhost":
        if not addresses:
            return Route(host, True, "localhost", LOCALHOST_FALLBACK)
        if all(is_private_address(a) and parse_address(a).is_loopback for a in addresses):  # type: ignore[union-attr]
            return Route(host, True, "localhost", tuple(addresses))
        return Route(host, False, f"localhost resolves to non-loopback address(es) {', '.join(addresses[:3])}")
    if not addresses:
        return Route(host, False, f"{host} does not resolve here, so it cannot be shown to be private")
    public = [a for a in addresses if not is_private_address(a)]
    if public:
        return Route(host, False, f"{host} resolves to public address(es) {', '.join(public[:3])}")
    return Route(host, True, f"{host} resolves only to private addresses ({', '.join(addresses[:3])})",
                 tuple(addresses))


def classify_host(host: str, resolver: Resolver | None = None) -> tuple[bool, str]:
    """``(is_private, why)`` for a host name or address."""
    route = route_of(host, resolver)
    return route.private, route.why


def remote_allowed(flag: bool, environ: dict[str, str] | None = None) -> bool:
    """True when the config flag is set or ``RRG_EVAL_ALLOW_REMOTE_JUDGE`` is 1/true/yes."""
    env = os.environ if environ is None else environ
    return bool(flag) or env.get(ALLOW_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def refusal_message(host: str, why: str, metric: str) -> str:
    """The refusal for a host that is not private, saying how to allow it."""
    return (f"refusing to send report text to {host} ({why}). Reports are patient data and by default "
            f"go only to loopback or private-network hosts (localhost, 127.0.0.0/8, ::1, 10/8, 172.16/12, "
            f"192.168/16, fc00::/7). If this data may leave your network, allow remote judges with "
            f"--allow-remote-judge (or --set {metric}.allow_remote=true) or the environment variable "
            f"{ALLOW_ENV}=1")


def privacy_refusal(url: str, *, allow_remote: bool, metric: str = "chexprompt",
                    resolver: Resolver | None = None, environ: dict[str, str] | None = None) -> str | None:
    """None when report text may be sent to ``url``; else why not and how to allow it."""
    host = host_of(url)
    if remote_allowed(allow_remote, environ):
        return None
    route = route_of(host, resolver)
    if route.private:
        return None
    return refusal_message(host, route.why, metric)


def checked_route(url: str, *, allow_remote: bool, metric: str = "chexprompt",
                  resolver: Resolver | None = None, environ: dict[str, str] | None = None) -> Route:
    """The route requests to ``url`` must take, resolved and checked once, right before sending: a private
    host's checked addresses (hand them to the backend, which connects only there), or a remote host when
    remote judges are allowed; MetricUnavailable (the refusal) otherwise. Judge metrics call this, not
    :func:`privacy_refusal`, when they are about to send, so that what is checked is what is connected to."""
    host = host_of(url)
    route = route_of(host, resolver)
    if not route.private and not remote_allowed(allow_remote, environ):
        raise MetricUnavailable(f"{metric} cannot run: {refusal_message(host, route.why, metric)}")
    return route
