-- rnn_ext 0.2 -> 0.3.
--
-- The bodies below are those of sql/rnn_ext.sql at 0.3 (test/pq/upgrade.sh
-- checks that an updated database and a fresh 0.3 one have the same schema).

\echo Use "ALTER EXTENSION rnn_ext UPDATE TO '0.3'" to load this file. \quit

-- rnn.train_classifier gains ngram_order (the n-gram linear path)
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
    float8, float8, boolean, text, int) IS
'Trains a many-to-one text classifier (GRU, LSTM or rnn over word or char tokens) on '
'the text and label columns of a relation, read with the caller''s rights, and stores '
'it as the next version of model_name. Labels of any type become the class list in '
'the type''s order (text in byte order). Rows with a NULL text or label, or a text '
'without tokens, are skipped. Holds out a stratified validation_fraction for early '
'stopping on its loss or accuracy (patience epochs); the vocabulary comes from the '
'training part. With ngram_order 1 or 2, a naive Bayes model of unigrams (and bigrams) '
'is fitted first and the network learns what it adds to its logits; the starting '
'point, that model alone, competes in early stopping. Returns '
'accuracy, macro-F1 and log loss on both parts, epochs run, the best epoch, seconds '
'and the vocabulary size.';

CREATE FUNCTION rnn.isa_info(OUT isa text, OUT setting text, OUT cpu_supports text[])
AS 'MODULE_PATHNAME', 'rnn_isa_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION rnn.isa_info() IS
'The code path this backend''s engine kernels run (generic, avx2 or avx512), '
'the rnn.isa setting that chose it, and the paths this CPU supports.';
