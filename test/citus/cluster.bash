# test/citus/cluster.bash -- start and stop local PostgreSQL nodes for the
# Citus tests and benchmarks (sourced, not run).
#
#   cluster_init               a temporary directory for every node's data,
#                              socket and log; removed by cluster_cleanup
#   node_create NAME [citus]   initdb NAME as the postgres user (initdb and
#                              postgres refuse root) on a free port; with
#                              "citus", shared_preload_libraries = citus
#   node_start NAME / node_stop NAME [MODE]
#   node_port NAME             its port
#   citus_cluster COORD W...   create and join a coordinator and workers
#   cluster_cleanup            stop every node, remove the directory
#
# Every node listens on localhost with trust authentication (a throwaway
# cluster: the tests connect as several roles, and Citus connects to the
# workers as the calling role).
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
CLUSTER_DIR=
CLUSTER_NODES=()
declare -A NODE_PORT

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cluster_init() {
    CLUSTER_DIR=$(mktemp -d /tmp/rnn_citus.XXXXXX)
    chmod 755 "$CLUSTER_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$CLUSTER_DIR"
    return 0
}

# A port nothing listens on, from a range other clusters on this machine do
# not use by default (pg_virtualenv starts at 5432 and counts up).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        # something accepts connections there (bash's /dev/tcp: no ss needed)
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        printf '%s\n' "${NODE_PORT[@]:-}" | grep -qx "$p" && continue
        echo "$p"
        return 0
    done
}

node_create() {
    local name=$1 preload=${2:-} dir="$CLUSTER_DIR/$1" port
    port=$(free_port)
    as_postgres "$PG_BIN/initdb" -D "$dir" -A trust -U postgres --no-sync >"$CLUSTER_DIR/$name.initdb.log" 2>&1 \
        || { cat "$CLUSTER_DIR/$name.initdb.log" >&2; return 1; }
    {
        echo "port = $port"
        echo "listen_addresses = 'localhost'"
        echo "unix_socket_directories = '$CLUSTER_DIR'"
        echo "max_connections = 60"
        echo "shared_buffers = 64MB"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        # Citus writes reference tables with two-phase commit.
        echo "max_prepared_transactions = 50"
        echo "log_min_messages = warning"
        [ "$preload" = citus ] && echo "shared_preload_libraries = 'citus'"
    } | as_postgres tee -a "$dir/postgresql.conf" >/dev/null
    NODE_PORT[$name]=$port
    CLUSTER_NODES+=("$name")
    node_start "$name"
}

node_port() { echo "${NODE_PORT[$1]}"; }

node_start() {
    as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/$1" -l "$CLUSTER_DIR/$1.log" -w -t 60 start >/dev/null
}

# node_stop NAME [fast|immediate]
node_stop() {
    as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/$1" -m "${2:-fast}" -w -t 60 stop >/dev/null
}

node_running() {
    as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/$1" status >/dev/null 2>&1
}

# citus_cluster COORD WORKER...: CREATE EXTENSION citus on each (in database
# postgres), then register the coordinator and add the workers.
citus_cluster() {
    local coord=$1 node
    shift
    for node in "$coord" "$@"; do
        nq "$node" "CREATE EXTENSION citus" >/dev/null || return 1
    done
    nq "$coord" "SELECT citus_set_coordinator_host('localhost', $(node_port "$coord"))" >/dev/null || return 1
    for node in "$@"; do
        nq "$coord" "SELECT citus_add_node('localhost', $(node_port "$node"))" >/dev/null || return 1
    done
}

# nq NODE SQL [psql options...]: run SQL on NODE as ${NQ_USER:-postgres} in
# database ${NQ_DB:-postgres}, unaligned, stop at the first error.  SQL goes
# in on stdin, so psql sends its statements one at a time (Citus propagates
# a DDL statement by its query string, which must hold that one statement).
nq() {
    local node=$1 sql=$2
    shift 2
    PGOPTIONS="-c client_min_messages=${NQ_MESSAGES:-warning}" \
        psql -X -q -At -v ON_ERROR_STOP=1 -h localhost -p "$(node_port "$node")" -U "${NQ_USER:-postgres}" \
        -d "${NQ_DB:-postgres}" "$@" <<<"$sql"
}

cluster_cleanup() {
    local node
    [ -n "$CLUSTER_DIR" ] || return 0
    for node in "${CLUSTER_NODES[@]}"; do
        node_running "$node" && node_stop "$node" immediate
    done
    rm -rf "$CLUSTER_DIR"
    CLUSTER_DIR=
}
