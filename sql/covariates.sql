-- Calendar inputs and known-future covariates: calendar_inputs and
-- future_columns of rnn.train_forecaster, rnn.forecast(..., future => ...),
-- and their bad input (each case prints its SQLSTATE; none stores a model).
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET client_min_messages = warning;
SET rnn.progress = off;
SET rnn.blas_threads = 1;
SET TimeZone = 'Europe/Berlin';

-- Daily sales of 4 shops over 2 years and 4 weeks: a weekly cycle, a
-- planned price that changes every few weeks (each 10% over 10 cuts sales
-- by about a fifth), and holidays on which sales double.  Neither price
-- nor holiday can be guessed from the past sales, so a model that knows
-- them for the forecast days should forecast those days better.  The last
-- 28 days are held out: their sales are the truth, their price and
-- holiday the "plan".
CREATE TABLE shop_days AS
SELECT 'shop' || s AS shop, (date '2023-01-01' + i)::date AS day, i, s,
       round((10 + 3 * (((i / 19) * 7919 + s * 104729) % 5) / 4.0)::numeric, 2) AS price,
       (((i * 7 + 3) % 23 = 0) OR ((i * 11 + s) % 37 = 0))::int AS holiday
FROM generate_series(1, 4) s, generate_series(0, 757) i;
ALTER TABLE shop_days ADD COLUMN units float8;
UPDATE shop_days SET units =
    (50 + 10 * s) * (1 + 0.25 * cos(2 * pi() * extract(isodow FROM day) / 7))
    * exp(-2.2 * (price - 10) / 10) * (1 + holiday)
    * (1 + 0.05 * (((i * 7919 + s * 104729) % 1000) / 1000.0 - 0.5));
CREATE VIEW shop_past AS SELECT shop, day, units, price, holiday FROM shop_days WHERE i < 730;
CREATE VIEW shop_plan AS SELECT shop, day, price, holiday FROM shop_days WHERE i >= 730;
SELECT count(*) AS rows, count(DISTINCT shop) AS shops, sum(holiday) AS holidays,
       count(DISTINCT price) AS prices FROM shop_days;

-- Without and with the plan: the same linear path (epochs => 0: the ridge
-- start alone), then a trained GRU with the plan.
SELECT version, series, valid_mse < naive_valid_mse AS beats_naive
FROM rnn.train_forecaster('no_plan', 'shop_past', 'day', 'units', series_column => 'shop',
       window_size => 28, horizon => 14, epochs => 0);
SELECT version, series, valid_mse < naive_valid_mse AS beats_naive
FROM rnn.train_forecaster('plan', 'shop_past', 'day', 'units', series_column => 'shop',
       window_size => 28, horizon => 14, epochs => 0,
       future_columns => '{price, holiday}');
SELECT version, best_epoch >= 0 AS trained
FROM rnn.train_forecaster('plan_gru', 'shop_past', 'day', 'units', series_column => 'shop',
       cell => 'gru', hidden_size => 16, window_size => 28, horizon => 14, epochs => 3,
       learning_rate => 0.003, future_columns => '{price, holiday}',
       calendar_inputs => '{auto}');

-- The plan's validation error is well below the one without it.
SELECT (SELECT (metrics->>'valid_mse')::float8 FROM rnn.models WHERE name = 'plan')
     < 0.5 * (SELECT (metrics->>'valid_mse')::float8 FROM rnn.models WHERE name = 'no_plan')
       AS plan_halves_valid_mse;

-- The stored model says what it reads.
SELECT hyperparams->'future_columns' AS future_columns,
       hyperparams->'feature_columns' AS feature_columns,
       hyperparams->'calendar_inputs' AS calendar_inputs,
       hyperparams->>'calendar_time_zone' AS zone
FROM rnn.models WHERE name IN ('plan', 'plan_gru') ORDER BY name;

-- Forecast the 28 held-out days' first 14 from the plan, against the truth:
-- mean absolute error on the days held out, with and without the plan.
CREATE TEMP TABLE fc AS
SELECT 'no_plan' AS m, f.* FROM rnn.forecast('no_plan', relation => 'shop_past') f
UNION ALL
SELECT 'plan', f.* FROM rnn.forecast('plan', relation => 'shop_past', future => 'shop_plan') f
UNION ALL
SELECT 'plan_gru', f.* FROM rnn.forecast('plan_gru', relation => 'shop_past', future => 'shop_plan') f;
SELECT m, count(*) AS rows, min(ts)::date AS first_day, max(ts)::date AS last_day
FROM fc GROUP BY m ORDER BY m;
SELECT (SELECT avg(abs(fc.value - d.units)) FROM fc JOIN shop_days d
        ON d.shop = fc.series AND d.day = fc.ts::date WHERE m = 'plan')
     < 0.6 * (SELECT avg(abs(fc.value - d.units)) FROM fc JOIN shop_days d
        ON d.shop = fc.series AND d.day = fc.ts::date WHERE m = 'no_plan')
       AS plan_beats_no_plan_on_held_out_days,
       (SELECT avg(abs(fc.value - d.units)) FROM fc JOIN shop_days d
        ON d.shop = fc.series AND d.day = fc.ts::date WHERE m = 'plan_gru')
     < 0.6 * (SELECT avg(abs(fc.value - d.units)) FROM fc JOIN shop_days d
        ON d.shop = fc.series AND d.day = fc.ts::date WHERE m = 'no_plan')
       AS plan_gru_beats_no_plan;
-- On a holiday the plan's forecast is higher than the day's forecast
-- without it: the model uses the flag of the day it forecasts.
SELECT bool_and(p.value > n.value) AS holidays_forecast_higher, count(*) AS holiday_forecasts
FROM fc p JOIN fc n ON n.series = p.series AND n.step = p.step AND n.m = 'no_plan'
JOIN shop_days d ON d.shop = p.series AND d.day = p.ts::date
WHERE p.m = 'plan' AND d.holiday = 1;
-- A longer plan than the horizon is fine: rows past it are not read, nor
-- are rows of shops not forecast; horizon => 3 still needs all 14 days.
SELECT count(*) FROM rnn.forecast('plan', horizon => 3, relation => 'shop_past',
       future => 'shop_days');
-- evaluate and detect_anomalies read the future columns from the relation
SELECT windows, mse_normalized < naive_mse_normalized AS beats_naive
FROM rnn.evaluate('plan', 'shop_days');
SELECT count(*) > 0 AS rows_scored FROM rnn.detect_anomalies('plan', 'shop_days', all_rows => true);

-- Seasonal model and warm start with both
SELECT version FROM rnn.train_forecaster('plan_seasonal', 'shop_past', 'day', 'units',
       series_column => 'shop', cell => 'gru', hidden_size => 8, window_size => 28,
       horizon => 14, epochs => 1, seasonal => true, normalization => 'level',
       future_columns => '{price, holiday}', calendar_inputs => '{day_of_year}');
SELECT count(*) FROM rnn.forecast('plan_seasonal', relation => 'shop_past', future => 'shop_plan');
SELECT version FROM rnn.train_forecaster('plan_gru', 'shop_past', 'day', 'units',
       series_column => 'shop', cell => 'gru', hidden_size => 16, window_size => 28,
       horizon => 14, epochs => 1, future_columns => '{price, holiday}',
       calendar_inputs => '{auto}', warm_start => true);

-- Calendar inputs on monthly data: 12 products, 10 years of month starts
-- with a yearly cycle.  '{auto}' is the month for a monthly step; the
-- forecast continues the calendar, and predict_next with each row's time
-- gives rnn.forecast's values.
CREATE TABLE months AS
SELECT 'P' || p AS product, (date '2014-01-01' + make_interval(months => i))::date AS month,
       100 * p + 30 * p * cos(2 * pi() * (i + p) / 12)
       + ((i * 7919 + p * 104729) % 100) / 10.0 AS units
FROM generate_series(1, 12) p, generate_series(0, 119) i;
SELECT version, valid_mse < seasonal_valid_mse AS beats_seasonal_naive
FROM rnn.train_forecaster('monthly', 'months', 'month', 'units', series_column => 'product',
       cell => 'gru', hidden_size => 16, window_size => 12, horizon => 6, epochs => 3,
       learning_rate => 0.005, calendar_inputs => '{auto}');
SELECT hyperparams->'calendar_inputs' AS calendar_inputs, hyperparams->>'step' AS step
FROM rnn.models WHERE name = 'monthly';
SELECT step, ts::date FROM rnn.forecast('monthly') WHERE series = 'P1' ORDER BY step;
SELECT max(abs(f.value - p.v[f.step])) < 1e-3 * max(abs(f.value)) AS predict_next_matches
FROM rnn.forecast('monthly') f,
     (SELECT rnn.predict_next('monthly', units, 'P3', month ORDER BY month) AS v
      FROM months WHERE product = 'P3') p
WHERE f.series = 'P3';
SELECT windows > 0 AS evaluated FROM rnn.evaluate('monthly', 'months');
-- a timestamptz model keeps the zone it was trained in
CREATE TABLE hourly AS
SELECT timestamptz '2024-03-20 00:00+01' + make_interval(hours => i) AS ts,
       10 + 3 * sin(2 * pi() * i / 24) + ((i * 7919) % 100) / 100.0 AS v
FROM generate_series(0, 999) i;
SELECT version FROM rnn.train_forecaster('hourly', 'hourly', 'ts', 'v', window_size => 48,
       horizon => 6, epochs => 0, calendar_inputs => '{auto}');
SELECT hyperparams->'calendar_inputs' AS calendar_inputs, hyperparams->>'calendar_time_zone' AS zone
FROM rnn.models WHERE name = 'hourly';
CREATE TEMP TABLE h1 AS SELECT * FROM rnn.forecast('hourly');
SET TimeZone = 'America/New_York';
SELECT count(*) AS same_in_new_york FROM rnn.forecast('hourly') f JOIN h1 USING (step)
WHERE f.value = h1.value AND f.ts = h1.ts;
SET TimeZone = 'Europe/Berlin';

-- Bad input: each prints its SQLSTATE, and nothing is stored.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM rnn.models;
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, calendar_inputs => '{hour_of_week}');
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, calendar_inputs => '{auto, month}');
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, calendar_inputs => '{month, month}');
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, calendar_inputs => ARRAY['month', NULL]);
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, calendar_inputs => '{hour_of_day}');
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_days', 'i', 'units',
       series_column => 'shop', epochs => 0, calendar_inputs => '{day_of_week}');
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, future_columns => '{discount}');
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, future_columns => '{shop}');
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, future_columns => '{units}');
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, feature_columns => '{price}',
       future_columns => '{price}');
:e
SELECT version FROM rnn.train_forecaster('bad', 'shop_past', 'day', 'units',
       series_column => 'shop', epochs => 0, future_columns => '{price, price}');
:e
CREATE VIEW shop_past_null AS
SELECT shop, day, units, CASE WHEN day = date '2023-05-01' THEN NULL ELSE price END AS price
FROM shop_past;
SELECT version FROM rnn.train_forecaster('bad', 'shop_past_null', 'day', 'units',
       series_column => 'shop', epochs => 0, future_columns => '{price}');
:e
-- a warm start must keep calendar_inputs and future_columns
SELECT version FROM rnn.train_forecaster('plan_gru', 'shop_past', 'day', 'units',
       series_column => 'shop', cell => 'gru', hidden_size => 16, window_size => 28,
       horizon => 14, epochs => 1, future_columns => '{price, holiday}',
       calendar_inputs => '{day_of_week}', warm_start => true);
:e
SELECT version FROM rnn.train_forecaster('plan_gru', 'shop_past', 'day', 'units',
       series_column => 'shop', cell => 'gru', hidden_size => 16, window_size => 28,
       horizon => 14, epochs => 1, future_columns => '{holiday}',
       calendar_inputs => '{auto}', warm_start => true);
:e
SELECT count(*) = (SELECT n FROM before) AS nothing_stored FROM rnn.models;

-- rnn.forecast: the plan is needed, complete, of the right types
SELECT count(*) FROM rnn.forecast('plan', relation => 'shop_past');
:e
SELECT count(*) FROM rnn.forecast('no_plan', relation => 'shop_past', future => 'shop_plan');
:e
CREATE VIEW plan_short AS SELECT * FROM shop_plan WHERE NOT (shop = 'shop3' AND day = date '2025-01-09');
SELECT count(*) FROM rnn.forecast('plan', relation => 'shop_past', future => 'plan_short');
:e
CREATE VIEW plan_null AS
SELECT shop, day, CASE WHEN shop = 'shop2' AND day = date '2025-01-05' THEN NULL ELSE price END AS price,
       holiday FROM shop_plan;
SELECT count(*) FROM rnn.forecast('plan', relation => 'shop_past', future => 'plan_null');
:e
CREATE VIEW plan_nan AS
SELECT shop, day, price, CASE WHEN shop = 'shop2' AND day = date '2025-01-05' THEN 'NaN'::float8
       ELSE holiday END AS holiday FROM shop_plan;
SELECT count(*) FROM rnn.forecast('plan', relation => 'shop_past', future => 'plan_nan');
:e
CREATE VIEW plan_twice AS SELECT * FROM shop_plan UNION ALL
SELECT * FROM shop_plan WHERE shop = 'shop1' AND day = date '2025-01-03';
SELECT count(*) FROM rnn.forecast('plan', relation => 'shop_past', future => 'plan_twice');
:e
CREATE VIEW plan_ts AS SELECT shop, day::timestamp AS day, price, holiday FROM shop_plan;
SELECT count(*) FROM rnn.forecast('plan', relation => 'shop_past', future => 'plan_ts');
:e
CREATE VIEW plan_no_price AS SELECT shop, day, holiday FROM shop_plan;
SELECT count(*) FROM rnn.forecast('plan', relation => 'shop_past', future => 'plan_no_price');
:e
CREATE VIEW plan_text AS SELECT shop, day, price::text AS price, holiday FROM shop_plan;
SELECT count(*) FROM rnn.forecast('plan', relation => 'shop_past', future => 'plan_text');
:e
-- predict_next: a calendar model needs the times, a plan model rnn.forecast
SELECT rnn.predict_next('monthly', units ORDER BY month) FROM months WHERE product = 'P1';
:e
SELECT rnn.predict_next('plan', units, 'shop1', day ORDER BY day) FROM shop_past WHERE shop = 'shop1';
:e
-- PyTorch export is refused by scripts/rnn_torch.py (test/pq/torch_interop.sh)
