-- rnn_ext 0.3 -> 0.4 (ALTER EXTENSION rnn_ext UPDATE TO '0.4').
-- Each change to sql/rnn_ext.sql since 0.3 appears here too, in the same
-- words, so an updated database equals a fresh 0.4 install
-- (test/pq/upgrade.sh compares the two).  A change to the table rnn.models
-- goes in a DO block, repeatable, as in rnn_ext--0.2--0.3.sql: test/citus
-- updates a Citus cluster whose rnn.models is a reference table.
\echo Use "ALTER EXTENSION rnn_ext UPDATE TO '0.4'" to load this file. \quit

-- train_forecaster gains warm_start and warm_start_version (start from a
-- stored version's weights and statistics), calendar_inputs,
-- future_columns, train_linear (keep the linear path at its start) and
-- season_steps (recur over seasons);
-- rnn.detect_anomalies
DROP FUNCTION rnn.train_forecaster(text, regclass, text, text, text, text[], text, int, int,
    float8, int, int, int, int, float8, float8, int, bigint, text, text, boolean, int, int, float8,
    boolean);

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
    warm_start boolean DEFAULT false,
    warm_start_version int DEFAULT NULL,
    calendar_inputs text[] DEFAULT NULL,
    future_columns text[] DEFAULT '{}',
    train_linear boolean DEFAULT true,
    season_steps boolean DEFAULT false,
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
'Train a GRU/LSTM forecaster on the ordered rows of a table (one or many series, optional covariates) and store it as a new version of model_name, from random weights or (warm_start) from a stored version''s weights and statistics; returns train/validation errors next to the naive and seasonal-naive baselines';

CREATE FUNCTION rnn.detect_anomalies(
    model text,
    relation regclass,
    level float8 DEFAULT 0.99,
    all_rows boolean DEFAULT false)
RETURNS TABLE (series text, ts timestamptz, t bigint, value float8, forecast float8,
               lo float8, hi float8, score float8, is_anomaly boolean)
AS 'MODULE_PATHNAME', 'rnn_detect_anomalies'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION rnn.detect_anomalies IS
'The rows of a table whose value falls outside the forecaster''s one-step-ahead split-conformal interval at the given level, with the forecast, the interval and a score (distance from the forecast in interval half-widths); all_rows returns every row with is_anomaly';

-- train_forecaster gains calendar_inputs and future_columns; rnn.forecast
-- reads the known-future columns of the forecast steps (future); a
-- predict_next with each row's time for calendar inputs
DROP FUNCTION rnn.forecast(text, int, float8, regclass);

CREATE FUNCTION rnn.forecast(
    model text,
    horizon int DEFAULT NULL,
    level float8 DEFAULT 0.9,
    relation regclass DEFAULT NULL,
    future regclass DEFAULT NULL)
RETURNS TABLE (series text, step int, ts timestamptz, value float8, lo float8, hi float8)
AS 'MODULE_PATHNAME', 'rnn_forecast'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION rnn.forecast IS
'The next horizon values of every series after its last row, with split-conformal prediction intervals [lo, hi] at the given level; future gives the known-future columns of the forecast steps';

CREATE FUNCTION rnn.predict_next_sfunc(internal, text, float8, text, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'rnn_predict_next_sfunc'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE rnn.predict_next(model text, value float8, series text, ts timestamptz) (
    SFUNC = rnn.predict_next_sfunc,
    STYPE = internal,
    FINALFUNC = rnn.predict_next_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE rnn.predict_next(text, float8, text, timestamptz) IS
'As predict_next(model, value, series), with each row''s time for a model with calendar inputs';
COMMENT ON FUNCTION rnn.predict_next_sfunc(internal, text, float8, text, timestamptz) IS
'Transition function of rnn.predict_next(model, value, series, ts)';

-- train_classifier gains pretrain_relation, pretrain_text_column and
-- pretrain_epochs (language-model pretraining on unlabelled texts)
DROP FUNCTION rnn.train_classifier(text, regclass, name, name, text, boolean, int, int,
    int, float8, text, text, int, int, int, int, int, float8, float8, int, bigint, float8,
    float8, float8, boolean, text, int, regclass, boolean);

CREATE FUNCTION rnn.train_classifier(
    model_name text,
    relation regclass,
    text_column name,
    label_column name,
    cell text DEFAULT 'gru',
    bidirectional boolean DEFAULT true,
    num_layers int DEFAULT 1,
    embedding_dim int DEFAULT 128,
    hidden_size int DEFAULT 128,
    dropout float8 DEFAULT 0.5,
    pooling text DEFAULT 'max',
    tokens text DEFAULT 'word',
    vocab_size int DEFAULT 20000,
    min_count int DEFAULT 1,
    max_tokens int DEFAULT 256,
    epochs int DEFAULT 20,
    batch_size int DEFAULT 50,
    learning_rate float8 DEFAULT 0.001,
    validation_fraction float8 DEFAULT 0.1,
    patience int DEFAULT 3,
    seed bigint DEFAULT 42,
    word_dropout float8 DEFAULT 0.1,
    weight_decay float8 DEFAULT 0,
    clip_norm float8 DEFAULT 5,
    balance_classes boolean DEFAULT false,
    early_stopping text DEFAULT 'loss',
    ngram_order int DEFAULT 2,
    embeddings regclass DEFAULT NULL,
    freeze_embeddings boolean DEFAULT false,
    pretrain_relation regclass DEFAULT NULL,
    pretrain_text_column name DEFAULT NULL,
    pretrain_epochs int DEFAULT NULL,
    OUT version int,
    OUT train_accuracy float8,
    OUT validation_accuracy float8,
    OUT train_macro_f1 float8,
    OUT validation_macro_f1 float8,
    OUT train_log_loss float8,
    OUT validation_log_loss float8,
    OUT epochs_run int,
    OUT best_epoch int,
    OUT seconds float8,
    OUT vocabulary_size int)
AS 'MODULE_PATHNAME', 'rnn_train_classifier'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION rnn.train_classifier(text, regclass, name, name, text, boolean, int, int,
    int, float8, text, text, int, int, int, int, int, float8, float8, int, bigint, float8,
    float8, float8, boolean, text, int, regclass, boolean, regclass, name, int) IS
'Trains a many-to-one text classifier (GRU, LSTM or rnn over word or char tokens) on '
'the text and label columns of a relation, read with the caller''s rights, and stores '
'it as the next version of model_name. Labels of any type become the class list in '
'the type''s order (text in byte order). Rows with a NULL text, or a text without '
'tokens, are skipped. With pretraining (pretrain_epochs above 0, or a pretrain_relation '
'and pretrain_epochs NULL: at most 3 epochs, while the validation texts'' loss '
'improves), rows with a NULL label and the texts of pretrain_relation (column '
'pretrain_text_column, by default text_column) pretrain the embedding and recurrent '
'layers as language models (forward: the next token; backward: the previous one) '
'before the labelled training; without, rows with a NULL label are skipped. Holds out a stratified validation_fraction for early '
'stopping on its loss or accuracy (patience epochs); the vocabulary comes from the '
'training part and the unlabelled texts. With ngram_order 1 or 2, a naive Bayes model of unigrams (and bigrams) '
'is fitted first and the network learns what it adds to its logits; the starting '
'point, that model alone, competes in early stopping. embeddings names a relation of '
'(word, vector) whose vectors start the embedding rows of the words they hold (their '
'dimension sets embedding_dim), frozen with freeze_embeddings (without vectors: the '
'embedding pretraining learnt). Returns '
'accuracy, macro-F1 and log loss on both parts, epochs run, the best epoch, seconds '
'and the vocabulary size.';

-- isa_info gains blas_core: the kernels OpenBLAS runs (a fallback below the
-- CPU is corrected when OpenBLAS is loaded)
DROP FUNCTION rnn.isa_info();

CREATE FUNCTION rnn.isa_info(OUT isa text, OUT setting text, OUT cpu_supports text[],
                             OUT blas_core text)
AS 'MODULE_PATHNAME', 'rnn_isa_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION rnn.isa_info() IS
'The code path this backend''s engine kernels run (generic, avx2 or avx512), '
'the rnn.isa setting that chose it, the paths this CPU supports, and the kernels '
'OpenBLAS runs for the large matrix products (rnn_ext corrects a fallback below the CPU).';
