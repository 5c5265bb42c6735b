#!/usr/bin/env bash
# Makes sure a local PostgreSQL server is running and that the current OS user can connect
# to it over the Unix socket as a superuser (Mandate's default DATABASE_URL). It is what
# `make run` and `make test` call first, so both work on a fresh Debian/Ubuntu machine:
#   - a server already accepting connections is left alone;
#   - an installed but stopped cluster is started;
#   - when PostgreSQL is not installed at all, it is installed with apt-get (said loudly).
# With DATABASE_URL set to a remote server, nothing is done.
set -euo pipefail

if [ -n "${DATABASE_URL:-}" ] && [[ "$DATABASE_URL" != *"localhost"* && "$DATABASE_URL" != *"127.0.0.1"* && "$DATABASE_URL" == *"@"* ]]; then
  exit 0 # a remote server: not ours to manage
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sudo -u postgres sh -c "$*"; fi; }

ready() { pg_isready -q -h /var/run/postgresql 2>/dev/null || pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo ">>> PostgreSQL is not installed: installing the 'postgresql' package with apt-get" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi

if ! ready; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
  if ! ls /etc/postgresql/"$version"/main >/dev/null 2>&1; then
    echo ">>> creating PostgreSQL $version cluster 'main'" >&2
    as_root pg_createcluster "$version" main >/dev/null
  fi
  echo ">>> starting PostgreSQL $version cluster 'main'" >&2
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 50); do ready && break; sleep 0.2; done
  ready || { echo "PostgreSQL did not become ready" >&2; exit 1; }
fi

# The default DATABASE_URL connects over the socket as the current OS user (peer auth on a
# stock Debian install), so that role must exist and may create databases.
me=$(id -un)
if ! psql -h /var/run/postgresql -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  echo ">>> creating PostgreSQL superuser role '$me'" >&2
  as_postgres "psql -h /var/run/postgresql -Atqc \"CREATE ROLE \\\"$me\\\" LOGIN SUPERUSER\"" >/dev/null
fi
