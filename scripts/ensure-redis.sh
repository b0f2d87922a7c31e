#!/usr/bin/env bash
# Make sure `redis-server` is on the machine: the test suite starts its own server on a free
# loopback port (tests/conftest.py) and stops it by PID. Installs it with apt-get when root.
set -u
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-redis: installing redis-server with apt-get" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1 \
    || echo "ensure-redis: apt-get could not install redis-server" >&2
fi
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-redis: redis-server is missing; with CI=true the Redis tests will fail" >&2
  else
    echo "ensure-redis: redis-server is missing; the Redis tests will be skipped" >&2
  fi
fi
exit 0
