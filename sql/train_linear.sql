-- train_linear => false: the linear path (the head's bias and the skip
-- weights, the last parameters of the weight blob) stays at its ridge start
-- while the epochs train the recurrent network and the head's weights;
-- with its bad input (each case prints its SQLSTATE; none may store a model).
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET client_min_messages = warning;
SET rnn.blas_threads = 1;

-- One hourly series: a daily cycle whose amplitude follows a slow wave (so
-- a linear forecast misses part of it) plus seeded uniform noise.
SELECT setseed(0.5);
CREATE TABLE tl AS
SELECT timestamp '2024-01-01' + make_interval(hours => i) AS ts,
       (2 + sin(i * 2 * pi() / 300)) * sin(i * 2 * pi() / 24) + 0.3 * (random() - 0.5) AS v
FROM generate_series(0, 1499) i;

-- the linear path alone (epochs => 0), then 3 epochs with it kept, then 3
-- epochs that train it too (the default).  No validation part: early
-- stopping on the training loss keeps the last epoch, so the weights
-- compared below are the trained ones
SELECT version, epochs_run FROM rnn.train_forecaster('tl', 'tl', 'ts', 'v', cell => 'gru',
       hidden_size => 8, window_size => 24, horizon => 6, epochs => 0,
       validation_fraction => 0);
SELECT version, epochs_run, best_epoch FROM rnn.train_forecaster('tl', 'tl', 'ts', 'v',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, epochs => 3,
       patience => 0, learning_rate => 0.01, validation_fraction => 0, train_linear => false);
SELECT version, epochs_run, best_epoch FROM rnn.train_forecaster('tl', 'tl', 'ts', 'v',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, epochs => 3,
       patience => 0, learning_rate => 0.01, validation_fraction => 0);

-- the blob ends with the head's bias (6) and the skip weights (6 x 24), then
-- a 4-byte checksum: 600 bytes of linear path
CREATE FUNCTION tl_linear(v int) RETURNS bytea LANGUAGE sql AS $$
    SELECT substring(w FROM length(w) - 4 - 600 + 1 FOR 600)
    FROM (SELECT rnn.export_model('tl', v) AS w) x $$;
SELECT tl_linear(2) = tl_linear(1) AS kept_linear_path,
       rnn.export_model('tl', 2) <> rnn.export_model('tl', 1) AS network_trained,
       tl_linear(3) <> tl_linear(1) AS default_trains_linear_path;
-- the network learnt something on top of the kept linear path
SELECT (b.metrics->>'train_mse')::float8 < (a.metrics->>'train_mse')::float8
         AS better_than_linear_path_on_training_windows,
       b.hyperparams->'train_linear' AS stored, c.hyperparams ? 'train_linear' AS default_stored
FROM rnn.models a, rnn.models b, rnn.models c
WHERE a.name = 'tl' AND a.version = 1 AND b.name = 'tl' AND b.version = 2
  AND c.name = 'tl' AND c.version = 3;
-- scoring reads the model as any other (no validation part: no intervals)
SELECT rnn.deploy_model('tl', 2) IS NOT NULL AS deployed;
SELECT count(value) AS steps FROM rnn.forecast('tl');

-- NULL is the default (train the linear path)
SELECT version, best_epoch >= 0 AS ran FROM rnn.train_forecaster('tl', 'tl', 'ts', 'v', cell => 'gru',
       hidden_size => 8, window_size => 24, horizon => 6, epochs => 1, train_linear => NULL);
SELECT hyperparams ? 'train_linear' AS stored FROM rnn.models WHERE name = 'tl' AND version = 4;

-- bad input: nothing to keep without a linear path
SELECT * FROM rnn.train_forecaster('tl_bad', 'tl', 'ts', 'v', window_size => 24, horizon => 6,
       epochs => 1, linear_skip => false, train_linear => false);
:e
SELECT * FROM rnn.train_forecaster('tl_bad', 'tl', 'ts', 'v', window_size => 24, horizon => 6,
       epochs => 1, seasonal => true, season_length => 24, linear_skip => false,
       train_linear => false);
:e
SELECT count(*) AS stored_bad FROM rnn.models WHERE name = 'tl_bad';
SELECT count(*) AS versions FROM rnn.models WHERE name = 'tl';

-- season_steps => true: the network reads the window a season at a time
-- (48 hours: 2 steps of 24 values, with the calendar channels of each),
-- and its outputs are added to the window's last value as without it: the
-- untrained model is the same linear path
SELECT version FROM rnn.train_forecaster('tls', 'tl', 'ts', 'v', cell => 'gru', hidden_size => 8,
       window_size => 48, horizon => 6, epochs => 0);
CREATE TEMP TABLE f1 AS SELECT step, value FROM rnn.forecast('tls');
SELECT version FROM rnn.train_forecaster('tls', 'tl', 'ts', 'v', cell => 'gru', hidden_size => 8,
       window_size => 48, horizon => 6, epochs => 0, season_steps => true);
SELECT max(abs(a.value - b.value)) < 1e-6 AS untrained_is_the_linear_path, count(*) AS steps
FROM f1 a JOIN rnn.forecast('tls') b USING (step);
SELECT version, epochs_run, best_epoch > 0 AS improved FROM rnn.train_forecaster('tls', 'tl', 'ts', 'v',
       cell => 'gru', hidden_size => 8, window_size => 48, horizon => 6, epochs => 3,
       patience => 0, learning_rate => 0.01, train_linear => false, season_steps => true,
       calendar_inputs => '{hour_of_day}');
SELECT version, hyperparams->'season_steps' AS season_steps, hyperparams->'season_length' AS season,
       jsonb_path_query_first(rnn.weights_info(rnn.export_model('tls', version)),
                              '$.**.input_size') AS input_size
FROM rnn.models WHERE name = 'tls' ORDER BY version;
SELECT (c.metrics->>'valid_mse')::float8 <= (a.metrics->>'valid_mse')::float8 * (1 + 1e-6)
         AS not_worse_than_linear_path
FROM rnn.models a, rnn.models c WHERE a.name = 'tls' AND a.version = 1 AND c.name = 'tls'
  AND c.version = 3;
SELECT count(*) AS steps, bool_and(lo <= value AND value <= hi) AS ordered
FROM rnn.forecast('tls', level => 0.8);
SELECT windows, mse_normalized < naive_mse_normalized AS beats_naive
FROM rnn.evaluate('tls', 'tl');
-- the same window read hour by hour is another architecture for a warm start
SELECT * FROM rnn.train_forecaster('tls', 'tl', 'ts', 'v', cell => 'gru', hidden_size => 8,
       window_size => 48, horizon => 6, epochs => 1, train_linear => false,
       calendar_inputs => '{hour_of_day}', warm_start => true);
:e
-- bad input: whole seasons only
SELECT * FROM rnn.train_forecaster('tl_bad', 'tl', 'ts', 'v', window_size => 36, horizon => 6,
       epochs => 1, season_steps => true);
:e
SELECT * FROM rnn.train_forecaster('tl_bad', 'tl', 'ts', 'v', window_size => 12, horizon => 6,
       epochs => 1, season_steps => true);
:e
SELECT count(*) AS stored_bad FROM rnn.models WHERE name = 'tl_bad';
SELECT count(*) AS versions FROM rnn.models WHERE name = 'tls';
SELECT rnn.drop_model('tls');

DROP FUNCTION tl_linear(int);
DROP TABLE tl;
SELECT rnn.drop_model('tl');
