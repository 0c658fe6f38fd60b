"""Validate a user-given stream URL and tell live sources from files, before anything is opened.

``SourcePolicy`` says what a URL may point at. The API and the workers use the deployment's policy: network
hosts must resolve to allowed addresses (``address_policy``), local files are off unless switched on, and then
only regular files under the media directories, with one answer for "missing" and "not allowed" so a caller
cannot probe the file system. The command-line tools an operator runs on their own machine use
``SourcePolicy.operator()``: any file, any address.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from service.config import Settings
from service.ingest.address_policy import AddressPolicy, AddressRefused, IPAddress, host_literal

LIVE_SCHEMES = frozenset({"rtmp", "rtmps", "rtsp", "rtsps", "udp", "rtp"})
PACKET_SCHEMES = frozenset({"udp", "rtp"})  # their query string is FFmpeg's socket options
# Schemes FFmpeg knows but the FFmpeg inside PyAV's wheel was built without: refused at once with a reason,
# rather than failing later in the worker with "Protocol not found" (a test checks they are still missing).
NOT_BUILT_IN = {"srt": "SRT is not in this build of FFmpeg (PyAV's wheel has no libsrt); publish over RTMP or RTSP"}
HTTP_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443, "rtmp": 1935, "rtmps": 443, "rtsp": 554, "rtsps": 322}
_SECRET_PARAMS = ("token", "key", "pass", "secret", "auth", "sig", "signature", "credential")
_SYSTEM_DIRS = (Path("/proc"), Path("/sys"), Path("/dev"))
NO_FILE = "no such file in the media directories"


class InvalidSourceError(ValueError):
    """The URL cannot be accepted; the message says why, for the API's 422 answer."""


@dataclass(frozen=True)
class SourcePolicy:
    """What stream URLs may point at. ``addresses`` None: any address (the operator's own tools)."""

    addresses: AddressPolicy | None = field(default_factory=AddressPolicy)
    local_files: bool = False
    media_dirs: tuple[Path, ...] = ()  # with local_files: the only places files may come from; () = anywhere

    @classmethod
    def operator(cls) -> SourcePolicy:
        return cls(addresses=None, local_files=True)

    @classmethod
    def of(cls, settings: Settings) -> SourcePolicy:
        """The deployment's policy, for the API and the workers."""
        return cls(
            addresses=AddressPolicy.parse(settings.source_allow_networks),
            local_files=settings.allow_local_files,
            media_dirs=tuple(settings.media_dirs),
        )


@dataclass(frozen=True)
class SourceSpec:
    url: str  # what is handed to FFmpeg (credentials included)
    live: bool  # reconnect on end/error instead of ending
    local: bool  # a path on this machine
    addresses: AddressPolicy | None = None  # re-checked on every (re)connect; None: not guarded

    @property
    def scheme(self) -> str:
        return "file" if self.local else urlsplit(self.url).scheme.lower()


def parse_source(url: str, policy: SourcePolicy) -> SourceSpec:
    """Classifies ``url``; raises InvalidSourceError for schemes, paths, forms or addresses not taken."""
    url = url.strip()
    if not url:
        raise InvalidSourceError("url is empty")
    if any(ord(c) < 32 for c in url):
        raise InvalidSourceError("url contains control characters")
    try:
        parsed = urlsplit(url)
        port = parsed.port
    except ValueError as exc:
        raise InvalidSourceError(f"malformed URL: {exc}") from exc
    scheme = parsed.scheme.lower()
    if scheme in NOT_BUILT_IN:
        raise InvalidSourceError(NOT_BUILT_IN[scheme])
    if scheme in LIVE_SCHEMES | HTTP_SCHEMES:
        if not parsed.hostname:
            raise InvalidSourceError(f"{scheme} URL has no host")
        if scheme in PACKET_SCHEMES and parsed.query:
            # FFmpeg reads these as its own socket options (localaddr, localport, fifo_size, …): a caller
            # could bind the worker's ports or make it allocate gigabytes
            raise InvalidSourceError(f"{scheme} URL options (?…) are not accepted; send the stream without them")
        if policy.addresses is not None:
            try:
                policy.addresses.resolve(parsed.hostname, port or DEFAULT_PORTS.get(scheme, 0))
            except AddressRefused as exc:
                raise InvalidSourceError(f"stream URL refused: {exc}") from exc
        live = scheme in LIVE_SCHEMES or parsed.path.lower().endswith(".m3u8")
        return SourceSpec(url, live=live, local=False, addresses=policy.addresses)
    if scheme in {"", "file"}:
        return SourceSpec(str(_local_file(parsed.path if scheme == "file" else url, policy)), live=False, local=True)
    allowed = sorted(LIVE_SCHEMES | HTTP_SCHEMES | {"file"})
    raise InvalidSourceError(f"unsupported URL scheme {scheme!r}; use one of {allowed}")


def _local_file(raw: str, policy: SourcePolicy) -> Path:
    if not policy.local_files:
        raise InvalidSourceError("local files are disabled on this server (EMOTION_ALLOW_LOCAL_FILES=false)")
    try:
        path = Path(raw).expanduser().resolve()  # symlinks and ../ resolved before the checks below
        mode = path.stat().st_mode
    except (OSError, RuntimeError, ValueError) as exc:
        raise InvalidSourceError(NO_FILE if policy.media_dirs else f"no such file: {raw}") from exc
    inside = not policy.media_dirs or any(path.is_relative_to(d.resolve()) for d in policy.media_dirs)
    system = any(path.is_relative_to(d) for d in _SYSTEM_DIRS)
    if not stat.S_ISREG(mode) or not inside or (policy.media_dirs and system):
        raise InvalidSourceError(NO_FILE if policy.media_dirs else f"not a regular file: {raw}")
    return path


def pinned_url(spec: SourceSpec) -> str:
    """The URL with its host replaced by the address just checked, for protocols FFmpeg opens without a proxy
    (RTMP, RTSP, SRT, UDP/RTP): resolved and checked at every (re)connect, then connected to by address."""
    parsed = urlsplit(spec.url)
    if spec.addresses is None or parsed.hostname is None:
        return spec.url
    try:
        address = spec.addresses.resolve(parsed.hostname, parsed.port or DEFAULT_PORTS.get(parsed.scheme.lower(), 0))
    except AddressRefused as exc:
        raise InvalidSourceError(f"stream URL refused: {exc}") from exc
    return urlunsplit(parsed._replace(netloc=_netloc(parsed, address)))


def _netloc(parsed: SplitResult, address: IPAddress) -> str:
    userinfo = parsed.netloc.rpartition("@")[0]
    port = f":{parsed.port}" if parsed.port else ""
    return f"{userinfo}@{host_literal(address)}{port}" if userinfo else f"{host_literal(address)}{port}"


_USERINFO = re.compile(r"([a-zA-Z][\w+.-]*://)[^/@\s'\"]+@")


def redact_text(text: str) -> str:
    """Any ``scheme://user:pass@`` in a message (FFmpeg's errors quote the URL they opened) as ``scheme://***@``."""
    return _USERINFO.sub(r"\1***@", text)


def redact_url(url: str) -> str:
    """The URL for display, logs and metrics: user info and secret-looking query values replaced by ``***``."""
    try:
        parsed = urlsplit(url)
    except ValueError:
        return "***"
    if not parsed.scheme or len(parsed.scheme) == 1:
        return url  # a local path
    netloc = parsed.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = parsed.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        secret = [(k, "***" if any(s in k.lower() for s in _SECRET_PARAMS) else v) for k, v in pairs]
        query = urlencode(secret, safe="*/:")
    return urlunsplit(parsed._replace(netloc=netloc, query=query))
