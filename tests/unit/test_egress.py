"""The egress policy (core/egress.py): which destinations a webhook may reach, and the send
path that dials exactly the address it checked."""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from nexq.cli.tls import self_signed
from nexq.core import egress
from nexq.core.egress import Egress, IPAddress, Refused, Undelivered, parse_networks, why_not_public

REFUSED = {
    "0.0.0.0": "an unspecified address",  # noqa: S104 - an address judged, not bound
    "0.1.2.3": "a 'this network' address",
    "10.0.0.5": "a private address",
    "172.16.0.1": "a private address",
    "172.31.255.255": "a private address",
    "192.168.1.1": "a private address",
    "127.0.0.1": "a loopback address",
    "127.255.0.9": "a loopback address",
    "169.254.169.254": "a link-local address",
    "100.64.0.1": "a shared (carrier-grade NAT) address",
    "100.127.255.254": "a shared (carrier-grade NAT) address",
    "224.0.0.1": "a multicast address",
    "239.1.1.1": "a multicast address",
    "192.0.0.8": "a reserved address",
    "192.0.2.1": "a reserved address",
    "198.18.0.1": "a reserved address",
    "198.51.100.7": "a reserved address",
    "203.0.113.7": "a reserved address",
    "240.0.0.1": "a reserved address",
    "255.255.255.255": "a reserved address",
    "::": "an unspecified address",
    "::1": "a loopback address",
    "fe80::1": "a link-local address",
    "fc00::1": "a private address",
    "fd12:3456::1": "a private address",
    "fec0::1": "a site-local address",
    "ff02::1": "a multicast address",
    "ff0e::1": "a multicast address",
    "2001:db8::1": "a reserved address",
    "100::1": "a reserved address",
    "2001::1": "a reserved address",  # Teredo
    "::127.0.0.1": "a reserved address",  # IPv4-compatible (deprecated)
    "::ffff:127.0.0.1": "an IPv4-mapped IPv6 address",
    "::ffff:8.8.8.8": "an IPv4-mapped IPv6 address",
    "::ffff:169.254.169.254": "an IPv4-mapped IPv6 address",
    "64:ff9b::a00:5": "a gateway to 10.0.0.5, a private address",
    "64:ff9b::a9fe:a9fe": "a gateway to 169.254.169.254, a link-local address",
    "2002:7f00:1::": "a gateway to 127.0.0.1, a loopback address",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "64:ff9b::808:808"]


@pytest.mark.parametrize(("text", "reason"), sorted(REFUSED.items()))
def test_every_non_public_range_is_refused(text: str, reason: str) -> None:
    assert why_not_public(ipaddress.ip_address(text)) == reason


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_pass(text: str) -> None:
    assert why_not_public(ipaddress.ip_address(text)) is None
    Egress().check(f"http://{text if ':' not in text else f'[{text}]'}/hook")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.5/x", "10.0.0.5 is a private address; Nexq only posts to public addresses"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("http://127.0.0.1:9000/", "127.0.0.1 is a loopback address"),
        ("http://[::1]:8080/", "::1 is a loopback address"),
        ("http://[::ffff:10.0.0.1]/", "an IPv4-mapped IPv6 address"),
        ("http://localhost:8080/", "localhost is a loopback name"),
        ("http://api.localhost./", "api.localhost. is a loopback name"),
        ("http://LocalHost/", "localhost is a loopback name"),
        ("http://2130706433/", "write an IPv4 address as four decimal numbers"),
        ("http://0x7f.1/", "write an IPv4 address as four decimal numbers"),
        ("http://127.1/", "write an IPv4 address as four decimal numbers"),
        ("http://127.0.0.1./", "is not a host name"),
        ("http://user:pw@hooks.example/", "no user name or password"),
        ("http://hooks.example\\@127.0.0.1/", "no user name or password"),
        ("ftp://hooks.example/", "an http(s) URL"),
        ("file:///etc/passwd", "an http(s) URL"),
        ("http:///x", "an http(s) URL"),
        ("http://hooks.example:0/", "port 0"),
        ("http://hooks.example:99999/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
        ("http://ho ok.example/", "is not a host name"),
    ],
)
def test_set_time_check_refuses_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(Refused) as refused:
        Egress().check(url)
    assert message in refused.value.reason


def test_set_time_check_does_not_resolve_names() -> None:
    def resolver(host: str, port: int) -> list[IPAddress]:
        raise AssertionError("resolved at set time")

    destination = Egress(resolver=resolver).check("https://Hooks.Example:8443/a b?t=1 2#frag")
    assert (destination.host, destination.port) == ("hooks.example", 8443)
    assert destination.target == "/a%20b?t=1%202"
    assert destination.authority == "hooks.example:8443"
    assert Egress().check("https://bücher.example/").host == "xn--bcher-kva.example"


def test_the_allow_list_admits_only_what_it_names() -> None:
    allowed = Egress(parse_networks(["127.0.0.1", "10.1.0.0/16"]))
    allowed.check("http://127.0.0.1:8080/")
    allowed.check("http://10.1.2.3/")
    with pytest.raises(Refused, match=r"10\.2\.0\.1 is a private address"):
        allowed.check("http://10.2.0.1/")
    with pytest.raises(Refused, match=r"127\.0\.0\.2 is a loopback address"):
        allowed.check("http://127.0.0.2/")
    # localhost may also be ::1, which the list does not name.
    with pytest.raises(Refused, match="localhost is a loopback name"):
        allowed.check("http://localhost/")
    Egress(parse_networks(["127.0.0.0/8", "::1"])).check("http://localhost/")


def fixed(*addresses: str) -> Any:
    """A resolver that answers ``addresses`` for every name and counts its calls."""

    def resolver(host: str, port: int) -> list[IPAddress]:
        resolver.calls.append(host)  # type: ignore[attr-defined]
        return [ipaddress.ip_address(a) for a in addresses]

    resolver.calls = []  # type: ignore[attr-defined]
    return resolver


@pytest.mark.parametrize(
    "addresses",
    [
        ("93.184.216.34", "10.0.0.7"),
        ("10.0.0.7", "93.184.216.34"),
        ("2606:2800:220:1::1", "::1"),
        ("93.184.216.34", "::ffff:127.0.0.1"),
        ("169.254.169.254",),
    ],
)
def test_a_name_with_any_non_public_address_is_refused_at_send(addresses: tuple[str, ...]) -> None:
    resolver = fixed(*addresses)
    with pytest.raises(Refused, match=r"hooks\.example resolves to .*; Nexq only posts"):
        Egress(resolver=resolver).post_json("http://hooks.example/x", {"a": 1})
    assert resolver.calls == ["hooks.example"]


def test_a_name_that_does_not_resolve_is_undelivered() -> None:
    def resolver(host: str, port: int) -> list[IPAddress]:
        raise socket.gaierror("no such name")

    with pytest.raises(Undelivered, match="does not resolve"):
        Egress(resolver=resolver).post_json("http://hooks.invalid/x", {})


class Receiver(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, str]] = []
    status = 204

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        body = self.rfile.read(length).decode()
        Receiver.requests.append((self.path, self.headers["host"], body))
        self.send_response(Receiver.status)
        if Receiver.status in (301, 302, 307, 308):
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.requests, Receiver.status = [], 204
    httpd = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


LOCAL = parse_networks(["127.0.0.1"])


def test_the_send_dials_the_checked_address_and_keeps_the_name(receiver: int) -> None:
    resolver = fixed("127.0.0.1")
    sender = Egress(LOCAL, resolver=resolver)
    sender.post_json(f"http://hooks.example:{receiver}/hook?token=t", {"event": "x"})
    assert Receiver.requests == [("/hook?token=t", f"hooks.example:{receiver}", '{"event": "x"}')]
    assert resolver.calls == ["hooks.example"]  # resolved once, never again by the client


def test_the_same_url_is_refused_without_the_allow_list(receiver: int) -> None:
    with pytest.raises(Refused, match=r"127\.0\.0\.1 is a loopback address"):
        Egress().post_json(f"http://127.0.0.1:{receiver}/hook", {})
    with pytest.raises(Refused, match="localhost is a loopback name"):
        Egress().post_json(f"http://localhost:{receiver}/hook", {})
    assert Receiver.requests == []


def test_redirects_are_not_followed(receiver: int) -> None:
    Receiver.status = 302
    with pytest.raises(Undelivered, match="answered HTTP 302"):
        Egress(LOCAL).post_json(f"http://127.0.0.1:{receiver}/hook", {})
    assert len(Receiver.requests) == 1


def test_an_error_status_is_undelivered(receiver: int) -> None:
    Receiver.status = 500
    with pytest.raises(Undelivered, match="answered HTTP 500"):
        Egress(LOCAL).post_json(f"http://127.0.0.1:{receiver}/hook", {})


def test_a_closed_port_is_undelivered() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Undelivered, match="could not connect"):
        Egress(LOCAL).post_json(f"http://127.0.0.1:{port}/hook", {})


def test_a_dripping_receiver_is_cut_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(egress, "DEADLINE_SECONDS", 1.0)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.2):  # a header byte now and then, never the end
                try:
                    conn.sendall(b"X")
                except OSError:
                    return

    threading.Thread(target=drip, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(Undelivered, match="timed out"):
            Egress(LOCAL).post_json(f"http://127.0.0.1:{listener.getsockname()[1]}/", {})
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 3


def test_tls_verifies_the_name_while_dialling_the_pinned_address(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "hooks.example")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    httpd = HTTPServer(("127.0.0.1", 0), Receiver)
    httpd.socket = server_tls.wrap_socket(httpd.socket, server_side=True)
    Receiver.requests, Receiver.status = [], 204
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        Egress(LOCAL, resolver=fixed("127.0.0.1"), tls=trust).post_json(
            f"https://hooks.example:{port}/tls", {"ok": True}
        )
        assert names == ["hooks.example"]
        assert Receiver.requests[-1][:2] == ("/tls", f"hooks.example:{port}")
        # A name the certificate does not carry fails verification: no silent downgrade.
        with pytest.raises(Undelivered):
            Egress(LOCAL, resolver=fixed("127.0.0.1"), tls=trust).post_json(
                f"https://other.example:{port}/tls", {}
            )
    finally:
        httpd.shutdown()
        httpd.server_close()


class ForwardProxy(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []
    logins: list[str | None] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        ForwardProxy.seen.append((self.path, self.headers["host"]))
        ForwardProxy.logins.append(self.headers.get("proxy-authorization"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_with_a_proxy_names_are_left_to_it_but_written_addresses_are_not() -> None:
    httpd = HTTPServer(("127.0.0.1", 0), ForwardProxy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    ForwardProxy.seen = []

    def resolver(host: str, port: int) -> list[IPAddress]:
        raise AssertionError("the proxy resolves, not Nexq")

    proxy = f"http://127.0.0.1:{httpd.server_address[1]}"
    sender = Egress(proxy=proxy, resolver=resolver)
    try:
        sender.post_json("http://hooks.example/hook?t=1", {})
        assert ForwardProxy.seen == [("http://hooks.example/hook?t=1", "hooks.example")]
        with pytest.raises(Refused, match=r"10\.0\.0\.5 is a private address"):
            sender.post_json("http://10.0.0.5/hook", {})
        with pytest.raises(Refused, match="localhost is a loopback name"):
            sender.post_json("http://localhost/hook", {})
        assert len(ForwardProxy.seen) == 1
        port = httpd.server_address[1]
        Egress(proxy=f"http://nexq:p%40ss@127.0.0.1:{port}").post_json("http://hooks.example/", {})
        assert ForwardProxy.logins == [None, "Basic " + base64.b64encode(b"nexq:p@ss").decode()]
    finally:
        httpd.shutdown()
        httpd.server_close()
