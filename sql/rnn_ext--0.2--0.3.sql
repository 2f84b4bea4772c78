-- rnn_ext 0.2 -> 0.3.
--
-- The bodies below are those of sql/rnn_ext.sql at 0.3 (test/pq/upgrade.sh
-- checks that an updated database and a fresh 0.3 one have the same schema).

\echo Use "ALTER EXTENSION rnn_ext UPDATE TO '0.3'" to load this file. \quit

-- rnn.train_classifier gains ngram_order (the n-gram linear path), embeddings and
-- freeze_embeddings (pretrained word vectors from a relation)
DROP FUNCTION rnn.train_classifier(text, regclass, name, name, text, boolean, int, int,
    int, float8, text, text, int, int, int, int, int, float8, float8, int, bigint, float8,
    float8, float8, boolean, text);

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
    float8, float8, boolean, text, int, regclass, boolean) IS
'Trains a many-to-one text classifier (GRU, LSTM or rnn over word or char tokens) on '
'the text and label columns of a relation, read with the caller''s rights, and stores '
'it as the next version of model_name. Labels of any type become the class list in '
'the type''s order (text in byte order). Rows with a NULL text or label, or a text '
'without tokens, are skipped. Holds out a stratified validation_fraction for early '
'stopping on its loss or accuracy (patience epochs); the vocabulary comes from the '
'training part. With ngram_order 1 or 2, a naive Bayes model of unigrams (and bigrams) '
'is fitted first and the network learns what it adds to its logits; the starting '
'point, that model alone, competes in early stopping. embeddings names a relation of '
'(word, vector) whose vectors start the embedding rows of the words they hold (their '
'dimension sets embedding_dim), frozen with freeze_embeddings. Returns '
'accuracy, macro-F1 and log loss on both parts, epochs run, the best epoch, seconds '
'and the vocabulary size.';

CREATE FUNCTION rnn.isa_info(OUT isa text, OUT setting text, OUT cpu_supports text[])
AS 'MODULE_PATHNAME', 'rnn_isa_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION rnn.isa_info() IS
'The code path this backend''s engine kernels run (generic, avx2 or avx512), '
'the rnn.isa setting that chose it, and the paths this CPU supports.';

-- rnn.import_model takes the new kinds and checks metadata as scoring does
COMMENT ON FUNCTION rnn.import_model(text, bytea, text, jsonb) IS
'Checks a weights blob and stores it as the next version of a model owned '
'by the current role; kind is forecaster, classifier, language_model or tagger '
'and must match the weights'' head. info may hold hyperparams, vocabulary, '
'normalization, labels, metrics, loss_curve, source_relation and source_rows; '
'when it holds scoring metadata (hyperparams, normalization, vocabulary, labels) '
'that is checked as scoring checks it, and nothing is stored on an error. '
'Returns the new version.';

-- language models and taggers are kinds of model too.  Each ALTER TABLE
-- runs from a DO block, so that its query string is its own text: on Citus
-- with rnn.models a reference table, the coordinator sends an ALTER TABLE
-- of it to every placement as the query string it ran with, which for a
-- statement at the top level of an extension script is the whole script,
-- and the workers refuse that ("cannot insert multiple commands into a
-- prepared statement", citusdata/citus#6662).  On one PostgreSQL the block
-- does exactly what the two statements did.  On Citus a worker's shell of
-- rnn.models gets the change twice, from the coordinator and from the
-- worker's own run of this script, so what the block does must be
-- repeatable (here: drop the check, add it).
DO $$
BEGIN
    EXECUTE 'ALTER TABLE rnn.models DROP CONSTRAINT models_kind_check';
    EXECUTE 'ALTER TABLE rnn.models ADD CONSTRAINT models_kind_check '
            'CHECK (kind IN (''forecaster'', ''classifier'', ''language_model'', ''tagger''))';
END
$$;

-- ---------------------------------------------------------------------------
-- Language models
-- ---------------------------------------------------------------------------

CREATE FUNCTION rnn.train_language_model(
    model_name text,
    relation regclass,
    text_column name,
    tokens text DEFAULT 'char',
    cell text DEFAULT 'lstm',
    num_layers int DEFAULT 2,
    embedding_dim int DEFAULT 64,
    hidden_size int DEFAULT 256,
    dropout float8 DEFAULT 0.1,
    vocab_size int DEFAULT 20000,
    min_count int DEFAULT 1,
    epochs int DEFAULT 10,
    batch_size int DEFAULT 32,
    bptt int DEFAULT 64,
    learning_rate float8 DEFAULT 0.002,
    validation_fraction float8 DEFAULT 0.1,
    patience int DEFAULT 3,
    seed bigint DEFAULT 42,
    clip_norm float8 DEFAULT 5,
    max_seconds float8 DEFAULT 0,
    OUT version int,
    OUT train_loss float8,
    OUT validation_loss float8,
    OUT validation_perplexity float8,
    OUT epochs_run int,
    OUT best_epoch int,
    OUT seconds float8,
    OUT vocabulary_size int,
    OUT train_tokens bigint,
    OUT validation_tokens bigint)
AS 'MODULE_PATHNAME', 'rnn_train_language_model'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION rnn.train_language_model(text, regclass, name, text, text, int, int, int,
    float8, int, int, int, int, int, float8, float8, int, bigint, float8, float8) IS
'Trains a character (tokens => ''char'', every character as it is) or word language model '
'on the text column of a relation, read with the caller''s rights, and stores it as the '
'next version of model_name (kind language_model). The texts, in a seeded random order, '
'form one token stream; its last validation_fraction is held out and the vocabulary comes '
'from the rest. Truncated backpropagation through time in chunks of bptt steps over '
'batch_size parallel streams, the state carried between chunks; early stopping on the '
'validation loss; max_seconds > 0 bounds the training time. Returns the losses in nats '
'per token, the validation perplexity, epochs run, the best epoch, seconds, the '
'vocabulary size and the tokens of each part.';

CREATE FUNCTION rnn.generate(model text, prompt text DEFAULT '',
                             max_tokens int DEFAULT 200, temperature float8 DEFAULT 1.0,
                             top_k int DEFAULT 0, seed int DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'rnn_generate'
LANGUAGE C VOLATILE PARALLEL RESTRICTED COST 10000;

COMMENT ON FUNCTION rnn.generate(text, text, int, float8, int, int) IS
'Text sampled from a language model: the prompt followed by up to max_tokens (0 to 100000) '
'tokens drawn from softmax(logits / temperature), from the top_k most likely when '
'top_k > 0, until the model ends the text. The same seed gives the same text; a NULL seed '
'a fresh one. NULL when the model, prompt or a knob is NULL.';

CREATE FUNCTION rnn.log_likelihood(model text, body text)
RETURNS float8
AS 'MODULE_PATHNAME', 'rnn_log_likelihood'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

COMMENT ON FUNCTION rnn.log_likelihood(text, text) IS
'Natural log of the probability of a text under a language model: the sum of '
'log p(next token) over its tokens and its end.';

CREATE FUNCTION rnn.perplexity(model text, body text)
RETURNS float8
AS 'MODULE_PATHNAME', 'rnn_perplexity'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

COMMENT ON FUNCTION rnn.perplexity(text, text) IS
'exp(-log_likelihood / (tokens + 1)): how unusual a text is under a language model '
'(1 for a text it predicts with certainty).';

-- ---------------------------------------------------------------------------
-- Taggers
-- ---------------------------------------------------------------------------

CREATE FUNCTION rnn.train_tagger(
    model_name text,
    relation regclass,
    tokens_column name,
    tags_column name,
    cell text DEFAULT 'lstm',
    bidirectional boolean DEFAULT true,
    num_layers int DEFAULT 1,
    embedding_dim int DEFAULT 100,
    hidden_size int DEFAULT 128,
    dropout float8 DEFAULT 0.3,
    vocab_size int DEFAULT 50000,
    min_count int DEFAULT 1,
    max_length int DEFAULT 256,
    epochs int DEFAULT 20,
    batch_size int DEFAULT 32,
    learning_rate float8 DEFAULT 0.002,
    validation_fraction float8 DEFAULT 0.1,
    patience int DEFAULT 3,
    seed bigint DEFAULT 42,
    word_dropout float8 DEFAULT 0.1,
    clip_norm float8 DEFAULT 5,
    OUT version int,
    OUT train_accuracy float8,
    OUT validation_accuracy float8,
    OUT train_loss float8,
    OUT validation_loss float8,
    OUT epochs_run int,
    OUT best_epoch int,
    OUT seconds float8,
    OUT vocabulary_size int,
    OUT tag_count int)
AS 'MODULE_PATHNAME', 'rnn_train_tagger'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION rnn.train_tagger(text, regclass, name, name, text, boolean, int, int, int,
    float8, int, int, int, int, int, float8, float8, int, bigint, float8, float8) IS
'Trains a sequence tagger (one tag per token; a bidirectional LSTM by default) on rows of '
'text[] tokens and text[] tags of the same length, read with the caller''s rights, and '
'stores it as the next version of model_name (kind tagger). Rows with a NULL array or no '
'tokens are skipped; arrays of different lengths or with NULL elements are an error naming '
'the row. Holds out a seeded validation_fraction of the rows for early stopping; the '
'vocabulary comes from the training rows. Returns token accuracy and loss on both parts, '
'epochs run, the best epoch, seconds, the vocabulary size and the number of tags.';

CREATE FUNCTION rnn.tag(model text, tokens text[],
                        OUT "position" int, OUT token text, OUT tag text, OUT probability float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'rnn_tag_tokens'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000 ROWS 20;

COMMENT ON FUNCTION rnn.tag(text, text[]) IS
'The most probable tag of every token of an array under a tagger, with its probability; '
'position counts from 1 as in arrays.';

CREATE FUNCTION rnn.tag(model text, body text,
                        OUT "position" int, OUT token text, OUT tag text, OUT probability float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'rnn_tag_text'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000 ROWS 20;

COMMENT ON FUNCTION rnn.tag(text, text) IS
'The most probable tag of every token of a text, tokenized as rnn.train_classifier does '
'(lower-cased words, punctuation split off), with its probability.';

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
