"""Stream URLs: classification, the address policy in every spelling of loopback, local files confined to the
media directories with one answer for missing and forbidden, and credentials redacted."""

import ipaddress

import pytest

from service.ingest.address_policy import AddressPolicy, is_public
from service.ingest.urls import NO_FILE, InvalidSourceError, SourcePolicy, parse_source, pinned_url, redact_url
from tests.conftest import DATA

ANY_ADDRESS = SourcePolicy(addresses=None)  # classification only: example.com names do not resolve offline
LOOPBACK_OK = SourcePolicy(addresses=AddressPolicy.parse(["127.0.0.0/8", "::1/128"]))


@pytest.mark.parametrize(
    ("url", "live"),
    [
        ("rtmp://live.example.com/app/key", True),
        ("rtsp://cam.example.com:554/stream", True),
        ("udp://239.0.0.1:1234", True),
        ("https://cdn.example.com/live/index.m3u8", True),
        ("http://cdn.example.com/clip.mp4", False),
    ],
)
def test_network_urls_are_classified(url, live):
    spec = parse_source(url, ANY_ADDRESS)
    assert (spec.live, spec.local, spec.url) == (live, False, url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://[::1]:6379/",
        "http://127.1/",
        "http://0.0.0.0:6379/",
        "http://2130706433/",  # decimal
        "http://0x7f000001/",  # hex
        "http://0177.0.0.1/",  # octal
        "http://0x7f.1/",
        "HTTP://LOCALHOST/",
        "http://localhost./",
        "https://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
        "https://[::ffff:7f00:1]/",
        "http://[::]/",
        "rtmp://127.0.0.1/live/key",
        "RTSP://127.0.0.1:8554/cam",
        "udp://127.0.0.1:9000",
        "http://user:pw@127.0.0.1/x.m3u8",
    ],
)
def test_loopback_in_every_spelling_is_refused_by_default(url):
    with pytest.raises(InvalidSourceError, match="stream URL refused") as refused:
        parse_source(url, SourcePolicy())
    assert "pw" not in str(refused.value)


def test_an_allow_list_admits_a_network_and_pinning_connects_to_the_checked_address():
    spec = parse_source("rtmp://user:pw@localhost:1935/live/key", LOOPBACK_OK)
    assert pinned_url(spec) in {"rtmp://user:pw@127.0.0.1:1935/live/key", "rtmp://user:pw@[::1]:1935/live/key"}
    assert pinned_url(parse_source("rtsp://127.0.0.1/cam", LOOPBACK_OK)) == "rtsp://127.0.0.1/cam"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("0.0.0.0", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
    ],
)
def test_only_globally_routable_unicast_is_public(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


def test_a_name_that_does_not_resolve_is_refused_with_that_reason():
    with pytest.raises(InvalidSourceError, match="does not resolve"):
        parse_source("http://no-such-host.invalid/x.mp4", SourcePolicy())


def test_local_files_are_off_by_default_and_confined_to_the_media_dirs(tmp_path):
    path = str(DATA / "single_face.mp4")
    with pytest.raises(InvalidSourceError, match="local files are disabled"):
        parse_source(path, SourcePolicy())
    inside = SourcePolicy(local_files=True, media_dirs=(DATA,))
    assert parse_source(path, inside).local
    assert parse_source(f"file://{path}", inside).local
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(b"x")
    (tmp_path / "link.mp4").symlink_to("/etc/hostname")
    answers = set()
    for probe in (
        "/etc/shadow",
        "/etc/hostname",
        "/proc/self/environ",
        "/dev/zero",
        f"{DATA}/../../etc/passwd",
        f"{DATA}/../conftest.py",
        str(outside),
        f"{DATA}/missing.mp4",
        str(DATA),  # a directory
    ):
        with pytest.raises(InvalidSourceError) as refused:
            parse_source(probe, inside)
        answers.add(str(refused.value))
    assert answers == {NO_FILE}  # "missing" and "not allowed" cannot be told apart
    with pytest.raises(InvalidSourceError, match=NO_FILE):
        parse_source(str(tmp_path / "link.mp4"), SourcePolicy(local_files=True, media_dirs=(tmp_path,)))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x.mp4", "unsupported URL scheme 'ftp'"),
        ("gopher://x", "unsupported URL scheme"),
        ("rtmp:///nohost", "has no host"),
        ("   ", "url is empty"),
        ("http://[::1/x", "malformed URL"),
        ("http://example.com:99999/x", "malformed URL"),
        ("http://exa\nmple.com/", "control characters"),
        ("/definitely/not/here.mp4", "no such file"),
        ("udp://203.0.113.5:1234?fifo_size=1000000000", "udp URL options"),  # FFmpeg's own socket options
        ("rtp://203.0.113.5:5004?localport=6379", "rtp URL options"),
    ],
)
def test_bad_urls_say_why(url, reason):
    with pytest.raises(InvalidSourceError, match=reason):
        parse_source(url, SourcePolicy.operator())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtmp://user:secret@host/app/stream", "rtmp://***@host/app/stream"),
        ("https://cdn.example.com/live.m3u8?token=abc&q=1", "https://cdn.example.com/live.m3u8?token=***&q=1"),
        ("https://h/x?X-Amz-Signature=abc", "https://h/x?X-Amz-Signature=***"),
        ("http://h/x.mp4", "http://h/x.mp4"),
        ("/media/clip.mp4", "/media/clip.mp4"),
    ],
)
def test_credentials_are_redacted_for_display(url, shown):
    assert redact_url(url) == shown


def test_srt_is_refused_at_once_because_pyav_ffmpeg_lacks_it():
    import av

    with pytest.raises(InvalidSourceError, match="SRT is not in this build"):
        parse_source("srt://ingest.example.com:9000", ANY_ADDRESS)
    with pytest.raises(av.error.ProtocolNotFoundError):  # when a wheel brings libsrt, allow srt:// again
        av.open("srt://127.0.0.1:9", timeout=1)
