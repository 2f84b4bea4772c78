#!/usr/bin/env bash
# test/citus/install_citus.sh CACHE_DIR -- copy a Citus install tree built by
# build_citus.sh into the system PostgreSQL (run under the shared install
# lock, like every other install into it).  Skips files that are already
# identical, so a second run writes nothing.
set -euo pipefail

cache=${1:?usage: install_citus.sh CACHE_DIR}
[ -f "$cache/.complete" ] || { echo "error: $cache holds no complete Citus build" >&2; exit 1; }
cd "$cache/root"
find . -type f | while read -r f; do
    dest="/${f#./}"
    cmp -s "$f" "$dest" 2>/dev/null && continue
    install -D -m "$(stat -c %a "$f")" "$f" "$dest"
done
