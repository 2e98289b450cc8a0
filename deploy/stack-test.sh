#!/usr/bin/env bash
# The production stack test (deploy/stack_test.py explains what it proves): installs nginx from Debian's
# packages when it is missing, makes sure PostgreSQL and Redis run (as .ci/run does), then runs the test
# with the project's virtualenv. Usage: deploy/stack-test.sh   (STACK_* variables: see deploy/stack_test.py)
set -euo pipefail
cd "$(dirname "$0")/.."

PATH="$PATH:/usr/sbin"
install_packages() {
  apt-get update -qq
  # Do not let the packages' scripts start the distribution's own nginx (port 80) or pgbouncer.
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  for package in "$@"; do
    # nginx-light where Debian has it (bookworm), else nginx.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null 2>&1 \
      || { [ "$package" = nginx-light ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
  done
  if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
}
missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
if [ "${STACK_PGBOUNCER:-}" = 1 ] && ! command -v pgbouncer >/dev/null 2>&1; then missing+=(pgbouncer); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "--> installing ${missing[*]} from Debian's packages"
  install_packages "${missing[@]}"
fi
nginx -v

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
pg_isready -h 127.0.0.1 -p 5432
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done

PYTHON=.venv/bin/python
[ -x "$PYTHON" ] || { python3 dev.py check >/dev/null; }   # creates .venv with the pinned requirements
# The test stops every process it started, also on Ctrl+C or SIGTERM.
exec "$PYTHON" deploy/stack_test.py
