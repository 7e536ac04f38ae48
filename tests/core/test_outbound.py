"""The outbound policy (apps/core/outbound.py): what it refuses before any
connection, how it connects (pinned to the address it checked), and what it
does with the answer."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.core import outbound
from apps.core.checks import outbound_networks_check, outbound_relaxed_check

from .outbound_support import Listener, fake_dns, http_reply, production_rules


@pytest.fixture
def listener():
    server = Listener().start()
    yield server
    server.stop()


def _refused(url: str) -> outbound.RefusedDestination:
    with pytest.raises(outbound.RefusedDestination) as exc:
        outbound.check_url(url)
    return exc.value


# --- addresses --------------------------------------------------------------------

NOT_PUBLIC = [
    pytest.param("https://127.0.0.1/x", "loopback", id="loopback-v4"),
    pytest.param("https://127.8.9.10/x", "loopback", id="loopback-v4-range"),
    pytest.param("https://localhost/x", "loopback", id="localhost"),
    pytest.param("https://[::1]/x", "loopback", id="loopback-v6"),
    pytest.param("https://169.254.169.254/latest/meta-data/", "link-local", id="aws"),
    pytest.param("https://[fe80::1]/x", "link-local", id="link-local-v6"),
    pytest.param("https://[::ffff:127.0.0.1]/x", "loopback", id="mapped-loopback"),
    pytest.param("https://[::ffff:169.254.169.254]/", "link-local", id="mapped-meta"),
    pytest.param("https://[::ffff:a00:1]/x", "private", id="mapped-hex-private"),
    pytest.param("https://[::127.0.0.1]/x", "loopback", id="ipv4-compatible"),
    pytest.param("https://[2002:7f00:1::]/x", "loopback", id="6to4-loopback"),
    pytest.param("https://[64:ff9b::a9fe:a9fe]/x", "link-local", id="nat64-meta"),
    pytest.param("https://[64:ff9b:1::1]/x", "NAT64", id="nat64-local-use"),
    pytest.param("https://10.1.2.3/x", "private", id="10/8"),
    pytest.param("https://172.16.0.1/x", "private", id="172.16/12"),
    pytest.param("https://192.168.1.1/x", "private", id="192.168/16"),
    pytest.param("https://100.64.0.1/x", "shared", id="shared-100.64/10"),
    pytest.param("https://[fd00::1]/x", "private", id="unique-local"),
    pytest.param("https://[fec0::1]/x", "site-local", id="site-local"),
    pytest.param("https://0.0.0.0/x", "unspecified", id="unspecified-v4"),
    pytest.param("https://[::]/x", "unspecified", id="unspecified-v6"),
    pytest.param("https://224.0.0.1/x", "multicast", id="multicast-v4"),
    pytest.param("https://[ff02::1]/x", "multicast", id="multicast-v6"),
    pytest.param("https://240.0.0.1/x", "private", id="reserved-240/4"),
    pytest.param("https://192.0.2.10/x", "private", id="documentation"),
    pytest.param("https://2130706433/x", "loopback", id="decimal-loopback"),
    pytest.param("https://0177.0.0.1/x", "loopback", id="octal-loopback"),
]


@pytest.mark.parametrize(("url", "kind"), NOT_PUBLIC)
def test_a_url_at_a_non_public_address_is_refused(settings, url, kind):
    production_rules(settings)
    refused = _refused(url)
    assert refused.code == "address"
    assert "is a private or local address" in str(refused)
    assert kind in str(refused)


@pytest.mark.parametrize(("url", "kind"), NOT_PUBLIC[:8])
def test_a_request_to_a_non_public_address_is_refused_before_connecting(
    settings, monkeypatch, url, kind
):
    production_rules(settings)
    settings.OUTBOUND_ALLOW_HTTP = True

    def no_connection(*args, **kwargs):
        raise AssertionError("the policy connected")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    monkeypatch.setattr(
        "urllib3.util.connection.create_connection", no_connection, raising=True
    )
    with pytest.raises(outbound.RefusedDestination, match=kind):
        outbound.get(url)


def test_every_address_of_a_name_is_checked(settings, monkeypatch):
    production_rules(settings)
    fake_dns(monkeypatch, {"mixed.test": lambda: ["93.184.215.14", "10.0.0.5"]})
    refused = _refused("https://mixed.test/hook")
    assert "mixed.test (10.0.0.5) is a private or local address" in str(refused)


def test_a_public_address_passes_with_what_it_resolved_to(settings, monkeypatch):
    production_rules(settings)
    fake_dns(monkeypatch, {"hooks.test": lambda: ["93.184.215.14", "2606:2800::1"]})
    destination = outbound.check_url("https://hooks.test/sla?x=1#frag")
    assert [str(a) for a in destination.addresses] == ["93.184.215.14", "2606:2800::1"]
    assert destination.host_header == "hooks.test"
    assert destination.target == "/sla?x=1"
    assert outbound.check_url("https://[2606:4700::1111]:8443/").host_header == (
        "[2606:4700::1111]:8443"
    )


def test_mapped_forms_of_a_public_address_pass(settings):
    production_rules(settings)
    assert outbound.check_url("https://[::ffff:8.8.8.8]/").addresses
    assert outbound.check_url("https://[64:ff9b::808:808]/").addresses


# --- names that do not resolve, schemes, ports ------------------------------------


def test_an_unresolvable_name_is_refused_in_production(settings, monkeypatch):
    production_rules(settings)
    fake_dns(monkeypatch, {"metadata.google.internal": lambda: None})
    refused = _refused("https://metadata.google.internal/computeMetadata/v1/")
    assert refused.code == "unresolved"
    assert "does not resolve" in str(refused)


def test_an_unresolvable_name_passes_the_check_in_development_but_is_not_sent(
    settings, monkeypatch
):
    settings.DEV_MODE = True
    fake_dns(monkeypatch, {"later.test": lambda: None})
    assert outbound.check_url("https://later.test/x").addresses == ()
    with pytest.raises(outbound.RefusedDestination, match="does not resolve"):
        outbound.get("https://later.test/x")


@pytest.mark.parametrize("url", ["http://93.184.215.14/x", "ftp://93.184.215.14/x"])
def test_only_https_in_production(settings, url):
    production_rules(settings)
    refused = _refused(url)
    assert refused.code == "scheme"
    assert str(refused) == "URLs must use https."


def test_plain_http_where_the_setting_allows_it(settings):
    production_rules(settings)
    settings.OUTBOUND_ALLOW_HTTP = True
    assert outbound.check_url("http://93.184.215.14/x").scheme == "http"


@pytest.mark.parametrize("port", [22, 25, 389, 6])
def test_privileged_ports_other_than_80_and_443_are_refused(settings, port):
    production_rules(settings)
    refused = _refused(f"https://93.184.215.14:{port}/")
    assert refused.code == "port"
    assert f"Port {port} is not allowed" in str(refused)


@pytest.mark.parametrize("port", [443, 8443, 9000])
def test_https_ports_and_high_ports_pass(settings, port):
    production_rules(settings)
    assert outbound.check_url(f"https://93.184.215.14:{port}/").port == port


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@93.184.215.14/",
        "https://93.184.215.14:99999/",
        "https:///nohost",
        "https://93.184.215.14@127.0.0.1/",
    ],
)
def test_malformed_urls_are_refused(settings, url):
    production_rules(settings)
    assert _refused(url).code in {"invalid", "address"}


# --- the explicit allowance -------------------------------------------------------


def test_allowed_networks_let_a_named_local_address_through(settings):
    production_rules(settings)
    settings.OUTBOUND_ALLOW_NETWORKS = ["10.20.0.0/16"]
    assert outbound.check_url("https://10.20.1.2:22/").addresses
    assert _refused("https://10.21.0.1/").code == "address"
    assert _refused("https://127.0.0.1/").code == "address"


def test_a_bad_network_setting_is_a_configuration_error(settings):
    settings.OUTBOUND_ALLOW_NETWORKS = ["10.0.0.0/8", "intranet"]
    with pytest.raises(ImproperlyConfigured, match="OUTBOUND_ALLOW_NETWORKS"):
        outbound.check_url("https://93.184.215.14/")
    assert [e.id for e in outbound_networks_check()] == ["core.E001"]
    settings.OUTBOUND_ALLOW_NETWORKS = ["10.0.0.0/8"]
    assert outbound_networks_check() == []


def test_check_deploy_names_each_relaxation_in_production(settings):
    production_rules(settings)
    settings.PRODUCTION = True
    assert outbound_relaxed_check() == []
    settings.OUTBOUND_ALLOW_NETWORKS = ["10.20.0.0/16"]
    settings.OUTBOUND_ALLOW_HTTP = True
    found = outbound_relaxed_check()
    assert [f.id for f in found] == ["core.I002", "core.I003"]
    assert "10.20.0.0/16" in found[0].msg


# --- sending ----------------------------------------------------------------------


def test_a_request_is_refused_in_production_and_nothing_connects(settings, listener):
    production_rules(settings)
    settings.OUTBOUND_ALLOW_HTTP = True
    with pytest.raises(outbound.RefusedDestination, match="loopback"):
        outbound.post(f"http://127.0.0.1:{listener.port}/hook", json={"a": 1})
    time.sleep(0.1)
    assert listener.requests == []


def test_a_request_sends_its_body_and_reads_the_answer(listener):
    listener.reply = http_reply(
        "200 OK", b'{"ok": true}', {"Content-Type": "application/json"}
    )
    response = outbound.post(
        f"http://127.0.0.1:{listener.port}/hook?q=1",
        json={"a": 1},
        headers={"X-Test": "yes", "Host": "evil.example"},
    )
    assert response.ok
    assert response.json() == {"ok": True}
    assert response.headers["content-type"] == "application/json"
    (sent,) = listener.requests
    head = sent.decode("latin-1")
    assert head.startswith("POST /hook?q=1 HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{listener.port}\r\n" in head
    assert "evil.example" not in head
    assert "\r\nX-Test: yes\r\n" in head


def test_a_redirect_is_returned_not_followed(listener):
    elsewhere = Listener().start()
    try:
        listener.reply = http_reply(
            "302 Found", headers={"Location": f"http://127.0.0.1:{elsewhere.port}/"}
        )
        response = outbound.get(f"http://127.0.0.1:{listener.port}/start")
        assert response.status == 302
        assert response.is_redirect
        assert response.location == f"http://127.0.0.1:{elsewhere.port}/"
        time.sleep(0.1)
        assert len(listener.requests) == 1
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_an_oversize_answer_is_cut_with_an_error(listener):
    listener.reply = http_reply("200 OK", b"x" * 5000)
    with pytest.raises(outbound.ResponseTooLarge, match="more than 1000 bytes"):
        outbound.get(f"http://127.0.0.1:{listener.port}/", max_bytes=1000)
    assert outbound.get(f"http://127.0.0.1:{listener.port}/").content == b"x" * 5000


def test_an_oversize_answer_without_a_length_is_cut_while_reading(listener):
    chunk = b"1000\r\n" + b"y" * 4096 + b"\r\n"
    listener.reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunk * 5
        + b"0\r\n\r\n"
    )
    with pytest.raises(outbound.ResponseTooLarge):
        outbound.get(f"http://127.0.0.1:{listener.port}/", max_bytes=10_000)


def test_no_answer_in_time_is_a_timeout(listener):
    listener.reply = None
    started = time.monotonic()
    with pytest.raises(outbound.OutboundTimeout, match="did not answer in time"):
        outbound.get(f"http://127.0.0.1:{listener.port}/", timeout=(1.0, 0.3))
    assert time.monotonic() - started < 2


def test_a_closed_port_is_a_connection_error(listener):
    port = listener.port
    listener.stop()
    with pytest.raises(outbound.OutboundConnectionError, match="could not be reached"):
        outbound.get(f"http://127.0.0.1:{port}/")


# --- pinning ----------------------------------------------------------------------


@pytest.fixture
def two_hosts():
    """The same port on 127.0.0.2 (standing for a public address: the only
    one allowed) and on 127.0.0.1 (standing for the portal's own network)."""
    public = Listener(host="127.0.0.2").start()
    internal = Listener(host="127.0.0.1", port=public.port).start()
    yield public, internal
    public.stop()
    internal.stop()


def _rebinding(monkeypatch) -> list[str]:
    """rebind.test resolves to the allowed address once, then to the internal one."""
    answers = iter([["127.0.0.2"]])
    return fake_dns(monkeypatch, {"rebind.test": lambda: next(answers, ["127.0.0.1"])})


def test_a_request_connects_to_the_address_it_checked(settings, monkeypatch, two_hosts):
    public, internal = two_hosts
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.2/32"]
    looked_up = _rebinding(monkeypatch)
    response = outbound.get(f"http://rebind.test:{public.port}/x")
    assert response.status == 200
    assert looked_up.count("rebind.test") == 1
    (sent,) = public.requests
    assert f"\r\nHost: rebind.test:{public.port}\r\n" in sent.decode()
    time.sleep(0.1)
    assert internal.requests == []


def test_a_name_that_moved_to_an_internal_address_is_refused_at_send_time(
    settings, monkeypatch, two_hosts
):
    public, internal = two_hosts
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.2/32"]
    _rebinding(monkeypatch)
    url = f"http://rebind.test:{public.port}/x"
    assert outbound.check_url(url).addresses  # saved while it was public
    with pytest.raises(outbound.RefusedDestination, match=r"\(127\.0\.0\.1\)"):
        outbound.get(url)
    time.sleep(0.1)
    assert internal.requests == []
    assert public.requests == []


def test_tls_is_verified_for_the_host_of_the_url_not_the_address(
    settings, monkeypatch, tmp_path
):
    from .outbound_support import tls_server

    server = tls_server("idp.test", tmp_path)
    try:
        settings.OUTBOUND_CA_BUNDLE = str(server.ca_file)
        fake_dns(
            monkeypatch,
            {"idp.test": lambda: ["127.0.0.1"], "other.test": lambda: ["127.0.0.1"]},
        )
        response = outbound.get(f"https://idp.test:{server.port}/.well-known/x")
        assert response.content == b"ok"
        assert server.seen == [("idp.test", f"idp.test:{server.port}")]
        # The same address under another name: its certificate does not match.
        with pytest.raises(outbound.OutboundConnectionError):
            outbound.get(f"https://other.test:{server.port}/")
        assert len(server.seen) == 1
    finally:
        server.stop()


def test_tls_is_verified_against_the_ca_bundle(settings, monkeypatch, tmp_path):
    from .outbound_support import tls_server

    server = tls_server("idp.test", tmp_path)
    try:
        fake_dns(monkeypatch, {"idp.test": lambda: ["127.0.0.1"]})
        # Not signed by a CA of the default bundle.
        with pytest.raises(outbound.OutboundConnectionError, match="CERTIFICATE"):
            outbound.get(f"https://idp.test:{server.port}/")
        assert server.seen == []
    finally:
        server.stop()


# --- a requests session for libraries ---------------------------------------------


def test_a_library_session_goes_through_the_policy(settings, listener):
    listener.reply = http_reply("200 OK", b'{"issuer": "x"}')
    with outbound.requests_session() as session:
        answer = session.get(f"http://127.0.0.1:{listener.port}/.well-known/x")
        answer.raise_for_status()
        assert answer.json() == {"issuer": "x"}
        production_rules(settings)
        settings.OUTBOUND_ALLOW_HTTP = True
        with pytest.raises(outbound.SessionError, match="private or local"):
            session.get(f"http://127.0.0.1:{listener.port}/.well-known/x")
    assert len(listener.requests) == 1


def test_a_library_session_follows_no_redirect(listener):
    elsewhere = Listener().start()
    try:
        listener.reply = http_reply(
            "301 Moved", headers={"Location": f"http://127.0.0.1:{elsewhere.port}/"}
        )
        with outbound.requests_session() as session:
            with pytest.raises(outbound.RedirectNotFollowed, match="not followed"):
                session.get(f"http://127.0.0.1:{listener.port}/")
            with pytest.raises(outbound.SessionError):
                session.post(f"http://127.0.0.1:{listener.port}/", data={"a": "b"})
        time.sleep(0.1)
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_a_library_session_times_out_and_cuts_oversize_answers(listener):
    listener.reply = http_reply("200 OK", b"z" * 3000)
    url = f"http://127.0.0.1:{listener.port}/"
    with (
        outbound.requests_session(max_bytes=1000) as session,
        pytest.raises(outbound.SessionError, match="more than 1000 bytes"),
    ):
        session.get(url)
    listener.reply = None
    with (
        outbound.requests_session() as session,
        pytest.raises(outbound.SessionError, match="in time"),
    ):
        session.get(url, timeout=0.3)


# --- production settings ----------------------------------------------------------


def test_production_settings_are_the_rules_the_tests_call_production():
    from .test_settings import PRODUCTION_ENV, manage

    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.DEV_MODE, s.OUTBOUND_ALLOW_HTTP, s.OUTBOUND_ALLOW_NETWORKS)",
        env=PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "False False []"


def test_check_deploy_names_relaxed_outbound_rules_without_failing():
    from .test_settings import PRODUCTION_ENV, manage

    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            **PRODUCTION_ENV,
            "OUTBOUND_ALLOW_NETWORKS": "10.20.0.0/16",
            "OUTBOUND_ALLOW_HTTP": "1",
        },
    )
    output = result.stderr + result.stdout
    assert result.returncode == 0, output
    assert "core.I002" in output
    assert "10.20.0.0/16" in output
    assert "core.I003" in output
