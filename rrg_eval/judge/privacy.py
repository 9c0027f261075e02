"""Where report text may go: loopback and private-network hosts only, unless remote hosts are allowed.

Radiology reports are patient data. A judge client sends them to a chat server, so before any request the
server's host is checked:

* allowed without asking: ``localhost`` (and ``*.localhost``), and IP addresses in 127.0.0.0/8, ::1,
  10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and fc00::/7;
* a host *name* counts as private only when it resolves and every address it resolves to is in those ranges
  (a guard against mistakes, not against an attacker controlling DNS);
* everything else is remote, including the default OpenAI endpoint ``api.openai.com`` and Azure OpenAI
  (``*.openai.azure.com``), which are refused without a lookup.

Remote hosts are allowed when EITHER the config field ``allow_remote`` is true (CLI ``--allow-remote-judge``
or ``--set chexprompt.allow_remote=true``) OR the environment variable ``RRG_EVAL_ALLOW_REMOTE_JUDGE=1`` is
set. Either is an explicit act by the user; the environment variable suits CI and shared setups.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import ConfigError

ALLOW_ENV = "RRG_EVAL_ALLOW_REMOTE_JUDGE"
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"

PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
KNOWN_REMOTE_SUFFIXES = ("api.openai.com", ".openai.azure.com", ".azure.com", ".openai.com")

Resolver = Callable[[str], list[str]]


def _resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def is_private_address(address: str) -> bool:
    """True for an IP address literal inside one of :data:`PRIVATE_NETWORKS`."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in PRIVATE_NETWORKS)


def host_of(url: str) -> str:
    """The host name of ``url`` (lower case, no brackets); a ConfigError when there is none."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = (parts.hostname or "").lower()
    if not host:
        raise ConfigError(f"judge base_url {url!r} has no host; expected e.g. http://127.0.0.1:8000/v1")
    return host


def classify_host(host: str, resolver: Resolver | None = None) -> tuple[bool, str]:
    """``(is_private, why)`` for a host name or address."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True, "localhost"
    if is_private_address(host):
        return True, f"{host} is a loopback or private-network address"
    try:
        ipaddress.ip_address(host.split("%")[0])
        return False, f"{host} is a public IP address"
    except ValueError:
        pass
    if any(host == s.lstrip(".") or host.endswith(s) for s in KNOWN_REMOTE_SUFFIXES):
        return False, f"{host} is a hosted API"
    addresses = (resolver or _resolve)(host)
    if not addresses:
        return False, f"{host} does not resolve here, so it cannot be shown to be private"
    public = [a for a in addresses if not is_private_address(a)]
    if public:
        return False, f"{host} resolves to public address(es) {', '.join(public[:3])}"
    return True, f"{host} resolves only to private addresses ({', '.join(addresses[:3])})"


def remote_allowed(flag: bool, environ: dict[str, str] | None = None) -> bool:
    """True when the config flag is set or ``RRG_EVAL_ALLOW_REMOTE_JUDGE`` is 1/true/yes."""
    env = os.environ if environ is None else environ
    return bool(flag) or env.get(ALLOW_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def privacy_refusal(url: str, *, allow_remote: bool, metric: str = "chexprompt",
                    resolver: Resolver | None = None, environ: dict[str, str] | None = None) -> str | None:
    """None when report text may be sent to ``url``; else why not and how to allow it."""
    if remote_allowed(allow_remote, environ):
        return None
    private, why = classify_host(host_of(url), resolver)
    if private:
        return None
    return (f"refusing to send report text to {host_of(url)} ({why}). Reports are patient data and by default "
            f"go only to loopback or private-network hosts (localhost, 127.0.0.0/8, ::1, 10/8, 172.16/12, "
            f"192.168/16, fc00::/7). If this data may leave your network, allow remote judges with "
            f"--allow-remote-judge (or --set {metric}.allow_remote=true) or the environment variable "
            f"{ALLOW_ENV}=1")
