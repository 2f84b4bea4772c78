-- Forecasting: train on ordered rows, forecast with intervals, backtest in SQL.
\set SHOW_CONTEXT never
SET client_min_messages = warning;   -- hide the per-epoch NOTICEs
SET rnn.blas_threads = 1;

-- Hourly readings of 20 sensors: a daily cycle around each sensor's own
-- level (10, 20, ... 200) plus deterministic noise.
CREATE TABLE readings AS
SELECT 'sensor_' || lpad(s::text, 2, '0') AS sensor,
       timestamp '2024-01-01' + make_interval(hours => i) AS ts,
       10.0 * s + 2 * sin(i * 2 * pi() / 24)
         + ((i * 7919 + s * 104729) % 1000) / 1000.0 - 0.5 AS temp,
       cos(i * 2 * pi() / 24) AS hour_cos
FROM generate_series(1, 20) s, generate_series(0, 299) i;

-- Train on everything up to the last 12 hours of each sensor.
CREATE VIEW readings_past AS
SELECT * FROM readings WHERE ts < timestamp '2024-01-01' + interval '288 hours';

SELECT model, version, series, train_windows,
       epochs_run BETWEEN 1 AND 8 AS epochs_ok,
       valid_mse < naive_valid_mse AS beats_naive,
       valid_mse < seasonal_valid_mse * 3 AS near_seasonal,
       valid_mae > 0 AS has_mae
FROM rnn.train_forecaster('temp', 'readings_past',
       time_column => 'ts', value_column => 'temp', series_column => 'sensor',
       cell => 'gru', hidden_size => 16, window_size => 48, horizon => 12,
       epochs => 8, learning_rate => 0.01, batch_size => 32);

-- The model is stored with its statistics and loss curve.
SELECT name, version, kind, cell, source_rows,
       jsonb_array_length(normalization -> 'series') AS series_stats,
       jsonb_array_length(loss_curve -> 'train') BETWEEN 1 AND 8 AS curve,
       hyperparams ->> 'window_size' AS window_size
FROM rnn.models WHERE name = 'temp';

-- The next 12 hours of every sensor, with 90% intervals.
SELECT count(*) AS rows, count(DISTINCT series) AS series, min(step), max(step),
       bool_and(lo <= value AND value <= hi) AS value_inside_interval,
       min(ts) = timestamptz '2024-01-13 00:00:00+00' AS first_ts,
       max(ts) = timestamptz '2024-01-13 11:00:00+00' AS last_ts
FROM rnn.forecast('temp', relation => 'readings_past');

SELECT series, step, ts, round(value::numeric, 0) AS about
FROM rnn.forecast('temp', horizon => 2, relation => 'readings_past')
WHERE series IN ('sensor_01', 'sensor_20') ORDER BY series, step;

-- On the 12 held-out hours, the 90% intervals contain the truth about 90%
-- of the time, and the forecast beats repeating the last value.
WITH f AS (SELECT * FROM rnn.forecast('temp', level => 0.9, relation => 'readings_past')),
     truth AS (SELECT sensor, ts, temp FROM readings),
     last AS (SELECT DISTINCT ON (sensor) sensor, temp FROM readings_past ORDER BY sensor, ts DESC)
SELECT count(*) AS points,
       avg((t.temp BETWEEN f.lo AND f.hi)::int) BETWEEN 0.75 AND 1.0 AS coverage_near_90,
       avg((f.value - t.temp) ^ 2) < avg((l.temp - t.temp) ^ 2) AS beats_naive
FROM f JOIN truth t ON t.sensor = f.series AND t.ts = f.ts
       JOIN last l ON l.sensor = f.series;

-- Wider level, wider interval.
SELECT bool_and(w.hi - w.lo >= n.hi - n.lo) AS wider
FROM rnn.forecast('temp', level => 0.99, relation => 'readings_past') w
JOIN rnn.forecast('temp', level => 0.5, relation => 'readings_past') n USING (series, step);

-- predict_next: the same forecast from any ordered set of rows.
SELECT sensor, array_length(rnn.predict_next('temp', temp, sensor ORDER BY ts), 1) AS steps
FROM readings_past WHERE sensor <= 'sensor_02' GROUP BY sensor ORDER BY sensor;

SELECT bool_and(abs(p.v[1] - f.value) < 1e-3) AS same_as_forecast
FROM (SELECT sensor, rnn.predict_next('temp', temp, sensor ORDER BY ts) AS v
      FROM readings_past GROUP BY sensor) p
JOIN rnn.forecast('temp', relation => 'readings_past') f ON f.series = p.sensor AND f.step = 1;

-- rnn.forecast reads only the newest window_size rows of each series, in
-- one scan without sorting the table: row order on disk does not matter,
-- and history outside the window (an old gap, an old duplicate) is not
-- checked again.  Problems inside the window are still errors.
CREATE TABLE shuffled AS SELECT * FROM readings_past ORDER BY md5(ts::text || sensor);
INSERT INTO shuffled SELECT sensor, ts - interval '1 year', temp, hour_cos
  FROM readings_past WHERE ts < timestamp '2024-01-02';   -- far older rows, a gap before them
INSERT INTO shuffled SELECT sensor, ts, temp, hour_cos
  FROM readings_past WHERE ts = timestamp '2024-01-01 05:00';  -- old duplicates
SELECT count(*) AS rows, max(abs(a.value - b.value)) < 1e-9 AS same_forecast
FROM rnn.forecast('temp', relation => 'shuffled') a
JOIN rnn.forecast('temp', relation => 'readings_past') b USING (series, step);
-- The window of each sensor is 2024-01-11 00:00 .. 2024-01-12 23:00.  A
-- duplicate just before it is history; at its first hour it is an error.
INSERT INTO shuffled SELECT sensor, ts, temp, hour_cos
  FROM readings_past WHERE ts = timestamp '2024-01-10 23:00' AND sensor = 'sensor_07';
SELECT count(*) FROM rnn.forecast('temp', relation => 'shuffled');
INSERT INTO shuffled SELECT sensor, ts, temp, hour_cos
  FROM readings_past WHERE ts = timestamp '2024-01-11 00:00' AND sensor = 'sensor_07';
SELECT count(*) FROM rnn.forecast('temp', relation => 'shuffled');
-- A gap inside the window (the old duplicate gone, so that the window's
-- rows reach back past it).
DELETE FROM shuffled WHERE ts = timestamp '2024-01-10 23:00' AND sensor = 'sensor_07';
DELETE FROM shuffled WHERE ts = timestamp '2024-01-12 20:00' AND sensor = 'sensor_07';
DELETE FROM shuffled WHERE ts = timestamp '2024-01-11 00:00' AND sensor = 'sensor_07';
INSERT INTO shuffled SELECT sensor, ts, temp, hour_cos
  FROM readings_past WHERE ts = timestamp '2024-01-11 00:00' AND sensor = 'sensor_07';
SELECT count(*) FROM rnn.forecast('temp', relation => 'shuffled');
DROP TABLE shuffled;
-- The same in time order, the duplicate stored next to its twin: the first
-- of the two leaves the window as newer rows come, the second stays its
-- first row, and that is still an error.
CREATE TABLE ordered_dup AS
SELECT * FROM (SELECT * FROM readings_past WHERE sensor = 'sensor_03'
               UNION ALL
               SELECT * FROM readings_past
               WHERE sensor = 'sensor_03' AND ts = timestamp '2024-01-11 00:00') x
ORDER BY ts;
SELECT count(*) FROM rnn.forecast('temp', relation => 'ordered_dup');
DELETE FROM ordered_dup
WHERE ctid = (SELECT max(ctid) FROM ordered_dup WHERE ts = timestamp '2024-01-11 00:00');
SELECT count(*) FROM rnn.forecast('temp', relation => 'ordered_dup');
DROP TABLE ordered_dup;

-- Backtest in plain SQL: at every hour, the forecast from the 48 hours up
-- to it (NULL until 48 rows have been seen).
WITH bt AS (
  SELECT ts, temp,
         rnn.predict_next('temp', temp, sensor) OVER (ORDER BY ts ROWS 47 PRECEDING) AS next
  FROM readings WHERE sensor = 'sensor_05')
SELECT count(*) AS rows, count(next) AS forecasts, min(array_length(next, 1)) AS steps
FROM bt;

-- Errors on a held-out table, next to the baselines on the same windows.
SELECT windows, mse < naive_mse AS beats_naive, mse_normalized < naive_mse_normalized AS normalized_too,
       abs(mse / mse_normalized - 1) > 0 AS scales_differ
FROM rnn.evaluate('temp', 'readings');

-- epochs => 0: the linear path alone, solved in closed form (ridge
-- regression on the training windows): a strong baseline in one call.
SELECT epochs_run, best_epoch, valid_mse < naive_valid_mse AS beats_naive
FROM rnn.train_forecaster('temp_linear', 'readings_past', 'ts', 'temp', series_column => 'sensor',
       window_size => 48, horizon => 12, epochs => 0);
SELECT * FROM rnn.train_forecaster('x', 'readings_past', 'ts', 'temp', epochs => 0, linear_skip => false);

-- Seasonal data: normalization => 'level' works on log values over the level
-- of the window's last season, seasonal => true reads the window a season
-- (here 24 hours) at a time and corrects the seasonal-naive forecast.
-- Untrained (epochs => 0, no linear path), it is seasonal naive exactly.
-- Trained, it fits absolute errors (a median): it is compared on them.
SELECT epochs_run, abs(valid_mse / seasonal_valid_mse - 1) < 1e-6 AS is_seasonal_naive
FROM rnn.train_forecaster('temp_sn', 'readings_past', 'ts', 'temp', series_column => 'sensor',
       cell => 'gru', window_size => 48, horizon => 12, normalization => 'level',
       seasonal => true, linear_skip => false, epochs => 0);
SELECT epochs_run BETWEEN 1 AND 10 AS epochs_ok, best_epoch > 0 AS learned,
       valid_mae < seasonal_valid_mae AS beats_seasonal_naive
FROM rnn.train_forecaster('temp_seasonal', 'readings_past', 'ts', 'temp', series_column => 'sensor',
       cell => 'gru', hidden_size => 16, window_size => 48, horizon => 12,
       normalization => 'level', seasonal => true, linear_skip => false,
       epochs => 10, learning_rate => 0.01, batch_size => 32);
SELECT hyperparams ->> 'seasonal' AS seasonal, hyperparams ->> 'normalize' AS normalize,
       hyperparams ->> 'season_length' AS season_length,
       rnn.model_config('temp_seasonal') -> 'architecture' ->> 'input_size' AS input_size
FROM rnn.models WHERE name = 'temp_seasonal';
-- intervals are ratios: positive, and wider above the value than below
SELECT count(*) AS rows, bool_and(lo > 0 AND lo <= value AND value <= hi) AS inside,
       bool_and(hi - value >= value - lo) AS multiplicative
FROM rnn.forecast('temp_seasonal', relation => 'readings_past');
-- rnn.predict_next gives what rnn.forecast gives
SELECT max(abs(p.next[f.step] / f.value - 1)) < 1e-5 AS same_as_forecast
FROM rnn.forecast('temp_seasonal', relation => 'readings_past') f
JOIN (SELECT sensor, rnn.predict_next('temp_seasonal', temp, sensor ORDER BY ts) AS next
      FROM readings_past GROUP BY sensor) p ON p.sensor = f.series;
SELECT windows, mae < seasonal_mae AS beats_seasonal_naive FROM rnn.evaluate('temp_seasonal', 'readings');
-- bad input: values that are not positive, a window that is not whole seasons
CREATE TABLE readings_signed AS SELECT sensor, ts, temp - 15 AS temp FROM readings_past;
SELECT * FROM rnn.train_forecaster('x', 'readings_signed', 'ts', 'temp', series_column => 'sensor',
       window_size => 48, horizon => 12, normalization => 'level', epochs => 1);
SELECT rnn.predict_next('temp_seasonal', temp - 15, sensor ORDER BY ts) FROM readings_past WHERE sensor = 'sensor_01' GROUP BY sensor;
SELECT * FROM rnn.train_forecaster('x', 'readings_past', 'ts', 'temp', series_column => 'sensor',
       window_size => 36, horizon => 12, seasonal => true, epochs => 1);
SELECT * FROM rnn.train_forecaster('x', 'readings_past', 'ts', 'temp', series_column => 'sensor',
       window_size => 12, horizon => 12, normalization => 'level', epochs => 1);
SELECT * FROM rnn.train_forecaster('x', 'readings_past', 'ts', 'temp', window_size => 48, horizon => 12,
       epochs => 0, linear_skip => false, seasonal => NULL);

-- Covariates are read as past inputs.
SELECT series, train_windows
FROM rnn.train_forecaster('temp_cov', 'readings_past', 'ts', 'temp',
       series_column => 'sensor', feature_columns => '{hour_cos}',
       hidden_size => 8, window_size => 24, horizon => 6, epochs => 1);
SELECT count(*) FROM rnn.forecast('temp_cov', relation => 'readings_past');
SELECT rnn.predict_next('temp_cov', temp ORDER BY ts) FROM readings;

-- One series without series_column; an integer time column.
CREATE TABLE counts AS SELECT i AS t, (i % 7)::float8 + i / 100.0 AS n FROM generate_series(1, 200) i;
SELECT series, train_windows FROM rnn.train_forecaster('counts', 'counts', 't', 'n',
       hidden_size => 8, window_size => 14, horizon => 7, epochs => 2);
SELECT series, step, ts IS NULL AS no_ts FROM rnn.forecast('counts', horizon => 2);

-- Missing values: an error naming the series and time, or interpolation.
CREATE TABLE gappy AS SELECT * FROM readings WHERE sensor = 'sensor_03';
UPDATE gappy SET temp = NULL WHERE ts = timestamp '2024-01-02 05:00';
UPDATE gappy SET temp = 'NaN' WHERE ts = timestamp '2024-01-03 07:00';
SELECT * FROM rnn.train_forecaster('gappy', 'gappy', 'ts', 'temp', window_size => 24, horizon => 6, epochs => 1);
SELECT series, train_windows FROM rnn.train_forecaster('gappy', 'gappy', 'ts', 'temp',
       window_size => 24, horizon => 6, epochs => 1, missing => 'interpolate');
-- Forecasting interpolates within the last window_size rows it reads.
CREATE TABLE gappy_tail AS SELECT * FROM gappy;
UPDATE gappy_tail SET temp = NULL WHERE ts = timestamp '2024-01-13 10:00';
SELECT count(*) AS steps, bool_and(value IS NOT NULL) AS all_values
FROM rnn.forecast('gappy', relation => 'gappy_tail');
UPDATE gappy_tail SET temp = NULL WHERE ts >= timestamp '2024-01-12 12:00';
SELECT count(*) FROM rnn.forecast('gappy', relation => 'gappy_tail');
DROP TABLE gappy_tail;
UPDATE gappy SET temp = 'Infinity' WHERE ts = timestamp '2024-01-04 00:00';
SELECT * FROM rnn.train_forecaster('gappy', 'gappy', 'ts', 'temp', epochs => 1, missing => 'interpolate');

-- Time stamps must be unique and evenly spaced per series.
CREATE TABLE dup AS SELECT * FROM readings WHERE sensor = 'sensor_04';
INSERT INTO dup SELECT * FROM readings WHERE sensor = 'sensor_04' AND ts = timestamp '2024-01-05';
SELECT * FROM rnn.train_forecaster('dup', 'dup', 'ts', 'temp', epochs => 1);
DELETE FROM dup WHERE ts IN (timestamp '2024-01-05', timestamp '2024-01-06 03:00');
SELECT * FROM rnn.train_forecaster('dup', 'dup', 'ts', 'temp', epochs => 1);

-- No series long enough for a training window: the error gives the minimum.
SELECT * FROM rnn.train_forecaster('short', 'readings', 'ts', 'temp', series_column => 'sensor',
       window_size => 280, horizon => 24);
CREATE TABLE empty_readings (ts timestamp, temp float8);
SELECT * FROM rnn.train_forecaster('empty', 'empty_readings', 'ts', 'temp');

-- Columns and types.
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temperature');
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'sensor');
SELECT * FROM rnn.train_forecaster('x', 'readings', 'temp', 'temp');
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', feature_columns => '{humidity}');
SELECT * FROM rnn.train_forecaster('x', 'no_such_table', 'ts', 'temp');
SELECT * FROM rnn.train_forecaster('x', 'readings', NULL, 'temp');

-- Hyper-parameters out of range name the value.
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', hidden_size => 0);
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', hidden_size => 100000);
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', epochs => -1);
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', learning_rate => 'NaN');
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', validation_fraction => 0.95);
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', dropout => 1);
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', cell => 'transformer');
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', missing => 'zero');
SELECT * FROM rnn.train_forecaster('x', 'readings', 'ts', 'temp', normalization => 'minmax');
SELECT * FROM rnn.train_forecaster('', 'readings', 'ts', 'temp');

-- Using a model the wrong way.
SELECT * FROM rnn.forecast('no_such_model');
SELECT * FROM rnn.forecast('temp', horizon => 13, relation => 'readings_past');
SELECT * FROM rnn.forecast('temp', level => 0.9995, relation => 'readings_past');
SELECT rnn.import_model('mood', rnn.untrained_weights(
         '{"cell": "gru", "vocab_size": 5, "embedding_dim": 4, "hidden_size": 6,
           "head": "classifier", "output_size": 2}'), 'classifier') AS version;
SELECT * FROM rnn.forecast('mood');
SELECT rnn.predict_next('mood', temp ORDER BY ts) FROM readings;
SELECT * FROM rnn.evaluate('mood', 'readings');

-- The training relation is looked up by name at each use.
CREATE TABLE counts_copy AS SELECT * FROM counts;
SELECT series FROM rnn.train_forecaster('counts_copy', 'counts_copy', 't', 'n',
       hidden_size => 4, window_size => 14, horizon => 7, epochs => 1);
DROP TABLE counts_copy;
SELECT count(*) FROM rnn.forecast('counts_copy');
SELECT count(*) FROM rnn.forecast('counts_copy', relation => 'counts');
CREATE TABLE counts_copy AS SELECT * FROM counts;
SELECT count(*) FROM rnn.forecast('counts_copy');

-- A cancelled training (here by statement_timeout) stores nothing.
SET statement_timeout = '300ms';
SELECT * FROM rnn.train_forecaster('slow', 'readings', 'ts', 'temp', series_column => 'sensor',
       hidden_size => 128, epochs => 1000);
RESET statement_timeout;

-- Nothing was stored by any failed call.
SELECT name, count(*) AS versions FROM rnn.models GROUP BY name ORDER BY name;

SELECT rnn.drop_model('temp'), rnn.drop_model('temp_cov'), rnn.drop_model('counts'),
       rnn.drop_model('gappy'), rnn.drop_model('mood'), rnn.drop_model('temp_linear'),
       rnn.drop_model('counts_copy'), rnn.drop_model('temp_sn'), rnn.drop_model('temp_seasonal');
DROP TABLE readings CASCADE;
DROP TABLE counts, counts_copy, gappy, dup, empty_readings, readings_signed;
