-- Language-model pretraining of a classifier on unlabelled text
-- (rnn.train_classifier's pretrain_relation, pretrain_text_column,
-- pretrain_epochs; rows with a NULL label): src/pg/classify_pretrain.c.
--
-- The labelled rows are short ("the film was good"); unlabelled texts use
-- two words the labelled rows never do, "superb" and "dreadful", in the
-- contexts of the positive and negative words ("... superb and i loved it",
-- "... dreadful and i hated it").  Pretrained, the network has learnt from
-- those contexts what the two words are like; without pretraining both are
-- <unk> and score the same.  The n-gram path is off (ngram_order => 0) so
-- the network alone is compared.  Only properties are printed.
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET extra_float_digits = 0;
SET rnn.blas_threads = 1;

CREATE TABLE films AS
SELECT i, (ARRAY['the film was', 'this movie is', 'the plot was', 'i found it'])[1 + (i / 2) % 4] || ' ' ||
       CASE WHEN i % 2 = 0 THEN (ARRAY['good', 'great'])[1 + (i / 8) % 2]
            ELSE (ARRAY['bad', 'awful'])[1 + (i / 8) % 2] END AS body,
       i % 2 = 0 AS positive
  FROM generate_series(1, 400) i;
CREATE TABLE film_talk AS
SELECT i, (ARRAY['the film was', 'this movie is', 'the plot was', 'i found it'])[1 + (i / 2) % 4] || ' ' ||
       CASE WHEN i % 2 = 0
            THEN (ARRAY['good', 'great', 'superb'])[1 + (i / 8) % 3] || ' and i loved '
            ELSE (ARRAY['bad', 'awful', 'dreadful'])[1 + (i / 8) % 3] || ' and i hated ' END ||
       (ARRAY['it', 'every minute', 'the cast'])[1 + (i / 24) % 3] AS txt,
       i AS n
  FROM generate_series(1, 3000) i;
SELECT txt FROM film_talk ORDER BY i LIMIT 3;

-- ---------------------------------------------------------------------------
-- With and without pretraining (the NOTICEs, silenced here, show each
-- pretraining epoch's losses)
SET client_min_messages = warning;
SELECT version, validation_accuracy, best_epoch > 0 AS trained
  FROM rnn.train_classifier('films_pre', 'films', 'body', 'positive', embedding_dim => 16,
       hidden_size => 16, epochs => 5, learning_rate => 0.01, ngram_order => 0,
       pretrain_relation => 'film_talk', pretrain_text_column => 'txt', pretrain_epochs => 30);
SELECT version, validation_accuracy
  FROM rnn.train_classifier('films_plain', 'films', 'body', 'positive', embedding_dim => 16,
       hidden_size => 16, epochs => 5, learning_rate => 0.01, ngram_order => 0);
RESET client_min_messages;

-- what was pretrained: every text of film_talk, 30 epochs; the held-out
-- stream (the validation texts) far below a uniform guess over the
-- vocabulary; the words of the unlabelled texts have ids
SELECT name, m.metrics->'pretraining'->'unlabelled_texts' AS unlabelled_texts,
       m.metrics->'pretraining'->'epochs' AS epochs,
       (m.metrics->'pretraining'->>'validation_loss')::float8 < 0.5 * ln(array_length(vocabulary, 1))
         AS below_half_uniform,
       'superb' = ANY (vocabulary) AS knows_superb,
       m.hyperparams->'pretrain_relation' AS pretrain_relation,
       m.hyperparams->'pretrain_epochs' AS pretrain_epochs
  FROM rnn.models m WHERE name IN ('films_pre', 'films_plain') ORDER BY name;

-- pretrained, "superb" scores above "dreadful" in every template; without,
-- both are <unk> and score the same
SELECT t,
       rnn.sentiment('films_pre', t || ' superb') > rnn.sentiment('films_pre', t || ' dreadful')
         AS pretrained_tells,
       rnn.sentiment('films_plain', t || ' superb') = rnn.sentiment('films_plain', t || ' dreadful')
         AS plain_cannot
  FROM unnest(ARRAY['the film was', 'this movie is', 'the plot was', 'i found it']) t;

-- the same seed, the same model (pretraining included)
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('films_pre', 'films', 'body', 'positive',
       embedding_dim => 16, hidden_size => 16, epochs => 5, learning_rate => 0.01,
       ngram_order => 0, pretrain_relation => 'film_talk', pretrain_text_column => 'txt',
       pretrain_epochs => 30);
RESET client_min_messages;
SELECT count(DISTINCT md5(weights)) AS distinct_weights FROM rnn.models WHERE name = 'films_pre';

-- ---------------------------------------------------------------------------
-- Rows with a NULL label pretrain when pretraining is asked for: with a
-- pretrain_relation (pretrain_epochs NULL: while the validation texts' loss
-- improves, at most 3 epochs), or with pretrain_epochs; a bidirectional
-- GRU and an LSTM of two layers (the second layer's input weights read
-- their own direction); the scores stay probabilities and the export works
CREATE TABLE films_some AS
SELECT body, CASE WHEN (i / 2) % 4 = 0 THEN positive END AS positive FROM films;
INSERT INTO films_some SELECT txt, NULL FROM film_talk WHERE n <= 600;
SET client_min_messages = warning;
SELECT version, validation_accuracy > 0.9 AS learnt
  FROM rnn.train_classifier('films_null', 'films_some', 'body', 'positive', embedding_dim => 8,
       hidden_size => 8, epochs => 3, pretrain_relation => 'film_talk',
       pretrain_text_column => 'txt');
SELECT version, validation_accuracy > 0.9 AS learnt
  FROM rnn.train_classifier('films_lstm', 'films_some', 'body', 'positive', cell => 'lstm',
       num_layers => 2, embedding_dim => 8, hidden_size => 8, epochs => 3, pretrain_epochs => 2);
RESET client_min_messages;
SELECT name, m.metrics->'pretraining'->'unlabelled_texts' AS unlabelled_texts,
       (m.metrics->'pretraining'->>'epochs')::int BETWEEN 1 AND 3 AS epochs_in_range,
       m.metrics->'train'->'rows' AS labelled_rows, m.source_rows
  FROM rnn.models m WHERE name IN ('films_null', 'films_lstm') ORDER BY name;
SELECT rnn.sentiment('films_lstm', 'the film was superb') BETWEEN 0 AND 1 AS probability,
       length(rnn.export_model('films_lstm')) > 0 AS exported;
-- by default (no pretraining asked for) NULL labels are skipped, as before
SET client_min_messages = warning;
SELECT version, validation_accuracy IS NOT NULL AS validated
  FROM rnn.train_classifier('films_skip', 'films_some', 'body', 'positive', embedding_dim => 8,
       hidden_size => 8, epochs => 1);
RESET client_min_messages;
SELECT metrics ? 'pretraining' AS pretrained, 'superb' = ANY (vocabulary) AS knows_superb
  FROM rnn.models WHERE name = 'films_skip';
-- freeze_embeddings without word vectors keeps the embedding pretraining
-- learnt through the labelled training
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('films_frozen', 'films', 'body', 'positive',
       embedding_dim => 8, hidden_size => 8, epochs => 1, pretrain_epochs => 1,
       freeze_embeddings => true);
SELECT hyperparams->'freeze_embeddings' AS frozen, metrics->'pretraining'->'epochs' AS pretrained
  FROM rnn.models WHERE name = 'films_frozen';
RESET client_min_messages;

-- ---------------------------------------------------------------------------
-- Bad input: each statement fails with its SQLSTATE and stores nothing.
SELECT count(*) AS models_before FROM rnn.models \gset
-- a pretraining relation without the text column (text_column by default)
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', pretrain_relation => 'film_talk');
:e
-- a column that is not text
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', pretrain_relation => 'film_talk',
       pretrain_text_column => 'n');
:e
-- an empty relation, and one whose texts are all NULL
CREATE TABLE no_talk (txt text);
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', pretrain_relation => 'no_talk',
       pretrain_text_column => 'txt');
:e
INSERT INTO no_talk VALUES (NULL), ('   ');
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', pretrain_relation => 'no_talk',
       pretrain_text_column => 'txt');
:e
-- a relation that does not exist
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', pretrain_relation => 'no_such_talk');
:e
-- a label column that is all NULL, without and with pretraining asked for
CREATE TABLE films_unlabelled AS SELECT body, NULL::boolean AS positive FROM films;
SELECT * FROM rnn.train_classifier('x', 'films_unlabelled', 'body', 'positive');
:e
SELECT * FROM rnn.train_classifier('x', 'films_unlabelled', 'body', 'positive',
       pretrain_epochs => 1);
:e
SELECT * FROM rnn.train_classifier('x', 'films_unlabelled', 'body', 'positive',
       pretrain_relation => 'film_talk', pretrain_text_column => 'txt');
:e
-- arguments
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', pretrain_epochs => -1);
:e
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', pretrain_text_column => 'txt');
:e
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', pretrain_relation => 'film_talk',
       pretrain_text_column => 'txt', pretrain_epochs => 0);
:e
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', freeze_embeddings => true,
       pretrain_epochs => 0);
:e
SELECT count(*) - :models_before AS models_added FROM rnn.models;
