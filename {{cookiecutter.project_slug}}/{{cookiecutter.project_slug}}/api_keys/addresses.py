"""Addresses a key may be used from: a key's `allowed_ips`, a list of IPv4 and IPv6 networks in
CIDR form ("203.0.113.0/24", "2001:db8::/32", or one address, "198.51.100.7"). An empty list
lets the key be used from anywhere."""

import ipaddress
from collections.abc import Iterable

from django.core.exceptions import ValidationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> Network:
    """One network, or ValueError with a sentence saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not a network: write one in CIDR form, e.g. 203.0.113.0/24.")
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a network: write one in CIDR form, e.g. 203.0.113.0/24 or "
                "2001:db8::/32."
            ) from None
        raise ValueError(f"{text!r} has host bits set: did you mean {loose}?") from None


def normalize_networks(networks: object) -> list[str]:
    """The networks of `allowed_ips` in their canonical form, each once, or ValueError."""
    if not isinstance(networks, list | tuple):
        raise ValueError("Allowed IPs are a list of networks, e.g. ['203.0.113.0/24'].")
    canonical = []
    for text in networks:
        network = str(parse_network(text))
        if network not in canonical:
            canonical.append(network)
    return canonical


def validate_networks(value: object) -> None:
    """The model field's validator."""
    try:
        normalize_networks(value)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid_network") from None


def address_allowed(address: str, networks: Iterable[str]) -> bool:
    """Whether `address` is in one of `networks`. An address that is not one (a misconfigured
    proxy header) is in none, and so is an entry that is not a network (saved past the model's
    validation, say by a queryset update): refused, never an error."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:203.0.113.7, as a dual-stack socket reports IPv4 clients
    if not isinstance(networks, list | tuple):
        return False
    for network in networks:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except (TypeError, ValueError):
            continue
    return False
