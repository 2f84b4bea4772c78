-- The n-gram linear path of a classifier (src/core/ngram.c,
-- src/pg/classify_ngram.c): naive Bayes over unigrams and bigrams of token
-- ids, fitted before the network, whose logits the network's are added to.
--
-- The data are 640 short reviews whose label hangs on a bigram: "not good"
-- is negative and "not bad" positive, so unigrams alone cannot tell "good"
-- from "not good".  One label in seven is flipped, so scores stay moderate
-- (not 0 or 1) and comparing them means something.  Only properties are
-- printed, never raw floats.
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET extra_float_digits = 0;
SET rnn.blas_threads = 1;

CREATE TABLE negations AS
SELECT i,
       (ARRAY['the film was', 'this movie is', 'a story that is', 'the plot was'])[1 + i % 4] || ' ' ||
       CASE WHEN (i / 4) % 2 = 0 THEN 'not ' ELSE '' END ||
       (ARRAY['good', 'bad', 'fun', 'dull'])[1 + (i / 8) % 4] AS body,
       (((i / 8) % 2 = 0) <> ((i / 4) % 2 = 0)) <> ((i * 37) % 7 = 0) AS positive
  FROM generate_series(1, 640) i;
SELECT body, positive FROM negations ORDER BY i LIMIT 3;
SELECT count(*) FILTER (WHERE positive) AS positive, count(*) AS rows FROM negations;

-- ---------------------------------------------------------------------------
-- The path alone: a learning rate of 1e-9 for one epoch leaves the network
-- at its start, which reads nothing (head weights zero) -- the stored model
-- is the n-gram path.  Bigrams get the negations right, unigrams cannot.
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('neg_bigrams', 'negations', 'body', 'positive',
       embedding_dim => 4, hidden_size => 4, epochs => 1, learning_rate => 1e-9, seed => 1);
SELECT version FROM rnn.train_classifier('neg_unigrams', 'negations', 'body', 'positive',
       embedding_dim => 4, hidden_size => 4, epochs => 1, learning_rate => 1e-9, seed => 1,
       ngram_order => 1);
RESET client_min_messages;
SELECT avg(((rnn.sentiment('neg_bigrams', body) > 0.5) = positive)::int) > 0.8 AS bigrams_right,
       avg(((rnn.sentiment('neg_unigrams', body) > 0.5) = positive)::int) < 0.65 AS unigrams_cannot
  FROM negations;
SELECT rnn.sentiment('neg_bigrams', 'the film was good') > 0.5 AS good,
       rnn.sentiment('neg_bigrams', 'the film was not good') < 0.5 AS not_good,
       rnn.sentiment('neg_bigrams', 'the film was not bad') > 0.5 AS not_bad,
       rnn.sentiment('neg_bigrams', 'the film was good') < 0.99 AS not_saturated;

-- What was stored: the order in hyperparams; in metrics the fit (smoothing,
-- a scale per order) and the path's out-of-fold and validation accuracy.
SELECT hyperparams->'ngram_order' AS ngram_order,
       metrics->'ngram'->'order' AS order,
       (metrics->'ngram'->>'bigrams')::int BETWEEN 20 AND 200 AS bigrams_ok,
       metrics->'ngram'->>'fit' IN ('naive_bayes', 'nbsvm') AS fit_named,
       (metrics->'ngram'->>'out_of_fold_log_loss')::float8 <=
       (metrics->'ngram'->>'naive_bayes_out_of_fold_log_loss')::float8 AS not_worse_than_naive_bayes,
       (metrics->'ngram'->>'alpha')::float8 > 0 AS alpha_ok,
       (metrics->'ngram'->'scale'->>1)::float8 > 0 AS bigram_scale_ok,
       (metrics->'ngram'->>'out_of_fold_accuracy')::float8 > 0.8 AS out_of_fold_ok,
       (metrics->'ngram'->>'validation_accuracy')::float8 > 0.75 AS validation_ok
  FROM rnn.models WHERE name = 'neg_bigrams';
SELECT metrics->'ngram'->>'bigrams' AS bigrams FROM rnn.models WHERE name = 'neg_unigrams';
-- The weights: the network's blob, then the n-gram table; weights_info
-- describes the network.
SELECT length(weights) > 72 + 4 * (rnn.weights_info(weights)->>'parameters')::int AS has_table,
       rnn.weights_info(weights)->>'parameters' = rnn.model_config('neg_bigrams')->>'parameters' AS same_network
  FROM rnn.models WHERE name = 'neg_bigrams';

-- ---------------------------------------------------------------------------
-- With the network: early stopping by validation accuracy lets the start
-- (the path alone, epoch 0) compete, so the model is never worse than
-- naive Bayes on validation.
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('neg_net', 'negations', 'body', 'positive',
       embedding_dim => 8, hidden_size => 8, epochs => 4, learning_rate => 0.01,
       early_stopping => 'accuracy', seed => 2);
RESET client_min_messages;
SELECT (metrics->'validation'->>'accuracy')::float8 >=
       (metrics->'ngram'->>'validation_accuracy')::float8 AS not_worse_than_ngram_path,
       coalesce((metrics->'ngram'->>'network_share')::float8 BETWEEN 0 AND 1, true) AS share_ok
  FROM rnn.models WHERE name = 'neg_net';
SELECT avg(((rnn.sentiment('neg_net', body) > 0.5) = positive)::int) > 0.8 AS accuracy_ok,
       rnn.classify('neg_net', 'this movie is not dull') AS not_dull,
       (SELECT round(sum(probability)::numeric, 6) FROM rnn.class_probs('neg_net', 'not fun')) AS probs_sum
  FROM negations;

-- With early stopping on the validation loss (the default), the network's
-- share of the logits is fitted on validation and kept only when its gain
-- over the path is more than two standard errors.
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('neg_share', 'negations', 'body', 'positive',
       embedding_dim => 8, hidden_size => 8, epochs => 4, learning_rate => 0.01, seed => 2);
RESET client_min_messages;
SELECT NOT (metrics->'ngram' ? 'network_share') OR
       ((metrics->'ngram'->>'network_share')::float8 BETWEEN 0 AND 1 AND
        ((metrics->'ngram'->>'network_share')::float8 = 0 OR
         (metrics->'ngram'->>'network_gain_z')::float8 > 2)) AS share_rule
  FROM rnn.models WHERE name = 'neg_share';

-- ngram_order => 0: the network alone, its blob alone.
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('neg_plain', 'negations', 'body', 'positive',
       embedding_dim => 4, hidden_size => 4, epochs => 1, seed => 1, ngram_order => 0);
RESET client_min_messages;
SELECT length(weights) = 72 + 4 * (rnn.weights_info(weights)->>'parameters')::int AS network_only,
       metrics ? 'ngram' AS has_ngram_metrics
  FROM rnn.models WHERE name = 'neg_plain';

-- Three classes: per-class weights.
CREATE TABLE moods AS
SELECT i, 'it was ' || CASE WHEN i % 3 = 0 THEN 'not ' ELSE '' END ||
          (ARRAY['great', 'awful', 'okay'])[1 + (i / 3) % 3] AS body,
          CASE WHEN (i / 3) % 3 = 2 THEN 'meh'
               WHEN ((i / 3) % 3 = 0) <> (i % 3 = 0) THEN 'up' ELSE 'down' END AS mood
  FROM generate_series(1, 450) i;
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('moods3', 'moods', 'body', 'mood',
       embedding_dim => 4, hidden_size => 4, epochs => 1, learning_rate => 1e-9, seed => 1);
RESET client_min_messages;
SELECT rnn.classify('moods3', 'it was not awful') AS not_awful, rnn.classify('moods3', 'it was not great') AS not_great,
       rnn.classify('moods3', 'it was okay') AS okay,
       avg((rnn.classify('moods3', body) = mood)::int) = 1 AS all_right
  FROM moods;

-- ---------------------------------------------------------------------------
-- Export and import carry the table: the same scores, exactly.
SELECT rnn.import_model('neg_copy', rnn.export_model('neg_net'), 'classifier',
       (SELECT jsonb_build_object('hyperparams', hyperparams, 'normalization', normalization,
                                  'vocabulary', to_jsonb(vocabulary), 'labels', to_jsonb(labels))
          FROM rnn.models WHERE name = 'neg_net')) AS version;
SELECT bool_and(rnn.sentiment('neg_copy', body) = rnn.sentiment('neg_net', body)) AS same_scores
  FROM negations;

-- ---------------------------------------------------------------------------
-- Streams: the state carries the n-gram sum and the last token, so a
-- bigram across two messages ("not" | "good") counts as in the joined text.
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('neg_stream', 'negations', 'body', 'positive',
       bidirectional => false, pooling => 'last', embedding_dim => 8, hidden_size => 8,
       epochs => 2, learning_rate => 0.01, seed => 3);
RESET client_min_messages;
CREATE TABLE neg_messages (chat int, ts int, msg text);
INSERT INTO neg_messages VALUES
  (1, 1, 'the film was not'), (1, 2, 'good'), (1, 3, 'but the plot was'), (1, 4, 'not bad'),
  (2, 1, 'this movie is'), (2, 2, NULL), (2, 3, ''), (2, 4, 'not'), (2, 5, 'dull');
-- logits compared, not probabilities, to 1e-4
SELECT bool_and(running IS NULL AND joined IS NULL OR
                abs(ln(running / (1 - running)) - ln(whole / (1 - whole))) < 1e-4)
       AS running_equals_joined, count(*) AS rows,
       bool_and(running IS NULL OR running BETWEEN 0.01 AND 0.99) AS not_saturated
  FROM (SELECT rnn.sentiment_running('neg_stream', msg) OVER w AS running,
               rnn.sentiment('neg_stream', string_agg(msg, ' ') OVER w) AS whole,
               string_agg(msg, ' ') OVER w AS joined
          FROM neg_messages WINDOW w AS (PARTITION BY chat ORDER BY ts)) s;
SELECT chat, rnn.sentiment_running('neg_stream', msg ORDER BY ts) > 0.5 AS positive
  FROM neg_messages GROUP BY chat ORDER BY chat;
-- the stored state: header 40 bytes, h (8 floats), then the last token
-- and the sum (4 + 2 * 4 bytes)
SELECT length(s2) AS state_bytes,
       abs(ln(rnn.stream_score('neg_stream', s2) / (1 - rnn.stream_score('neg_stream', s2))) -
           ln(rnn.sentiment('neg_stream', 'the film was not good') /
              (1 - rnn.sentiment('neg_stream', 'the film was not good')))) < 1e-4 AS state_equals_joined
  FROM (SELECT rnn.stream_step('neg_stream', rnn.stream_step('neg_stream', NULL, 'the film was not'),
                               'good') AS s2) x;

-- A network that learnt nothing (learning rate 1e-9) does not beat its
-- start, the path alone, whose head reads nothing (weights all zero), or
-- gets a share of 0, which zeroes them too.  One-shot scoring of such a
-- model skips the network (the logits are the head bias plus the path,
-- exactly); streaming still runs it.  Both give the same scores.
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('neg_head_only', 'negations', 'body', 'positive',
       bidirectional => false, pooling => 'last', embedding_dim => 8, hidden_size => 8,
       epochs => 1, learning_rate => 1e-9, seed => 3);
RESET client_min_messages;
SELECT (metrics->>'best_epoch')::int = 0 OR
       (metrics->'ngram'->>'network_share')::float8 = 0 AS network_dropped
  FROM rnn.models WHERE name = 'neg_head_only';
SELECT bool_and(abs(running - whole) < 1e-6) AS skipped_network_scores_as_streamed,
       count(*) AS texts, bool_or(whole BETWEEN 0.01 AND 0.99) AS some_not_saturated
  FROM (SELECT rnn.sentiment_running('neg_head_only', body) AS running,
               rnn.sentiment('neg_head_only', body) AS whole
          FROM (SELECT DISTINCT body FROM negations
                UNION ALL VALUES ('not'), ('the film'), ('good but dull')) t GROUP BY body) s;

-- The same rows in another physical order train the same model: the split
-- shuffles rows sorted by text, not in the order the scan returns them.
CREATE TABLE negations_shuffled AS SELECT * FROM negations ORDER BY md5(i::text);
SET rnn.blas_threads = 1;
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('neg_order_a', 'negations', 'body', 'positive',
       embedding_dim => 8, hidden_size => 8, epochs => 2, learning_rate => 0.01, seed => 5);
SELECT version FROM rnn.train_classifier('neg_order_b', 'negations_shuffled', 'body', 'positive',
       embedding_dim => 8, hidden_size => 8, epochs => 2, learning_rate => 0.01, seed => 5);
RESET client_min_messages;
RESET rnn.blas_threads;
SELECT a.weights = b.weights AS same_weights, a.vocabulary = b.vocabulary AS same_vocabulary
  FROM rnn.models a, rnn.models b WHERE a.name = 'neg_order_a' AND b.name = 'neg_order_b';

-- ---------------------------------------------------------------------------
-- Bad input: each statement fails with its SQLSTATE and stores nothing.
SELECT count(*) AS models_before FROM rnn.models \gset
SELECT * FROM rnn.train_classifier('x', 'negations', 'body', 'positive', ngram_order => 3);
:e
SELECT * FROM rnn.train_classifier('x', 'negations', 'body', 'positive', ngram_order => -1);
:e
SELECT * FROM rnn.train_classifier('x', 'negations', 'body', 'positive', ngram_order => NULL);
:e
-- a label column that is all NULL
CREATE TABLE no_labels AS SELECT body, NULL::boolean AS positive FROM negations;
SELECT * FROM rnn.train_classifier('x', 'no_labels', 'body', 'positive');
:e
-- one byte appended to a model with a table, or one byte of the table changed
SELECT rnn.import_model('x', rnn.export_model('neg_net') || '\x00'::bytea, 'classifier');
:e
SELECT rnn.import_model('x', set_byte(w, length(w) - 9, get_byte(w, length(w) - 9) # 1), 'classifier')
  FROM (SELECT rnn.export_model('neg_net') AS w) s;
:e
-- a table that does not fit the network: three classes behind two
SELECT rnn.import_model('x', substr(two, 1, 72 + 4 * (rnn.weights_info(two)->>'parameters')::int) ||
                             substr(three, 73 + 4 * (rnn.weights_info(three)->>'parameters')::int),
                        'classifier')
  FROM (SELECT rnn.export_model('neg_bigrams') AS two, rnn.export_model('moods3') AS three) s;
:e
-- a table behind a forecaster's network
SELECT rnn.weights_info(rnn.untrained_weights('{}') ||
                        substr(w, 73 + 4 * (rnn.weights_info(w)->>'parameters')::int))
  FROM (SELECT rnn.export_model('neg_bigrams') AS w) s;
:e
SELECT count(*) - :models_before AS models_added FROM rnn.models;

SELECT rnn.drop_model(name) FROM (VALUES ('neg_bigrams'), ('neg_unigrams'), ('neg_net'),
       ('neg_share'), ('neg_plain'), ('moods3'), ('neg_copy'), ('neg_stream'),
       ('neg_head_only'), ('neg_order_a'), ('neg_order_b')) v(name);
DROP TABLE negations, negations_shuffled, moods, neg_messages, no_labels;
