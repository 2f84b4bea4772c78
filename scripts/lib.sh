# scripts/lib.sh -- shared by scripts/demo and scripts/test (sourced, not run).
#
# Installs what is missing on a Debian 12 machine, builds and installs the
# extension, and runs a command inside a throwaway PostgreSQL 15 cluster.

PG_MAJOR=15
# Debian packages the build, the tests and the demo need.
RNN_PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libopenblas-dev build-essential libpq-dev"
# What the test suite needs besides those: PyTorch for /usr/bin/python3, so
# test/pq/torch_interop.sh compares rnn.forecast, rnn.sentiment, ... with
# PyTorch instead of skipping (an installed machine skipped it unseen).
RNN_TEST_PACKAGES="python3-torch python3-numpy"
# What building Citus from source needs besides those (test/citus; see
# ../shared/vendor/README.md).
CITUS_BUILD_PACKAGES="autoconf flex libcurl4-gnutls-dev libicu-dev libkrb5-dev liblz4-dev libpam0g-dev
 libreadline-dev libselinux1-dev libssl-dev libxslt1-dev libzstd-dev uuid-dev"

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_packages PKG...: apt-get install the ones dpkg does not have.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}: run as root or install them"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    # Debian creates and starts a "main" cluster on install; we never use it.
    apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

pg_bindir() { echo "/usr/lib/postgresql/$PG_MAJOR/bin"; }

# build_and_install [make variables...]
build_and_install() {
    export PG_CONFIG
    PG_CONFIG="$(pg_bindir)/pg_config"
    say "building rnn_ext"
    make -s -j2 PG_CONFIG="$PG_CONFIG" "$@" || return 1
    say "installing into $("$PG_CONFIG" --pkglibdir)"
    make -s PG_CONFIG="$PG_CONFIG" "$@" install >/dev/null || return 1
}

# in_cluster CMD...: run CMD with PGHOST/PGPORT/PGUSER/PGDATABASE pointing
# at a new, empty cluster that is dropped afterwards.  Debian's
# pg_virtualenv handles the postgres user (initdb refuses root), a free
# port and cleanup even when CMD fails.
in_cluster() {
    command -v pg_virtualenv >/dev/null || die "pg_virtualenv not found (package postgresql-common)"
    pg_virtualenv -v "$PG_MAJOR" -- "$@"
}
