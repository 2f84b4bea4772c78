#!/usr/bin/env bash
# test/pq/concurrency.sh -- builds and runs test/pq/concurrency.c: N clients
# (default 8) training and scoring at once for a bounded time (default 20 s;
# RNN_CONCURRENCY_SECONDS=120 for a longer soak, RNN_CONCURRENCY_CLIENTS for
# more or fewer clients), results compared with a single-client run, and the
# RSS slope of a long-lived scoring backend.  See concurrency.c.
#
# Needs a running server on this machine (PGHOST/PGPORT/PGUSER as set by
# pg_virtualenv) with rnn_ext installed, a superuser connection, and the
# right to read the server processes' /proc/<pid>/status.  Prints TAP.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DB=rnn_concurrency_$$

if ! make -s -C "$HERE" >/tmp/rnn_concurrency_build.$$ 2>&1; then
    echo "1..1"
    echo "not ok 1 - build test/pq/concurrency (needs libpq-dev)"
    sed 's/^/#   /' /tmp/rnn_concurrency_build.$$
    rm -f /tmp/rnn_concurrency_build.$$
    exit 1
fi
rm -f /tmp/rnn_concurrency_build.$$

cleanup() { dropdb --if-exists "$DB" 2>/dev/null; }
trap cleanup EXIT
createdb "$DB" || { echo "Bail out! createdb failed"; exit 1; }
"$HERE/build/concurrency" -d "$DB" "$@"
