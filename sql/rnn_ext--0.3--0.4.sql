-- rnn_ext 0.3 -> 0.4 (ALTER EXTENSION rnn_ext UPDATE TO '0.4').
-- Each change to sql/rnn_ext.sql since 0.3 appears here too, in the same
-- words, so an updated database equals a fresh 0.4 install
-- (test/pq/upgrade.sh compares the two).
\echo Use "ALTER EXTENSION rnn_ext UPDATE TO '0.4'" to load this file. \quit
