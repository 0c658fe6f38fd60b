import pytest

from service.ingest.urls import InvalidSourceError, parse_source
from tests.conftest import DATA


@pytest.mark.parametrize(
    ("url", "live"),
    [
        ("rtmp://live.example.com/app/key", True),
        ("rtsp://cam.example.com:554/stream", True),
        ("srt://ingest.example.com:9000", True),
        ("https://cdn.example.com/live/index.m3u8", True),
        ("http://cdn.example.com/clip.mp4", False),
    ],
)
def test_network_urls_are_classified(url, live):
    spec = parse_source(url, allow_local_files=False)
    assert (spec.live, spec.local, spec.url) == (live, False, url)


def test_local_file_accepted_only_when_enabled():
    path = str(DATA / "single_face.mp4")
    assert parse_source(path, allow_local_files=True).local
    with pytest.raises(InvalidSourceError, match="local files are disabled"):
        parse_source(path, allow_local_files=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x.mp4", "unsupported URL scheme 'ftp'"),
        ("gopher://x", "unsupported URL scheme"),
        ("rtmp:///nohost", "has no host"),
        ("   ", "url is empty"),
        ("/definitely/not/here.mp4", "no such file"),
    ],
)
def test_bad_urls_say_why(url, reason):
    with pytest.raises(InvalidSourceError, match=reason):
        parse_source(url, allow_local_files=True)
