-- Installing rnn_ext: everything lives in schema rnn.
CREATE EXTENSION rnn_ext;

SELECT extname, extversion, extrelocatable, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'rnn_ext';

-- What the extension provides besides functions.
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'rnn_ext')
   AND classid <> 'pg_proc'::regclass
 ORDER BY 1;

-- Every function with its number of arguments, volatility (i immutable,
-- s stable, v volatile), strictness and parallel safety (s safe,
-- r restricted, u unsafe).
SELECT proname, pronargs, provolatile, proisstrict, proparallel
  FROM pg_proc WHERE pronamespace = 'rnn'::regnamespace ORDER BY proname, pronargs;

-- Every function, table and view has a comment.
SELECT p.oid::regprocedure AS uncommented FROM pg_proc p
 WHERE pronamespace = 'rnn'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT c.oid::regclass AS uncommented FROM pg_class c
 WHERE relnamespace = 'rnn'::regnamespace AND relkind IN ('r', 'v')
   AND obj_description(c.oid, 'pg_class') IS NULL;

-- The model store is dumped with the data (pg_dump) and protected by
-- row-level security.
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'rnn_ext';
SELECT relrowsecurity FROM pg_class WHERE oid = 'rnn.models'::regclass;
SELECT polname, polcmd FROM pg_policy WHERE polrelid = 'rnn.models'::regclass ORDER BY 1;
