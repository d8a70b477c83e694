"""Network addresses given in the configuration: checked and normalised, without any IO.

`check_address` reads `[network] source_address` (the local address every Binance connection is
bound to, `binance/egress.py`): the configuration checks it when loading, the egress when used.
"""

from __future__ import annotations

import ipaddress


def check_address(value: str) -> str:
    """`value` if it is an IPv4 or IPv6 address (raises ValueError otherwise)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"give a local IP address such as 203.0.113.7, not {value!r}") from None
