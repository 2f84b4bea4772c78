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

-- train_forecaster gains seasonal (recur over seasons, correct the
-- seasonal-naive forecast)
DROP FUNCTION rnn.train_forecaster(text, regclass, text, text, text, text[], text, int, int,
    float8, int, int, int, int, float8, float8, int, bigint, text, text, boolean, int, int, float8);

CREATE FUNCTION rnn.train_forecaster(
    model_name text,
    relation regclass,
    time_column text,
    value_column text,
    series_column text DEFAULT NULL,
    feature_columns text[] DEFAULT '{}',
    cell text DEFAULT 'lstm',
    hidden_size int DEFAULT 64,
    num_layers int DEFAULT 1,
    dropout float8 DEFAULT 0,
    window_size int DEFAULT 96,
    horizon int DEFAULT 24,
    epochs int DEFAULT 30,
    batch_size int DEFAULT 64,
    learning_rate float8 DEFAULT 0.001,
    validation_fraction float8 DEFAULT 0.2,
    patience int DEFAULT 5,
    seed bigint DEFAULT 42,
    missing text DEFAULT 'error',
    normalization text DEFAULT 'window',
    linear_skip boolean DEFAULT true,
    season_length int DEFAULT NULL,
    batches_per_epoch int DEFAULT NULL,
    clip_norm float8 DEFAULT 1.0,
    seasonal boolean DEFAULT false,
    OUT model text, OUT version int,
    OUT train_mse float8, OUT train_mae float8,
    OUT valid_mse float8, OUT valid_mae float8,
    OUT naive_valid_mse float8, OUT naive_valid_mae float8,
    OUT seasonal_valid_mse float8, OUT seasonal_valid_mae float8,
    OUT epochs_run int, OUT best_epoch int, OUT seconds float8,
    OUT series int, OUT train_windows bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'rnn_train_forecaster'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION rnn.train_forecaster IS
'Train a GRU/LSTM forecaster on the ordered rows of a table (one or many series, optional covariates) and store it as a new version of model_name; returns train/validation errors next to the naive and seasonal-naive baselines';
