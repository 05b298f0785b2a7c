"""The client network quotas and the anti-sybil rule count by: an IPv4 address, an IPv6 /64."""

from shared.netaddr import network_key


def test_ipv4_addresses_are_networks_of_their_own() -> None:
    assert network_key("203.0.113.7") != network_key("203.0.113.8")
    assert network_key("203.0.113.7") == network_key("203.0.113.7")


def test_ipv6_counts_by_its_64() -> None:
    one = network_key("2001:db8:1:2::1")
    assert one == network_key("2001:db8:1:2:ffff:ffff:ffff:ffff")  # the same subscriber's /64
    assert one != network_key("2001:db8:1:3::1")
    assert network_key("fe80::1%eth0") == network_key("fe80::2")  # a zone index is not part of the address


def test_ipv4_mapped_ipv6_is_the_ipv4_address() -> None:
    assert network_key("::ffff:203.0.113.7") == network_key("203.0.113.7")


def test_no_address_no_network() -> None:
    assert network_key(None) is None and network_key("") is None and network_key("unix-socket") is None


def test_the_key_keeps_no_address() -> None:
    key = network_key("203.0.113.7")
    assert key is not None and "203" not in key and len(key) == 32
