#!/usr/bin/env bash
# test/pq/readme.sh -- every ```sql block of README.md runs, in order, in one
# database, so the README cannot rot.  The tables the examples use
# (readings, readings_2025, monthly_sales, reviews, messages, chats, logs,
# sentences) and the role
# 'analysts' are made first with small generated data; the installation
# block (CREATE EXTENSION alone) is skipped because "Getting started"
# creates the extension again.  One TAP line per block.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/pq/tap.bash

DB=rnn_readme_$$
BLOCKS=$(mktemp -d /tmp/rnn_readme.XXXXXX)
cleanup() {
    dropdb --if-exists "$DB" 2>/dev/null
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS analysts" 2>/dev/null
    rm -rf "$BLOCKS"
}
trap cleanup EXIT

awk -v dir="$BLOCKS" '/^```sql/ { f = 1; n++; file = sprintf("%s/%02d.sql", dir, n); next }
                      /^```/ { f = 0 } f { print > file }' README.md
total=$(ls "$BLOCKS" | wc -l)
echo "1..$((total - 1))"

createdb "$DB" || { echo "Bail out! createdb failed"; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL' || { echo "Bail out! setup failed"; exit 1; }
DROP ROLE IF EXISTS analysts;
CREATE ROLE analysts;
CREATE TABLE readings AS
SELECT 'sensor_' || s AS sensor, timestamp '2025-01-01' + make_interval(hours => i) AS ts,
       20 + s + 3 * sin(i * 2 * pi() / 24) + ((i * 7919 + s * 104729) % 100) / 100.0 AS temp,
       50 + 10 * cos(i * 2 * pi() / 24) AS humidity
FROM generate_series(1, 9, 3) s, generate_series(0, 299) i;
CREATE TABLE readings_2025 AS
SELECT sensor, ts + interval '300 hours' AS ts, temp, humidity FROM readings;
CREATE TABLE monthly_sales AS
SELECT 'P' || p AS product, (date '2020-01-01' + make_interval(months => i))::date AS month,
       100 * p + 30 * cos(i * 2 * pi() / 12) + ((i * 7919 + p * 104729) % 100) / 10.0 AS units
FROM generate_series(1, 6) p, generate_series(0, 59) i
WHERE NOT (p = 2 AND i = 30);                    -- a missing month
CREATE TABLE reviews (id serial PRIMARY KEY, body text, positive boolean, score float8);
INSERT INTO reviews (body, positive)
SELECT (ARRAY['a', 'the', 'this'])[1 + i % 3] || ' ' ||
       (ARRAY['film', 'movie', 'story'])[1 + i % 5 % 3] || ' is ' ||
       CASE WHEN i % 2 = 0 THEN (ARRAY['moving', 'superb', 'great'])[1 + i % 7 % 3]
            ELSE (ARRAY['dull', 'awful', 'tired'])[1 + i % 7 % 3] END,
       i % 2 = 0
FROM generate_series(1, 200) i;
CREATE TABLE messages (chat int, ts int, msg text);
INSERT INTO messages VALUES (1, 1, 'a dull start'), (1, 2, 'but a superb ending'), (2, 1, 'great film');
CREATE TABLE chats (id int PRIMARY KEY, state bytea);
INSERT INTO chats VALUES (1, NULL);
CREATE TABLE logs (id serial PRIMARY KEY, line text);
INSERT INTO logs (line)
SELECT (ARRAY['GET', 'GET', 'POST'])[1 + i % 3] || ' /' ||
       (ARRAY['index.html', 'api/items', 'img/logo.png', 'login'])[1 + i % 7 % 4] || ' ' ||
       (ARRAY['200', '200', '200', '404', '302'])[1 + i % 11 % 5]
FROM generate_series(1, 300) i;
INSERT INTO logs (line) VALUES ('DELETE /etc/passwd 500 ;; rm -rf');
CREATE TABLE sentences (id serial PRIMARY KEY, tokens text[], tags text[]);
INSERT INTO sentences (tokens, tags)
SELECT ARRAY[(ARRAY['Harry', 'Hermione', 'Ron'])[1 + i % 3], 'saw', 'the',
             (ARRAY['owl', 'spell', 'castle'])[1 + i % 5 % 3], '.'],
       ARRAY['PROPN', 'VERB', 'DET', 'NOUN', 'PUNCT']
FROM generate_series(1, 100) i;
SQL

for f in "$BLOCKS"/*.sql; do
    b=$(basename "$f" .sql)
    [ "$b" = 01 ] && continue        # the installation block
    first=$(grep -m1 -v '^ *--' "$f" | sed 's/^ *//' | cut -c1-60)
    if out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SET client_min_messages = warning" -f "$f" 2>&1); then
        tap OK "README sql block $b runs: $first"
    else
        tap FAIL "README sql block $b runs: $first"
        echo "$out" | tail -5 | sed 's/^/#   /'
    fi
done
[ $fails -eq 0 ]
