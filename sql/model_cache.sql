-- Each backend caches decoded models keyed by (id, xmin) of their row:
-- a model is decoded once, and a new version or a rewritten row is picked
-- up by the next statement.
\set SHOW_CONTEXT never
SELECT models, calls, lookups, decodes FROM rnn.model_cache_stats();

SELECT rnn.import_model('cached', rnn.untrained_weights('{"cell": "gru", "hidden_size": 4}', 1), 'forecaster');

-- First use decodes.
SELECT rnn.model_config('cached') -> 'parameters' AS parameters;
SELECT models, decodes FROM rnn.model_cache_stats();

-- Later statements look the row up again but do not decode.
SELECT rnn.model_config('cached') -> 'parameters' AS parameters;
SELECT rnn.model_info('cached') -> 'parameters' AS parameters;
SELECT models, decodes FROM rnn.model_cache_stats();

-- Within one statement, one lookup by name serves every row.
SELECT count(DISTINCT rnn.model_config('cached')::text) AS configs
  FROM generate_series(1, 1000);
SELECT calls, lookups, decodes FROM rnn.model_cache_stats();

-- A new version is decoded on its next use.
SELECT rnn.import_model('cached', rnn.untrained_weights('{"cell": "gru", "hidden_size": 8}', 1), 'forecaster');
SELECT rnn.model_config('cached') -> 'architecture' -> 'hidden_size' AS hidden_size;
SELECT models, decodes FROM rnn.model_cache_stats();

-- So is a rewritten row (new xmin), which replaces its stale entry.
UPDATE rnn.models SET weights = rnn.untrained_weights('{"cell": "gru", "hidden_size": 2}', 1)
 WHERE name = 'cached' AND version = 2;
SELECT rnn.model_config('cached') -> 'architecture' -> 'hidden_size' AS hidden_size;
SELECT models, decodes FROM rnn.model_cache_stats();

-- An explicit version.
SELECT rnn.model_config('cached', 1) -> 'architecture' -> 'hidden_size' AS hidden_size;
SELECT rnn.model_config('cached', 3);

SELECT rnn.drop_model('cached') AS dropped;
SELECT rnn.model_config('cached');
