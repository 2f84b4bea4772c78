-- rnn_ext 0.2 -> 0.3.
--
-- The bodies below are those of sql/rnn_ext.sql at 0.3 (test/pq/upgrade.sh
-- checks that an updated database and a fresh 0.3 one have the same schema).

\echo Use "ALTER EXTENSION rnn_ext UPDATE TO '0.3'" to load this file. \quit

CREATE FUNCTION rnn.isa_info(OUT isa text, OUT setting text, OUT cpu_supports text[])
AS 'MODULE_PATHNAME', 'rnn_isa_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION rnn.isa_info() IS
'The code path this backend''s engine kernels run (generic, avx2 or avx512), '
'the rnn.isa setting that chose it, and the paths this CPU supports.';
