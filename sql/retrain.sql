-- Retrain and watch: warm_start / warm_start_version of rnn.train_forecaster
-- and rnn.detect_anomalies, with their bad input (each case prints its
-- SQLSTATE; none may store a model).
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET client_min_messages = warning;
SET rnn.blas_threads = 1;

-- Three hourly series: a daily cycle plus seeded uniform noise.  The model
-- sees hours 0..431 first, then all 600 ("a week added" at a small scale);
-- hours 600..1199 are held out for anomaly detection.
SELECT setseed(0.25);
CREATE TABLE w_all AS
SELECT 's' || s AS sensor, timestamp '2024-01-01' + make_interval(hours => i) AS ts,
       10.0 * s + 3 * sin(i * 2 * pi() / 24) + (random() - 0.5) AS v, i
FROM generate_series(0, 1199) i, generate_series(1, 3) s;
CREATE VIEW w_old AS SELECT sensor, ts, v FROM w_all WHERE i < 432;
CREATE VIEW w_new AS SELECT sensor, ts, v FROM w_all WHERE i < 600;
CREATE TABLE w_held AS SELECT sensor, ts, v, i FROM w_all WHERE i >= 600;

SELECT version, epochs_run FROM rnn.train_forecaster('w', 'w_old', 'ts', 'v',
       series_column => 'sensor', cell => 'gru', hidden_size => 8, window_size => 24,
       horizon => 6, epochs => 2);

-- epochs => 0: the stored model, weights and statistics as they were, with
-- intervals from the new validation part
SELECT version, epochs_run FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v',
       series_column => 'sensor', cell => 'gru', hidden_size => 8, window_size => 24,
       horizon => 6, epochs => 0, warm_start => true);
SELECT rnn.export_model('w', 1) = rnn.export_model('w', 2) AS same_weights,
       a.normalization->'mean' = b.normalization->'mean' AS same_means,
       a.normalization->'std' = b.normalization->'std' AS same_stds,
       a.normalization->'conformal_q' <> b.normalization->'conformal_q' AS new_intervals,
       b.hyperparams->'warm_start_version' AS warm_start_version,
       a.hyperparams ? 'warm_start_version' AS cold_has_key
FROM rnn.models a, rnn.models b
WHERE a.name = 'w' AND a.version = 1 AND b.name = 'w' AND b.version = 2;

-- a few epochs from version 1: never worse on validation than where it
-- started (epoch 0, the stored model, competes in early stopping)
SELECT version, epochs_run FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v',
       series_column => 'sensor', cell => 'gru', hidden_size => 8, window_size => 24,
       horizon => 6, epochs => 3, warm_start_version => 1);
SELECT (c.metrics->>'valid_mse_normalized')::float8
         <= (b.metrics->>'valid_mse_normalized')::float8 * (1 + 1e-6) AS not_worse_than_start,
       c.hyperparams->'warm_start_version' AS warm_start_version
FROM rnn.models b, rnn.models c
WHERE b.name = 'w' AND b.version = 2 AND c.name = 'w' AND c.version = 3;

-- warm_start => true starts from the deployed version, else the latest;
-- a series new to the model gets its own statistics, the others keep theirs
SELECT rnn.deploy_model('w', 1);
CREATE VIEW w_more AS SELECT * FROM w_new UNION ALL
SELECT 's9', ts, v + 100 FROM w_new WHERE sensor = 's1';
SELECT version, series FROM rnn.train_forecaster('w', 'w_more', 'ts', 'v',
       series_column => 'sensor', cell => 'gru', hidden_size => 8, window_size => 24,
       horizon => 6, epochs => 1, warm_start => true);
SELECT d.hyperparams->'warm_start_version' AS warm_start_version,
       d.normalization->'series' AS series,
       (d.normalization->'mean'->0) = (a.normalization->'mean'->0) AS s1_kept,
       round((d.normalization->'mean'->>3)::numeric) AS s9_own_mean
FROM rnn.models a, rnn.models d
WHERE a.name = 'w' AND a.version = 1 AND d.name = 'w' AND d.version = 4;
SELECT rnn.undeploy_model('w');
SELECT count(*) AS forecasts FROM rnn.forecast('w');

-- Architecture mismatches: each an error naming the argument, nothing stored.
SELECT count(*) AS models_before FROM rnn.models \gset
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'lstm', hidden_size => 8, window_size => 24, horizon => 6, warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 16, window_size => 24, horizon => 6, warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, num_layers => 2, window_size => 24, horizon => 6,
       warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 48, horizon => 6, warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 12, warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, linear_skip => false,
       warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6,
       normalization => 'series', warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, seasonal => true,
       warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, season_length => 12,
       warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, warm_start => true);
:e
CREATE VIEW w_feat AS SELECT sensor, ts, v, v * 2 AS c FROM w_new;
SELECT * FROM rnn.train_forecaster('w', 'w_feat', 'ts', 'v', series_column => 'sensor',
       feature_columns => '{c}', cell => 'gru', hidden_size => 8, window_size => 24,
       horizon => 6, warm_start => true);
:e
-- rows on another step than the model's (daily, not hourly)
CREATE VIEW w_daily AS SELECT sensor, date_trunc('day', ts) AS ts, avg(v) AS v
FROM w_all GROUP BY 1, 2;
SELECT * FROM rnn.train_forecaster('w', 'w_daily', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, warm_start => true);
:e
-- integer times for a model of timestamps
CREATE VIEW w_int AS SELECT sensor, i AS ts, v FROM w_all;
SELECT * FROM rnn.train_forecaster('w', 'w_int', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, warm_start => true);
:e
-- what to start from
SELECT * FROM rnn.train_forecaster('w_none', 'w_new', 'ts', 'v', warm_start => true);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, warm_start_version => 99);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, warm_start_version => 0);
:e
SELECT * FROM rnn.train_forecaster('w', 'w_new', 'ts', 'v', series_column => 'sensor',
       cell => 'gru', hidden_size => 8, window_size => 24, horizon => 6, warm_start_version => -3);
:e
SELECT rnn.import_model('w_mood', rnn.untrained_weights(
         '{"cell": "gru", "vocab_size": 5, "embedding_dim": 4, "hidden_size": 6,
           "head": "classifier", "output_size": 2}'), 'classifier') AS version;
SELECT count(*) AS models_before FROM rnn.models \gset
SELECT * FROM rnn.train_forecaster('w_mood', 'w_new', 'ts', 'v', warm_start => true);
:e
-- NULL: a cold start, as the defaults
SELECT version FROM rnn.train_forecaster('w_null', 'w_old', 'ts', 'v', series_column => 'sensor',
       hidden_size => 4, window_size => 24, horizon => 6, epochs => 1, warm_start => NULL,
       warm_start_version => NULL);
SELECT hyperparams ? 'warm_start_version' AS warm FROM rnn.models WHERE name = 'w_null';
SELECT count(*) - :models_before AS stored_by_the_errors_and_one_cold_start FROM rnn.models;

-- ---------------------------------------------------------------------------
-- rnn.detect_anomalies on the held-out hours.  Spikes of 6 (the noise is
-- +-0.5, the daily swing +-3) at five times in s2; s1 and s3 stay clean.
CREATE TABLE w_spiky AS SELECT * FROM w_held;
UPDATE w_spiky SET v = v + CASE WHEN i % 2 = 0 THEN 6 ELSE -6 END
WHERE sensor = 's2' AND i IN (700, 731, 850, 1000, 1100);

-- every spike is found, each well outside its interval
SELECT count(*) AS spikes_found, bool_and(score > 2) AS far_out,
       bool_and(value NOT BETWEEN lo AND hi) AS outside
FROM rnn.detect_anomalies('w', 'w_spiky', level => 0.99) a
JOIN w_spiky s ON s.sensor = a.series AND s.ts = a.ts
WHERE s.sensor = 's2' AND s.i IN (700, 731, 850, 1000, 1100);

-- false alarms on the clean rows: 3 x 576 scored rows, so about 17 at 0.99
-- and 173 at 0.9 if the intervals hold; the margins (at most 3x and +-50%)
-- fail for intervals that are far too narrow or too wide
SELECT count(*) <= 3 * 0.01 * 1728 AS few_at_099
FROM rnn.detect_anomalies('w', 'w_held', level => 0.99);
SELECT count(*) BETWEEN 0.5 * 0.1 * 1728 AND 1.5 * 0.1 * 1728 AS about_10pct_at_09
FROM rnn.detect_anomalies('w', 'w_held', level => 0.9);
-- the clean rows of the spiky table too: a spike does not raise alarms in
-- the windows after it (it enters them clipped to its interval)
SELECT count(*) <= 3 * 0.01 * 1723 AS few_besides_the_spikes
FROM rnn.detect_anomalies('w', 'w_spiky', level => 0.99) a
JOIN w_spiky s ON s.sensor = a.series AND s.ts = a.ts
WHERE NOT (s.sensor = 's2' AND s.i IN (700, 731, 850, 1000, 1100));
SELECT count(*) <= 2 AS quiet_after_the_spikes
FROM rnn.detect_anomalies('w', 'w_spiky', level => 0.99) a
JOIN w_spiky s ON s.sensor = a.series AND s.ts = a.ts
WHERE s.sensor = 's2' AND (s.i - 700 BETWEEN 1 AND 24 OR s.i - 850 BETWEEN 1 AND 24);

-- all_rows: every row once; the first window_size of each series unscored
SELECT count(*) AS rows, count(forecast) AS scored, count(*) FILTER (WHERE is_anomaly) >= 5
         AS flagged, count(*) FILTER (WHERE is_anomaly IS NULL) AS unscored,
       bool_and(is_anomaly = (value NOT BETWEEN lo AND hi)) AS flag_is_outside,
       bool_and(is_anomaly = (score > 1)) AS flag_is_score_above_1,
       bool_and(lo < forecast AND forecast < hi) AS ordered,
       count(*) FILTER (WHERE t IS NOT NULL) AS integer_times
FROM rnn.detect_anomalies('w', 'w_spiky', all_rows => true);
-- a higher level flags fewer rows
SELECT (SELECT count(*) FROM rnn.detect_anomalies('w', 'w_spiky', level => 0.999))
    <= (SELECT count(*) FROM rnn.detect_anomalies('w', 'w_spiky', level => 0.99)) AS nested;

-- integer time: t is the time, ts NULL; interpolated steps are never rows
CREATE TABLE w_ticks AS SELECT i AS tick, v FROM w_all WHERE sensor = 's1' AND i < 800 AND i <> 650;
UPDATE w_ticks SET v = v + 6 WHERE tick = 700;
SELECT version FROM rnn.train_forecaster('w_ticks', 'w_ticks', 'tick', 'v', hidden_size => 4,
       window_size => 24, horizon => 6, epochs => 0, missing => 'interpolate');
SELECT series, ts, t, is_anomaly FROM rnn.detect_anomalies('w_ticks', 'w_ticks')
WHERE t = 700;
SELECT count(*) AS rows, count(*) FILTER (WHERE t = 650) AS filled_rows
FROM rnn.detect_anomalies('w_ticks', 'w_ticks', all_rows => true);

-- Bad input.
SELECT * FROM rnn.detect_anomalies('no_such_model', 'w_held');
:e
SELECT * FROM rnn.detect_anomalies('w_mood', 'w_held');
:e
SELECT * FROM rnn.detect_anomalies('w', 'w_held', level => 0);
:e
SELECT * FROM rnn.detect_anomalies('w', 'w_held', level => 1);
:e
SELECT * FROM rnn.detect_anomalies('w', 'w_held', level => -0.5);
:e
SELECT * FROM rnn.detect_anomalies('w', 'w_held', level => 'NaN');
:e
SELECT * FROM rnn.detect_anomalies('w', 'w_held', level => 0.3);
:e
SELECT * FROM rnn.detect_anomalies('w', 'w_held', level => 0.9995);
:e
SELECT * FROM rnn.detect_anomalies(NULL, 'w_held');
:e
SELECT * FROM rnn.detect_anomalies('w', NULL);
:e
SELECT * FROM rnn.detect_anomalies('w', 'w_held', level => NULL);
:e
SELECT * FROM rnn.detect_anomalies('w', 'w_held', all_rows => NULL);
:e
SELECT * FROM rnn.detect_anomalies('w', 'no_such_table');
:e
CREATE TABLE w_no_value AS SELECT sensor, ts FROM w_held;
SELECT * FROM rnn.detect_anomalies('w', 'w_no_value');
:e
CREATE TABLE w_text_value AS SELECT sensor, ts, v::text AS v FROM w_held;
SELECT * FROM rnn.detect_anomalies('w', 'w_text_value');
:e
CREATE TABLE w_nulls AS SELECT sensor, ts, v FROM w_held;
UPDATE w_nulls SET v = NULL WHERE sensor = 's3' AND ts = timestamp '2024-02-01';
SELECT * FROM rnn.detect_anomalies('w', 'w_nulls');
:e
CREATE TABLE w_gap AS SELECT sensor, ts, v FROM w_held WHERE NOT (sensor = 's1' AND i = 900);
SELECT * FROM rnn.detect_anomalies('w', 'w_gap');
:e
SELECT version FROM rnn.train_forecaster('w_noval', 'w_old', 'ts', 'v', series_column => 'sensor',
       hidden_size => 4, window_size => 24, horizon => 6, epochs => 0, validation_fraction => 0);
SELECT * FROM rnn.detect_anomalies('w_noval', 'w_held');
:e
