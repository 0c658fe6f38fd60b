"""Validate a user-given stream URL and tell live sources from files, before anything is opened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

LIVE_SCHEMES = frozenset({"rtmp", "rtmps", "rtsp", "rtsps", "srt", "udp", "rtp"})
HTTP_SCHEMES = frozenset({"http", "https"})


class InvalidSourceError(ValueError):
    """The URL cannot be accepted; the message says why, for the API's 422 answer."""


@dataclass(frozen=True)
class SourceSpec:
    url: str  # what is handed to FFmpeg
    live: bool  # reconnect on end/error instead of ending
    local: bool  # a path on this machine


def parse_source(url: str, allow_local_files: bool) -> SourceSpec:
    """Classifies ``url``; raises InvalidSourceError for schemes, paths or forms the service does not take."""
    url = url.strip()
    if not url:
        raise InvalidSourceError("url is empty")
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in LIVE_SCHEMES:
        if not parsed.hostname:
            raise InvalidSourceError(f"{scheme} URL has no host")
        return SourceSpec(url, live=True, local=False)
    if scheme in HTTP_SCHEMES:
        if not parsed.hostname:
            raise InvalidSourceError("http(s) URL has no host")
        return SourceSpec(url, live=parsed.path.lower().endswith(".m3u8"), local=False)
    if scheme in {"", "file"} or (len(scheme) == 1 and url[1:3] in {":\\", ":/"}):
        if not allow_local_files:
            raise InvalidSourceError("local files are disabled on this server (EMOTION_ALLOW_LOCAL_FILES=false)")
        path = Path(parsed.path if scheme == "file" else url).expanduser()
        if not path.is_file():
            raise InvalidSourceError(f"no such file: {path}")
        return SourceSpec(str(path.resolve()), live=False, local=True)
    allowed = sorted(LIVE_SCHEMES | HTTP_SCHEMES | {"file"})
    raise InvalidSourceError(f"unsupported URL scheme {scheme!r}; use one of {allowed}")
