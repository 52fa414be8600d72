"""Pod networking with real devices and nftables rules inside test network namespaces."""

from __future__ import annotations

import ipaddress
import json
import multiprocessing
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

import isolators
from isolators import net as net_isolator
from mesos_hyper.errors import HyperError
from tests.net_fixtures import (
    OUTSIDE_HOST_IP,
    OUTSIDE_IP,
    Server,
    connect,
    fake_pod,
    make_test_network,
)
from vmctl.domain import InterfaceSpec
from vmctl.network import firewall, ipam, links
from vmctl.network.firewall import Forward
from vmctl.network.netns import run_in_netns, with_netlink
from vmctl.network.settings import NetSettings


def _settings(lease_dir: Path, netns: str | None = None, **kw) -> NetSettings:
    return NetSettings(
        subnet=ipaddress.IPv4Network("10.77.0.0/24"),
        bridge="mhbrt" + uuid.uuid4().hex[:6],
        netns=netns,
        lease_dir=lease_dir,
        **kw,
    )


def _allocate_many(lease_dir: str, prefix: str, n: int, out) -> None:
    settings = _settings(Path(lease_dir))
    out.put([str(ipam.allocate(settings, f"{prefix}-{i}")) for i in range(n)])


def test_concurrent_allocations_never_share_an_address(tmp_path):
    queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_allocate_many, args=(str(tmp_path), f"p{k}", 20, queue))
        for k in range(4)
    ]
    for proc in procs:
        proc.start()
    got = [addr for _ in procs for addr in queue.get(timeout=60)]
    for proc in procs:
        proc.join(10)
    assert len(got) == 80 and len(set(got)) == 80
    assert "10.77.0.1" not in got  # the gateway


def test_leases_survive_a_crash_and_are_collected(tmp_path):
    settings = _settings(tmp_path)
    first = ipam.allocate(settings, "a")
    assert ipam.allocate(settings, "a") == first  # idempotent
    (tmp_path / ".lease-crashed").write_text("half")  # a crash before the link: ignored
    assert ipam.allocate(settings, "b") != first
    assert ipam.collect(settings, alive={"b"}) == ["a"]
    assert set(ipam.leases(settings).values()) == {"b"}
    tiny = NetSettings(subnet=ipaddress.IPv4Network("10.9.0.0/29"), lease_dir=tmp_path / "t")
    for i in range(5):
        ipam.allocate(tiny, f"c{i}")
    with pytest.raises(HyperError, match="no free address"):
        ipam.allocate(tiny, "one-too-many")


def test_a_real_tap_is_made_moved_counted_and_deleted(tmp_path):
    with make_test_network() as net:
        settings = _settings(tmp_path, net.host)
        links.ensure_bridge(settings)
        tap = links.tap_name("tap-test-" + uuid.uuid4().hex)
        links.create_tap(tap, "52:54:00:01:02:03")
        try:
            assert len(tap) <= 15
            links.plug_tap(settings, tap)
            # moved out of the root namespace
            assert with_netlink(None, lambda root: root.index(tap)) is None
            stats = links.tap_stats(settings, tap)
            assert set(stats) >= {"net_rx_bytes", "net_tx_packets", "net_rx_dropped"}

            def mac(name: str) -> str:
                return with_netlink(net.host, lambda nl: nl.link(name).address)

            # the gateway's MAC must not follow its ports (guests cache it)
            assert mac(tap) == "fe:54:00:01:02:03"
            assert mac(settings.bridge) == links.bridge_mac(settings.bridge)
        finally:
            links.delete_tap(settings, tap)
        assert tap not in links.list_taps(settings)


@pytest.fixture
def pods(tmp_path):
    """Three stand-in pods: a and b of framework f1, c of framework f2."""
    with make_test_network() as net:
        settings = _settings(tmp_path, net.host)
        made = {}
        try:
            for name, fw, fwds in (
                ("a", "f1", [Forward("tcp", 31080, 8080)]),
                ("b", "f1", []),
                ("c", "f2", []),
            ):
                cid = f"{name}-{uuid.uuid4().hex[:6]}"
                att = net_isolator.setup(settings, cid, fw, fwds)
                links.delete_tap(settings, att.tap)  # a veth plays the tap (no VM here)
                ns = fake_pod(
                    net, att.tap, att.ip, att.prefixlen, att.gateway, att.mac, settings.bridge
                )
                made[name] = (cid, att, ns)
            yield net, settings, made
        finally:
            for cid, _att, _ns in made.values():
                net_isolator.teardown(settings, cid)


def test_a_udp_forward_carries_datagrams_both_ways(pods):
    net, settings, made = pods
    _cid, att, ns = made["a"]
    net_isolator.add_forwards(settings, att, [Forward("udp", 31053, 5353)])

    def bind() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", 5353))
        return sock

    echo = run_in_netns(ns, bind)

    def serve() -> None:
        data, peer = echo.recvfrom(100)
        echo.sendto(b"echo " + data, peer)

    threading.Thread(target=serve, daemon=True).start()

    def ask() -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(3)
            sock.sendto(b"ping", (OUTSIDE_HOST_IP, 31053))
            return sock.recv(100)

    try:
        assert run_in_netns(net.outside, ask) == b"echo ping"
    finally:
        echo.close()


def test_forwarded_port_reaches_the_pod_from_outside_and_from_the_host(pods):
    net, _, made = pods
    _cid, att, ns = made["a"]
    server = Server(ns, "0.0.0.0", 8080)
    try:
        assert connect(net.outside, OUTSIDE_HOST_IP, 31080).startswith("hello")
        assert connect(net.host, OUTSIDE_HOST_IP, 31080).startswith("hello")
        assert connect(net.host, "127.0.0.1", 31080).startswith("hello")
        assert connect(net.outside, OUTSIDE_HOST_IP, 31081) is None  # not forwarded
        assert connect(net.outside, str(att.ip), 8080) is None  # no route, no way in
    finally:
        server.close()


def test_a_later_task_adds_forwards_and_takes_them_away(pods):
    net, settings, made = pods
    _cid, att, ns = made["a"]
    _, att_c, _ = made["c"]
    server = Server(ns, "0.0.0.0", 9090)
    later = [Forward("tcp", 31085, 9090)]
    try:
        assert connect(net.outside, OUTSIDE_HOST_IP, 31085) is None
        net_isolator.add_forwards(settings, att, later)
        net_isolator.add_forwards(settings, att, later)  # idempotent for the same container
        assert connect(net.outside, OUTSIDE_HOST_IP, 31085).startswith("hello")
        with pytest.raises(HyperError, match="31085/tcp is already forwarded to container a-"):
            net_isolator.add_forwards(settings, att_c, later)
        net_isolator.remove_forwards(settings, att, later)
        assert connect(net.outside, OUTSIDE_HOST_IP, 31085) is None
        # the pod's first forward is untouched
        assert ("tcp", 31080) in firewall.forwarded_ports(settings)
    finally:
        server.close()


def test_tenants_are_isolated_and_the_host_is_out_of_reach(pods):
    net, settings, made = pods
    (_, att_a, ns_a), (_, _att_b, ns_b), (_, _att_c, ns_c) = made["a"], made["b"], made["c"]
    server = Server(ns_a, "0.0.0.0", 8080)
    host_services = [
        Server(net.host, str(settings.gateway), 9999),
        Server(net.host, OUTSIDE_HOST_IP, 9998),
    ]
    outside = Server(net.outside, OUTSIDE_IP, 7777)
    try:
        assert connect(ns_b, str(att_a.ip), 8080).startswith("hello")  # same framework
        assert connect(ns_c, str(att_a.ip), 8080) is None  # another framework
        # ... except through a published port, as from outside (masqueraded: hairpin)
        assert connect(ns_c, OUTSIDE_HOST_IP, 31080) == f"hello {settings.gateway}\n"
        assert connect(ns_b, OUTSIDE_HOST_IP, 31080) == f"hello {settings.gateway}\n"
        assert connect(ns_a, str(settings.gateway), 9999) is None  # the host's services
        assert connect(ns_a, OUTSIDE_HOST_IP, 9998) is None
        said = connect(ns_a, OUTSIDE_IP, 7777)  # egress, NATed to the host's address
        assert said == f"hello {OUTSIDE_HOST_IP}\n"
    finally:
        for srv in (server, outside, *host_services):
            srv.close()


def test_a_spoofed_source_address_is_dropped(pods):
    _net, _, made = pods
    (_, att_a, ns_a), (_, _att_b, ns_b) = made["a"], made["b"]
    server = Server(ns_a, "0.0.0.0", 8080)
    spoofed = att_a.ip + 100
    try:
        with_netlink(ns_b, lambda nl: nl.add_address(nl.index("eth0"), str(spoofed), 24))
        assert connect(ns_b, str(att_a.ip), 8080, source=str(spoofed)) is None
        assert connect(ns_b, str(att_a.ip), 8080, timeout=10.0) is not None  # on a busy host
    finally:
        server.close()


def test_isolation_none_lets_tenants_talk(tmp_path):
    with make_test_network() as net:
        settings = _settings(tmp_path, net.host, isolation="none")
        ids = [f"n{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
        try:
            nss = []
            for i, cid in enumerate(ids):
                att = net_isolator.setup(settings, cid, f"fw{i}", [])
                links.delete_tap(settings, att.tap)
                nss.append(
                    (
                        att,
                        fake_pod(
                            net,
                            att.tap,
                            att.ip,
                            att.prefixlen,
                            att.gateway,
                            att.mac,
                            settings.bridge,
                        ),
                    )
                )
            server = Server(nss[0][1], "0.0.0.0", 8080)
            try:
                assert connect(nss[1][1], str(nss[0][0].ip), 8080) is not None
            finally:
                server.close()
        finally:
            for cid in ids:
                net_isolator.teardown(settings, cid)


def test_teardown_leaves_only_the_base_and_a_taken_port_is_refused(tmp_path):
    with make_test_network() as net:
        settings = _settings(tmp_path, net.host)
        cid = "gone-" + uuid.uuid4().hex[:6]
        att = net_isolator.setup(settings, cid, "f1", [Forward("tcp", 31090, 80)])
        with pytest.raises(HyperError, match="already forwarded"):
            net_isolator.setup(settings, "other", "f1", [Forward("tcp", 31090, 80)])
        assert firewall.owned(settings) == {cid}
        assert ipam.lease_of(settings, "other") is None  # the failed setup undid itself
        # prepare gives the domain the attachment's NIC; cleanup takes all of it away
        tuning = isolators.prepare(isolators.Target(container_id=cid, network=att))
        assert tuning.interface == InterfaceSpec(att.tap, att.mac)
        isolator = net_isolator.NetIsolator(settings)
        isolator.cleanup(cid)
        isolator.cleanup(cid)  # idempotent
        assert firewall.owned(settings) == set()
        assert ipam.leases(settings) == {}
        assert att.tap not in links.list_taps(settings)  # (idle pool VMs have taps of their own)
        ruleset = subprocess.run(
            ["nsenter", f"--net=/run/netns/{net.host}", "nft", "-j", "list", "ruleset"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        sets = [i["set"]["name"] for i in json.loads(ruleset)["nftables"] if "set" in i]
        assert sets == ["blocked"]
