"""A guarding HTTP proxy on loopback through which FFmpeg makes every HTTP(S) connection of a stream.

FFmpeg opens URLs itself: an HLS playlist names variant playlists, segments and keys on any host, and HTTP
redirects go anywhere. Checking only the URL a user gave would leave all of those open. So each worker
runs this proxy and hands it to FFmpeg as ``http_proxy`` (which FFmpeg passes on to every nested open,
HLS included): plain HTTP arrives as ``GET http://host/...``, HTTPS as ``CONNECT host:443``. For each
connection the proxy resolves the host, refuses it unless the ``AddressPolicy`` allows every address it
resolves to, and connects to the checked address itself, so a DNS answer that changes between check and
connect (rebinding) cannot redirect it. TLS stays end to end (CONNECT is a byte tunnel).
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import socketserver
import threading
from urllib.parse import urlsplit

from service.ingest.address_policy import AddressPolicy, AddressRefused

log = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024
_HOP_BY_HOP = (b"proxy-connection:", b"proxy-authorization:", b"connection:", b"keep-alive:")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, policy: AddressPolicy, timeout_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.policy = policy
        self.timeout_s = timeout_s
        self.refused = 0  # connections refused by the policy (a metric and a test hook)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(self.server.timeout_s)
        try:
            head, rest = _read_head(client)
            method, target, version = head.split(b"\r\n", 1)[0].split(b" ", 2)
            if method == b"CONNECT":
                host, port = _split_host_port(target.decode("latin-1"), 443)
                upstream = self._connect(client, host, port)
                if upstream is not None:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    _relay(client, upstream, self.server.timeout_s, rest)
                return
            url = urlsplit(target.decode("latin-1"))
            if url.scheme != "http" or not url.hostname:
                client.sendall(_response(400, "only absolute http:// URLs or CONNECT"))
                return
            upstream = self._connect(client, url.hostname, url.port or 80)
            if upstream is not None:
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                first = b"%s %s %s\r\n" % (method, path.encode("latin-1"), version)
                _relay(client, upstream, self.server.timeout_s, first + _rewrite_headers(head) + rest)
        except (OSError, ValueError) as exc:
            log.debug("egress proxy: %s", exc)
        finally:
            client.close()

    def _connect(self, client: socket.socket, host: str, port: int) -> socket.socket | None:
        try:
            address = self.server.policy.resolve(host, port)
        except AddressRefused as exc:
            self.server.refused += 1
            log.warning("egress refused: %s", exc)
            client.sendall(_response(403, "address not allowed"))
            return None
        try:
            return socket.create_connection((str(address), port), timeout=self.server.timeout_s)
        except OSError:
            client.sendall(_response(502, "could not connect"))
            return None


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The request head (up to the blank line) and whatever arrived after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > _MAX_HEAD:
            raise ValueError("incomplete or oversized request head")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def _split_host_port(authority: str, default_port: int) -> tuple[str, int]:
    parsed = urlsplit(f"//{authority}")
    if not parsed.hostname:
        raise ValueError(f"no host in {authority!r}")
    return parsed.hostname, parsed.port or default_port


def _rewrite_headers(head: bytes) -> bytes:
    """The original headers without hop-by-hop ones, with ``Connection: close`` so that one client connection
    serves one checked upstream (a kept-alive connection cannot be reused for another host)."""
    lines = head.split(b"\r\n")[1:]
    kept = [line for line in lines if not line.lower().startswith(_HOP_BY_HOP)]
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n"


def _response(status: int, reason: str) -> bytes:
    body = reason.encode()
    return b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
        status,
        reason.encode(),
        len(body),
        body,
    )


def _relay(client: socket.socket, upstream: socket.socket, timeout_s: float, first: bytes) -> None:
    """Copies bytes both ways until either side closes or nothing moves for ``timeout_s``."""
    with upstream, selectors.DefaultSelector() as selector:
        if first:
            upstream.sendall(first)
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while True:
            events = selector.select(timeout=timeout_s)
            if not events:
                return
            for key, _ in events:
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                key.data.sendall(data)


class EgressProxy:
    """The proxy of one worker process: ``start()``, hand ``url`` to FFmpeg, ``stop()``."""

    def __init__(self, policy: AddressPolicy, timeout_s: float = 30.0) -> None:
        self._server = _Server(policy, timeout_s)
        self._thread = threading.Thread(target=self._server.serve_forever, name="egress-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def refused(self) -> int:
        return self._server.refused

    def start(self) -> EgressProxy:
        # FFmpeg skips the proxy for hosts named in no_proxy: in this process, nothing may skip it
        for name in ("no_proxy", "NO_PROXY"):
            os.environ.pop(name, None)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
