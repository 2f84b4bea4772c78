-- rnn_ext 0.2 -> 0.3.
--
-- The bodies below are those of sql/rnn_ext.sql at 0.3 (test/pq/upgrade.sh
-- checks that an updated database and a fresh 0.3 one have the same schema).

\echo Use "ALTER EXTENSION rnn_ext UPDATE TO '0.3'" to load this file. \quit
