-- Bad input to forecasting and the model store: every case is one statement
-- followed by its SQLSTATE (:e echoes LAST_ERROR_SQLSTATE); none may store a
-- model or take the server down.  Cases already in forecast.sql (NULL/NaN
-- values, empty tables, short series, unknown/non-numeric columns,
-- hidden_size 0/100000, epochs -1, learning_rate NaN, a classifier used to
-- forecast, ...) and corrupt_weights.sql (truncated, bit-flipped and
-- future-version blobs) are not repeated here.
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET client_min_messages = warning;
SET rnn.blas_threads = 1;

CREATE TABLE r AS
SELECT 's' || s AS sensor, timestamp '2024-01-01' + make_interval(hours => i) AS ts,
       10.0 * s + sin(i / 4.0) AS v, cos(i / 4.0) AS c, (i % 2 = 0) AS flag, i::text AS label
FROM generate_series(1, 2) s, generate_series(0, 119) i;
SELECT version FROM rnn.train_forecaster('ok', 'r', 'ts', 'v', series_column => 'sensor',
       hidden_size => 4, window_size => 12, horizon => 3, epochs => 1);
SELECT rnn.grant_model('ok', 'public') AS shared;   -- every role may score it
SELECT count(*) AS models_before FROM rnn.models \gset

-- Values: infinite, out of float range, all NULL, NULL keys and times.
CREATE TABLE bad_values AS SELECT * FROM r WHERE sensor = 's1';
UPDATE bad_values SET v = 'Infinity' WHERE ts = timestamp '2024-01-02 03:00';
SELECT * FROM rnn.train_forecaster('x', 'bad_values', 'ts', 'v', window_size => 12, horizon => 3);
:e
UPDATE bad_values SET v = '-Infinity' WHERE ts = timestamp '2024-01-02 03:00';
SELECT * FROM rnn.train_forecaster('x', 'bad_values', 'ts', 'v', window_size => 12, horizon => 3);
:e
UPDATE bad_values SET v = 1e300 WHERE ts = timestamp '2024-01-02 03:00';
SELECT * FROM rnn.train_forecaster('x', 'bad_values', 'ts', 'v', window_size => 12, horizon => 3);
:e
SELECT * FROM rnn.train_forecaster('x', 'bad_values', 'ts', 'v', window_size => 12, horizon => 3,
       missing => 'interpolate');
:e
UPDATE bad_values SET v = NULL;
SELECT * FROM rnn.train_forecaster('x', 'bad_values', 'ts', 'v', window_size => 12, horizon => 3,
       missing => 'interpolate');
:e
CREATE TABLE bad_numeric AS SELECT ts, v::numeric AS v FROM r WHERE sensor = 's1';
UPDATE bad_numeric SET v = 1e400 WHERE ts = timestamp '2024-01-02 03:00';
SELECT * FROM rnn.train_forecaster('x', 'bad_numeric', 'ts', 'v', window_size => 12, horizon => 3);
:e
CREATE TABLE null_keys AS SELECT * FROM r;
UPDATE null_keys SET sensor = NULL WHERE ts = timestamp '2024-01-02 03:00' AND sensor = 's2';
SELECT * FROM rnn.train_forecaster('x', 'null_keys', 'ts', 'v', series_column => 'sensor');
:e
UPDATE null_keys SET sensor = 's2', ts = NULL WHERE sensor IS NULL;
SELECT * FROM rnn.train_forecaster('x', 'null_keys', 'ts', 'v', series_column => 'sensor');
:e
-- times at the ends of their range
CREATE TABLE extreme_times (t bigint, v float8);
INSERT INTO extreme_times VALUES (-9223372036854775808, 1), (0, 2), (9223372036854775807, 3);
SELECT * FROM rnn.train_forecaster('x', 'extreme_times', 't', 'v', window_size => 1, horizon => 1);
:e
CREATE TABLE infinite_times AS SELECT ts, v FROM r WHERE sensor = 's1';
INSERT INTO infinite_times VALUES ('infinity', 0);
SELECT * FROM rnn.train_forecaster('x', 'infinite_times', 'ts', 'v', window_size => 12, horizon => 3);
:e
CREATE TABLE far_dates AS SELECT date '2024-01-01' + i AS d, i::float8 AS v FROM generate_series(0, 99) i;
INSERT INTO far_dates VALUES ('5874897-12-31', 0);
SELECT * FROM rnn.train_forecaster('x', 'far_dates', 'd', 'v', window_size => 12, horizon => 3);
:e

-- Relations: unreadable, missing, dropped, not a table.
CREATE ROLE regress_rnn_bad_reader;
SET ROLE regress_rnn_bad_reader;
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v');
:e
SELECT count(*) FROM rnn.forecast('ok');
:e
SELECT * FROM rnn.evaluate('ok', 'r');
:e
RESET ROLE;
SELECT * FROM rnn.train_forecaster('x', 999999::oid::regclass, 'ts', 'v');
:e
SELECT * FROM rnn.train_forecaster('x', NULL, 'ts', 'v');
:e
CREATE INDEX r_ts_v ON r (ts, v);
SELECT * FROM rnn.train_forecaster('x', 'r_ts_v', 'ts', 'v');
:e
CREATE TYPE r_type AS (ts timestamp, v float8);
SELECT * FROM rnn.train_forecaster('x', 'r_type', 'ts', 'v');
:e
CREATE TABLE doomed AS SELECT * FROM r;
SELECT version FROM rnn.train_forecaster('doomed', 'doomed', 'ts', 'v', series_column => 'sensor',
       hidden_size => 4, window_size => 12, horizon => 3, epochs => 1);
DROP TABLE doomed;
SELECT count(*) FROM rnn.forecast('doomed');
:e
SELECT * FROM rnn.evaluate('doomed', 'bad_numeric');
:e
SELECT count(*) FROM rnn.forecast('doomed', relation => 'extreme_times');
:e
SELECT rnn.drop_model('doomed');
SELECT * FROM rnn.evaluate('ok', 'extreme_times');
:e

-- Columns.
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', series_column => 'station');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', series_column => '');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', feature_columns => ARRAY['c', NULL]);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', feature_columns => '{{c},{c}}');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', feature_columns => '{label}');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'flag');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'label', 'v');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', feature_columns => array_fill('c'::text, ARRAY[1001]));
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', '');
:e

-- A 100 MB text where a name goes in.
SELECT * FROM rnn.train_forecaster(repeat('x', 100 * 1024 * 1024), 'r', 'ts', 'v');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', repeat('v', 100 * 1024 * 1024));
:e
SELECT count(*) FROM rnn.forecast(repeat('x', 100 * 1024 * 1024));
:e
SELECT rnn.import_model(repeat('x', 100 * 1024 * 1024), rnn.untrained_weights('{}'), 'forecaster');
:e
SELECT rnn.import_model(repeat('é', 201), rnn.untrained_weights('{}'), 'forecaster');
:e
-- The PL/pgSQL model functions refuse such a name as the C ones do.
SELECT rnn.model_info(repeat('x', 100 * 1024 * 1024));
:e
SELECT rnn.drop_model(repeat('x', 100 * 1024 * 1024));
:e
SELECT rnn.revoke_model(repeat('é', 201), 'public');
:e
SELECT rnn.deploy_model('');
:e

-- Hyper-parameters out of range.
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', learning_rate => 0);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', learning_rate => -0.01);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', learning_rate => 'Infinity');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', batch_size => 0);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', window_size => 0);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', window_size => 100001);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', horizon => 0);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', num_layers => 0);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', epochs => 100001);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', epochs => 0, linear_skip => false);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', patience => -1);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', validation_fraction => -0.1);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', validation_fraction => 'NaN');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', dropout => 'NaN');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', clip_norm => -1);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', clip_norm => 'NaN');
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', season_length => -1);
:e
SELECT * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', batches_per_epoch => -1);
:e
-- (the amount of memory depends on the engine: shown without it)
SET rnn.max_train_memory = '1MB';
DO $$
BEGIN
    PERFORM * FROM rnn.train_forecaster('x', 'r', 'ts', 'v', series_column => 'sensor', hidden_size => 512,
                                        window_size => 12, horizon => 3);
EXCEPTION WHEN OTHERS THEN
    RAISE INFO 'sqlstate %: %', SQLSTATE, regexp_replace(SQLERRM, '\d+ kB of memory', 'N kB of memory');
END
$$;
-- Reading counts too: 70,000 rows do not fit in 1MB.
CREATE TABLE many_rows AS SELECT i AS t, i::float8 AS v FROM generate_series(1, 70000) i;
SELECT * FROM rnn.train_forecaster('x', 'many_rows', 't', 'v', epochs => 0);
DROP TABLE many_rows;
RESET rnn.max_train_memory;

-- Scoring arguments.
SELECT count(*) FROM rnn.forecast('ok', horizon => 0);
:e
SELECT count(*) FROM rnn.forecast('ok', horizon => -1);
:e
SELECT count(*) FROM rnn.forecast('ok', level => 'NaN');
:e
SELECT count(*) FROM rnn.forecast('ok', level => 1.5);
:e
SELECT count(*) FROM rnn.forecast(NULL);
:e
SELECT rnn.predict_next('ok', v ORDER BY ts) FROM (VALUES (timestamp '2024-01-01', 1.0::float8),
       ('2024-01-01 01:00', 'NaN')) x(ts, v);
:e
SELECT rnn.predict_next('ok', v ORDER BY ts) FROM (VALUES (timestamp '2024-01-01', 1.0::float8),
       ('2024-01-01 01:00', '-Infinity')) x(ts, v);
:e
SELECT rnn.predict_next('ok', v ORDER BY ts) FROM (VALUES (timestamp '2024-01-01', 1.0::float8),
       ('2024-01-01 01:00', NULL)) x(ts, v);
:e
SELECT rnn.predict_next(NULL, v ORDER BY ts) FROM r;
:e
SELECT rnn.predict_next('no_such_model', v ORDER BY ts) FROM r;
:e
SELECT * FROM rnn.evaluate('no_such_model', 'r');
:e
SELECT rnn.model_config('ok', 99);
:e
SELECT rnn.model_info('ok', 99);
:e
SELECT rnn.revoke_model('no_such_model', 'public');
:e
SELECT rnn.revoke_model(NULL, 'public');
:e

-- The model store: NULLs, bad metadata, and metadata the owner tampered with.
SELECT rnn.import_model('x', NULL, 'forecaster');
:e
SELECT rnn.import_model('x', rnn.untrained_weights('{}'), NULL);
:e
SELECT rnn.import_model('x', rnn.untrained_weights('{}'), 'forecaster', '{"source_rows": "many"}');
:e
SELECT rnn.import_model('x', rnn.untrained_weights('{}'), 'forecaster', '{"labels": "pos"}');
:e
SELECT rnn.import_model('x', '\x'::bytea, 'forecaster');
:e
BEGIN;
UPDATE rnn.models SET normalization = jsonb_set(normalization, '{mean}', '[1]') WHERE name = 'ok';
SELECT count(*) FROM rnn.forecast('ok');
:e
ROLLBACK;
BEGIN;
UPDATE rnn.models SET hyperparams = hyperparams - 'window_size' WHERE name = 'ok';
SELECT count(*) FROM rnn.forecast('ok');
:e
ROLLBACK;
BEGIN;
-- a window longer than every series is no error: each one is padded
UPDATE rnn.models SET hyperparams = jsonb_set(hyperparams, '{window_size}', '100000') WHERE name = 'ok';
SELECT count(*) FROM rnn.forecast('ok');
ROLLBACK;
BEGIN;
UPDATE rnn.models SET hyperparams = jsonb_set(hyperparams, '{feature_columns}', '["c", "c"]') WHERE name = 'ok';
SELECT count(*) FROM rnn.forecast('ok');
:e
ROLLBACK;

-- After all that: the server is up, nothing was stored, the model still scores.
SELECT count(*) - :models_before AS models_added FROM rnn.models;
SELECT count(*) AS forecast_rows FROM rnn.forecast('ok');
SELECT rnn.drop_model('ok');
DROP TABLE r, bad_values, bad_numeric, null_keys, extreme_times, infinite_times, far_dates;
DROP TYPE r_type;
DROP ROLE regress_rnn_bad_reader;
