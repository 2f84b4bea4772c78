# test/pq/tap.bash -- TAP helpers shared by the test/pq scripts (sourced, not a test).
#
#   tap OK|FAIL description        one test line; counts failures in $fails
#   check description want got     ok when the two strings are equal
#   now_ms                         wall clock in milliseconds
#   q SQL                          one statement against $DB, the result
#                                  unaligned (scripts that need another
#                                  form define their own q after this file)
n=0
fails=0

tap() {
    n=$((n + 1))
    if [ "$1" = OK ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
check() {
    if [ "$2" = "$3" ]; then tap OK "$1"; else tap FAIL "$1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
q() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"
}
