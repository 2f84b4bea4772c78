-- Calendar time: steps from minutes to years, month starts and month ends,
-- DST, missing steps, and many series of any length.
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET client_min_messages = notice;
SET rnn.progress = off;              -- no per-epoch NOTICEs; the others stay
SET rnn.blas_threads = 1;

-- Monthly sales of 300 products, as a business table holds them: levels
-- from a few units to thousands, a yearly cycle peaking in a different month
-- for each product, trends up and down, noise; a quarter of the products
-- are new (4 to 23 months of history), one in ten was discontinued up to
-- three years ago; one product in 25 has a month without a row and one in
-- 30 a NULL.  Month-start dates.
CREATE TABLE monthly_sales AS
WITH p AS (
  SELECT s, 'P' || lpad(s::text, 3, '0') AS product,
         CASE WHEN s % 4 = 0 THEN 4 + (s * 7) % 20 ELSE 24 + (s * 37) % 97 END AS len,
         CASE WHEN s % 10 = 3 THEN (s * 13) % 36 ELSE 0 END AS ended,
         exp(2 + ((s * 0.618) % 1) * 6) AS level,
         0.1 + 0.4 * ((s * 0.377) % 1) AS amp,
         (s * 5) % 12 AS peak,
         -0.005 + 0.015 * ((s * 0.273) % 1) AS trend
  FROM generate_series(1, 300) s)
SELECT product, month,
       round((level * (1 + trend * i)
              * (1 + amp * cos(2 * pi() * (extract(month FROM month) - 1 - peak) / 12))
              * (1 + 0.1 * (((s * 7919 + i * 104729) % 1000) / 1000.0 - 0.5)))::numeric, 1) AS units
FROM p, generate_series(0, len - 1) i,
     LATERAL (SELECT (date '2024-12-01' - make_interval(months => ended + len - 1 - i))::date AS month) m;
DELETE FROM monthly_sales s USING (
  SELECT product, min(month) + interval '1 year' AS month FROM monthly_sales
  WHERE substr(product, 2)::int % 25 = 7 GROUP BY product) g
WHERE s.product = g.product AND s.month = g.month;
UPDATE monthly_sales SET units = NULL
WHERE substr(product, 2)::int % 30 = 11 AND month = date '2024-06-01';

SELECT count(*) AS rows, count(DISTINCT product) AS products,
       min(n) AS shortest, max(n) AS longest, count(*) FILTER (WHERE n < 36) AS under_3_years
FROM (SELECT product, count(*) AS n FROM monthly_sales GROUP BY product) c;

-- Train on everything before 2024 (products launched in 2024 are not in the
-- view at all).  A missing month is an error naming the product and month.
CREATE VIEW sales_past AS SELECT * FROM monthly_sales WHERE month < date '2024-01-01';
SELECT version FROM rnn.train_forecaster('sales', 'sales_past', 'month', 'units',
       series_column => 'product', window_size => 24, horizon => 12, epochs => 0);
:e
SELECT count(*) FROM rnn.models WHERE name = 'sales';

-- With missing => 'interpolate' missing months are filled on the calendar
-- like NULL values.  Products shorter than window + horizon are left out of
-- training, with a NOTICE; the call succeeds.
SELECT model, series, train_windows > 1000 AS windows_ok,
       valid_mse < naive_valid_mse AS beats_naive,
       valid_mae < naive_valid_mae AS beats_naive_mae
FROM rnn.train_forecaster('sales', 'sales_past', 'month', 'units', series_column => 'product',
       missing => 'interpolate', cell => 'gru', hidden_size => 16, window_size => 24,
       horizon => 12, epochs => 3, learning_rate => 0.005);

-- The step is a month, so the season is 12 steps.
SELECT hyperparams ->> 'step' AS step, hyperparams ->> 'season_length' AS season_length,
       normalization ->> 'time_type' AS time_type,
       jsonb_array_length(normalization -> 'series') AS series_stats
FROM rnn.models WHERE name = 'sales';

-- rnn.forecast: every product of the view, short ones included, 12 month
-- starts after its own last month.
WITH f AS (SELECT * FROM rnn.forecast('sales', level => 0.9)),
     last AS (SELECT product, max(month) AS month FROM sales_past GROUP BY product)
SELECT count(*) AS rows, count(DISTINCT series) AS products,
       bool_and(f.ts::date = (l.month + make_interval(months => f.step))::date) AS on_calendar,
       bool_and(extract(day FROM f.ts) = 1) AS month_starts,
       bool_and(f.lo <= f.value AND f.value <= f.hi) AS value_in_interval
FROM f JOIN last l ON l.product = f.series;

-- The two shortest products are forecast from their rows padded on the left.
SELECT series, count(*) AS steps, bool_and(value > 0) AS positive
FROM rnn.forecast('sales')
WHERE series IN (SELECT product FROM sales_past GROUP BY product ORDER BY count(*), product LIMIT 2)
GROUP BY series ORDER BY series;

-- 2024 held out: for the products with a whole year of 2024, the forecast
-- beats repeating the last month, and is reported beside the seasonal
-- naive forecast (the same month a year earlier).
WITH f AS (SELECT series, ts::date AS month, value FROM rnn.forecast('sales')),
     truth AS (SELECT product, month, units FROM monthly_sales
               WHERE month >= date '2024-01-01' AND units IS NOT NULL),
     full_year AS (SELECT product FROM truth GROUP BY product HAVING count(*) = 12),
     last AS (SELECT DISTINCT ON (product) product, units FROM sales_past
              WHERE units IS NOT NULL ORDER BY product, month DESC),
     season AS (SELECT product, month + interval '1 year' AS month, units FROM sales_past)
SELECT count(*) AS points,
       avg(abs(f.value - t.units) / t.units) < avg(abs(l.units - t.units) / t.units) AS beats_naive,
       avg(abs(f.value - t.units) / t.units) < 2 * avg(abs(s.units - t.units) / t.units) AS near_seasonal
FROM f JOIN truth t ON t.product = f.series AND t.month = f.month
       JOIN full_year USING (product)
       JOIN last l ON l.product = f.series
       JOIN season s ON s.product = f.series AND s.month = f.month;

-- rnn.evaluate on the whole table continues the same calendar.
SELECT windows > 0 AS has_windows, mse < naive_mse AS beats_naive
FROM rnn.evaluate('sales', 'monthly_sales');

-- rnn.predict_next follows the rows it is given.
SELECT array_length(rnn.predict_next('sales', units, product ORDER BY month), 1) AS steps
FROM sales_past WHERE product = 'P001';

-- Steps from the calendar: month ends (Jan 31, Feb 29, Mar 31 ... are
-- first + k months), quarters, years, weeks, days, minutes, integers.
CREATE TABLE month_ends AS
SELECT (date '2000-01-31' + make_interval(months => i))::date AS d, i::float8 AS v
FROM generate_series(0, 59) i;
SELECT series FROM rnn.train_forecaster('month_ends', 'month_ends', 'd', 'v',
       window_size => 12, horizon => 3, epochs => 0);
SELECT step, ts::date FROM rnn.forecast('month_ends') ORDER BY step;

CREATE TABLE steps AS
SELECT 'quarterly' AS kind, timestamp '2000-01-01' + make_interval(months => 3 * i) AS ts,
       i::float8 AS v FROM generate_series(0, 39) i
UNION ALL SELECT 'yearly', timestamp '1980-07-01' + make_interval(years => i), i
FROM generate_series(0, 39) i
UNION ALL SELECT 'weekly', timestamp '2020-01-06' + make_interval(weeks => i), i
FROM generate_series(0, 39) i
UNION ALL SELECT 'daily', timestamp '2020-01-01' + make_interval(days => i), i
FROM generate_series(0, 39) i
UNION ALL SELECT 'quarter_hourly', timestamp '2020-01-01' + make_interval(mins => 15 * i), i
FROM generate_series(0, 39) i;
CREATE VIEW quarterly AS SELECT ts, v FROM steps WHERE kind = 'quarterly';
CREATE VIEW yearly AS SELECT ts, v FROM steps WHERE kind = 'yearly';
CREATE VIEW weekly AS SELECT ts, v FROM steps WHERE kind = 'weekly';
CREATE VIEW daily AS SELECT ts, v FROM steps WHERE kind = 'daily';
CREATE VIEW quarter_hourly AS SELECT ts, v FROM steps WHERE kind = 'quarter_hourly';
SELECT r.relname, t.series
FROM (VALUES ('quarterly'), ('yearly'), ('weekly'), ('daily'), ('quarter_hourly')) r(relname),
     LATERAL rnn.train_forecaster('step_' || r.relname, r.relname::regclass, 'ts', 'v',
                                  window_size => 8, horizon => 2, epochs => 0) t;
SELECT name, hyperparams ->> 'step' AS step, hyperparams ->> 'season_length' AS season_length
FROM rnn.models WHERE name LIKE 'step\_%' ORDER BY name;
SELECT f.name, f.step, f.ts::timestamp AS ts
FROM (VALUES ('step_quarterly'), ('step_yearly'), ('step_weekly'), ('step_daily'),
             ('step_quarter_hourly')) m(name),
     LATERAL (SELECT m.name, * FROM rnn.forecast(m.name)) f ORDER BY 1, 2;

-- season_length can be given, and is stored.
SELECT series FROM rnn.train_forecaster('season_given', 'weekly', 'ts', 'v',
       window_size => 8, horizon => 2, epochs => 0, season_length => 4);
SELECT hyperparams ->> 'season_length' AS season_length FROM rnn.models WHERE name = 'season_given';

-- Integer times step by their smallest common spacing.
CREATE TABLE int_steps AS SELECT 5 * i AS t, (i % 7)::float8 AS v FROM generate_series(0, 59) i;
SELECT series FROM rnn.train_forecaster('int_steps', 'int_steps', 't', 'v',
       window_size => 14, horizon => 3, epochs => 0);
SELECT hyperparams ->> 'step' AS step, hyperparams ->> 'season_length' AS season_length
FROM rnn.models WHERE name = 'int_steps';
SELECT step, ts FROM rnn.forecast('int_steps') ORDER BY step;

-- DST.  timestamptz keeps absolute hours: an hourly series across the change
-- is regular, and its forecast continues hour by hour.
SET TimeZone = 'Europe/Berlin';
CREATE TABLE hourly_tz AS
SELECT timestamptz '2024-03-30 00:00' + make_interval(hours => i) AS ts, (i % 24)::float8 AS v
FROM generate_series(0, 47) i;
SELECT series FROM rnn.train_forecaster('hourly_tz', 'hourly_tz', 'ts', 'v',
       window_size => 24, horizon => 3, epochs => 0);
SELECT hyperparams ->> 'step' AS step FROM rnn.models WHERE name = 'hourly_tz';
SELECT step, ts FROM rnn.forecast('hourly_tz') ORDER BY step;
-- A daily timestamptz of local midnights steps by calendar days (23 and 25
-- hours at the changes).
CREATE TABLE daily_tz AS
SELECT timestamptz '2024-03-20 00:00' + make_interval(days => i) AS ts, (i % 7)::float8 AS v
FROM generate_series(0, 29) i;
SELECT series FROM rnn.train_forecaster('daily_tz', 'daily_tz', 'ts', 'v',
       window_size => 14, horizon => 2, epochs => 0);
SELECT hyperparams ->> 'step' AS step FROM rnn.models WHERE name = 'daily_tz';
SELECT step, ts FROM rnn.forecast('daily_tz') ORDER BY step;
-- A local timestamp read off a wall clock skips an hour when DST starts and
-- repeats one when it ends: errors that say to use timestamptz.
CREATE TABLE wall_clock_spring AS SELECT ts::timestamp AS ts, v FROM hourly_tz;
SELECT * FROM rnn.train_forecaster('wall', 'wall_clock_spring', 'ts', 'v',
       window_size => 12, horizon => 3, epochs => 0);
:e
SELECT * FROM rnn.train_forecaster('wall', 'wall_clock_spring', 'ts', 'v',
       window_size => 12, horizon => 3, epochs => 0, missing => 'interpolate');
:e
CREATE TABLE wall_clock_autumn AS
SELECT (timestamptz '2024-10-26 12:00' + make_interval(hours => i))::timestamp AS ts, i::float8 AS v
FROM generate_series(0, 47) i;
SELECT * FROM rnn.train_forecaster('wall', 'wall_clock_autumn', 'ts', 'v',
       window_size => 12, horizon => 3, epochs => 0);
:e
SELECT count(*) AS stored FROM rnn.models WHERE name = 'wall';
-- In UTC the same local timestamps have no DST: the missing hour is an
-- ordinary missing step.
SET TimeZone = 'UTC';
SELECT * FROM rnn.train_forecaster('wall', 'wall_clock_spring', 'ts', 'v',
       window_size => 12, horizon => 3, epochs => 0);
:e
SELECT series FROM rnn.train_forecaster('wall', 'wall_clock_spring', 'ts', 'v',
       window_size => 12, horizon => 3, epochs => 0, missing => 'interpolate');
RESET TimeZone;

-- Mixed steps and irregular times are errors naming the series.
CREATE TABLE mixed AS
SELECT 'daily' AS k, date '2020-01-01' + i AS d, i::float8 AS v FROM generate_series(0, 59) i
UNION ALL SELECT 'weekly', date '2020-01-01' + 7 * i, i FROM generate_series(0, 59) i;
SELECT * FROM rnn.train_forecaster('mixed', 'mixed', 'd', 'v', series_column => 'k',
       window_size => 12, horizon => 3, epochs => 0, missing => 'interpolate');
:e
CREATE TABLE off_calendar AS
SELECT d, v FROM month_ends UNION ALL SELECT date '2003-06-15', 1;
SELECT * FROM rnn.train_forecaster('off', 'off_calendar', 'd', 'v', window_size => 12,
       horizon => 3, epochs => 0, missing => 'interpolate');
:e
-- Forecasting from rows off the model's step.
CREATE TABLE daily_rows AS SELECT date '2000-01-01' + i AS d, i::float8 AS v FROM generate_series(0, 59) i;
SELECT count(*) FROM rnn.forecast('month_ends', relation => 'daily_rows');
:e
CREATE TABLE int_rows AS SELECT i AS d, i::float8 AS v FROM generate_series(0, 59) i;
SELECT count(*) FROM rnn.forecast('month_ends', relation => 'int_rows');
:e
SELECT count(*) AS stored FROM rnn.models WHERE name IN ('mixed', 'off');

-- No series long enough for one training window: an error.
SELECT * FROM rnn.train_forecaster('too_short', 'sales_past', 'month', 'units',
       series_column => 'product', missing => 'interpolate', window_size => 200, horizon => 12);
:e
SELECT count(*) AS stored FROM rnn.models WHERE name = 'too_short';

-- A filled value is an input, never a target.  Two copies of a sine with
-- 3-step gaps: one leaves the gaps to missing => 'interpolate', the other
-- holds the same straight-line values as rows.  The metrics and
-- rnn.evaluate score observed values only, so the straight lines drawn in
-- the gaps are no errors of a model that forecasts the sine.  (That the
-- loss leaves them out is checked in the engine, test/core/test_gradcheck.)
CREATE TABLE sine_gaps AS
SELECT t, 10 * sin(2 * pi() * t / 8) AS v FROM generate_series(0, 599) t WHERE t % 37 NOT IN (3, 4, 5);
CREATE TABLE sine_lines AS
SELECT t, v FROM sine_gaps
UNION ALL
SELECT t, 10 * sin(2 * pi() * (t - t % 37 + 2) / 8)
          + (10 * sin(2 * pi() * (t - t % 37 + 6) / 8) - 10 * sin(2 * pi() * (t - t % 37 + 2) / 8))
            * (t % 37 - 2) / 4.0
FROM generate_series(0, 599) t WHERE t % 37 IN (3, 4, 5);
SELECT count(*) FROM rnn.train_forecaster('sine_masked', 'sine_gaps', 't', 'v', missing => 'interpolate',
       window_size => 16, horizon => 4, epochs => 0);
SELECT count(*) FROM rnn.train_forecaster('sine_lines', 'sine_lines', 't', 'v',
       window_size => 16, horizon => 4, epochs => 0);
SELECT (m.metrics ->> 'valid_mse')::float8 < 0.5 * (l.metrics ->> 'valid_mse')::float8 AS valid_mse_observed_only
FROM rnn.models m, rnn.models l WHERE m.name = 'sine_masked' AND l.name = 'sine_lines';
SELECT e_gaps.mse < 0.5 * e_lines.mse AS gaps_not_scored, e_gaps.windows = e_lines.windows AS same_windows
FROM rnn.evaluate('sine_masked', 'sine_gaps') e_gaps, rnn.evaluate('sine_masked', 'sine_lines') e_lines;
