-- Sentiment: train a text classifier from a table, score texts in queries,
-- score streams of messages.
--
-- The data are 400 generated reviews: a filler sentence around one clearly
-- positive or negative word, so a tiny model learns them in seconds.  Only
-- properties are printed (accuracy > 0.9, probabilities in [0, 1]), never
-- raw floats, which vary with BLAS kernels.
SET extra_float_digits = 0;

CREATE TABLE reviews (id int PRIMARY KEY, body text, positive boolean);
INSERT INTO reviews
SELECT i,
       (ARRAY['the', 'this', 'a'])[1 + (i / 2) % 3] || ' ' ||
       (ARRAY['film', 'movie', 'story', 'plot'])[1 + (i / 6) % 4] || ' was ' ||
       CASE WHEN i % 2 = 0
            THEN (ARRAY['great', 'wonderful', 'superb', 'moving', 'funny'])[1 + (i / 2) % 5]
            ELSE (ARRAY['awful', 'boring', 'dull', 'terrible', 'bland'])[1 + (i / 2) % 5] END ||
       (ARRAY['', ' and the acting too', ' , really', ' !'])[1 + (i / 10) % 4],
       i % 2 = 0
  FROM generate_series(1, 400) i;
-- rows without a label or without any token are skipped (and counted)
INSERT INTO reviews VALUES (401, NULL, true), (402, 'a great film', NULL), (403, '   ', false);
SELECT body, positive FROM reviews ORDER BY id LIMIT 4;

-- ---------------------------------------------------------------------------
-- Training.  Each epoch reports a NOTICE (hidden here: losses vary by BLAS).
SET client_min_messages = warning;
SELECT version, train_accuracy > 0.9 AS train_ok, validation_accuracy > 0.9 AS validation_ok,
       validation_macro_f1 > 0.9 AS f1_ok, validation_log_loss < 0.5 AS log_loss_ok,
       epochs_run BETWEEN 1 AND 30 AS epochs_ok, best_epoch <= epochs_run AS best_ok,
       vocabulary_size
  FROM rnn.train_classifier('review_gru', 'reviews'::regclass,
                            text_column => 'body', label_column => 'positive',
                            embedding_dim => 16, hidden_size => 16, epochs => 30,
                            learning_rate => 0.01, seed => 1);
RESET client_min_messages;

-- What was stored: labels in sorted order (false < true), the vocabulary
-- (index = token id, <pad> and <unk> first), settings and metrics.
SELECT name, version, kind, cell, labels, vocabulary[1:4] AS vocabulary,
       source_relation, source_rows
  FROM rnn.models WHERE name = 'review_gru';
SELECT hyperparams ->> 'tokens' AS tokens, hyperparams ->> 'pooling' AS pooling,
       hyperparams ->> 'max_tokens' AS max_tokens, hyperparams ->> 'bidirectional' AS bidirectional,
       normalization -> 'class_prior' AS class_prior,
       metrics -> 'skipped_rows' AS skipped_rows,
       metrics -> 'train' -> 'rows' AS train_rows, metrics -> 'validation' -> 'rows' AS validation_rows,
       jsonb_array_length(loss_curve) = (metrics ->> 'epochs')::int AS curve_ok
  FROM rnn.models WHERE name = 'review_gru';

-- ---------------------------------------------------------------------------
-- Scoring.  rnn.sentiment is P(positive class) = the second label (true).
SELECT avg(((rnn.sentiment('review_gru', body) > 0.5) = positive)::int) > 0.9 AS accurate,
       bool_and(rnn.sentiment('review_gru', body) BETWEEN 0 AND 1) AS in_range
  FROM reviews WHERE body IS NOT NULL AND positive IS NOT NULL AND id <= 400;
SELECT rnn.sentiment('review_gru', 'a superb and moving film') > 0.8 AS positive,
       rnn.sentiment('review_gru', 'a dull , boring film') < 0.2 AS negative;
SELECT rnn.classify('review_gru', 'a superb and moving film') AS label_1,
       rnn.classify('review_gru', 'a dull , boring film') AS label_2;
-- Case and typographic quotes do not matter to the tokenizer.
SELECT abs(rnn.sentiment('review_gru', 'A SUPERB Film') -
           rnn.sentiment('review_gru', 'a superb film')) < 1e-9 AS case_insensitive;

-- Every class with its probability, in class order; they sum to 1.
SELECT label, probability > 0.5 AS likely FROM rnn.class_probs('review_gru', 'what a great film');
SELECT abs(sum(probability) - 1) < 1e-9 AS sums_to_1
  FROM rnn.class_probs('review_gru', 'what a great film');

-- Inputs without evidence: NULL in, NULL out (STRICT); a text without
-- tokens scores the training class frequency (here 0.5); unknown words
-- are <unk> tokens scored by the network.
SELECT rnn.sentiment('review_gru', NULL) IS NULL AS null_text,
       rnn.classify('review_gru', NULL) IS NULL AS null_classify,
       rnn.sentiment(NULL, 'great') IS NULL AS null_model;
SELECT round(rnn.sentiment('review_gru', '')::numeric, 3) AS empty,
       round(rnn.sentiment('review_gru', E' \t\n ')::numeric, 3) AS whitespace;
SELECT rnn.sentiment('review_gru', 'zyxx qwvv') BETWEEN 0 AND 1 AS unknown_words;
SELECT count(*) AS classes FROM rnn.class_probs('review_gru', '');

-- The scoring functions are STABLE (a new version changes results),
-- STRICT and PARALLEL SAFE, so big scans can use parallel workers.
SELECT p.proname, p.provolatile, p.proisstrict, p.proparallel, p.procost
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'rnn' AND p.proname IN ('sentiment', 'classify', 'class_probs')
 ORDER BY 1;

-- A scan decodes the model once (backend cache) and looks it up once.
SELECT decodes AS decodes_before FROM rnn.model_cache_stats() \gset
SELECT count(rnn.sentiment('review_gru', body)) FROM reviews;
SELECT decodes - :decodes_before AS new_decodes FROM rnn.model_cache_stats();

-- ---------------------------------------------------------------------------
-- Labels of other types: integers are ordered numerically (1 < 2 < 10),
-- and more than two classes work with classify and class_probs.
CREATE TABLE ratings AS
SELECT id, body, CASE WHEN positive THEN 10 ELSE 1 END AS stars FROM reviews WHERE id <= 400
UNION ALL
SELECT 1000 + i, (ARRAY['the', 'a'])[1 + i % 2] || ' film was ' ||
       (ARRAY['okay', 'average', 'fine', 'mediocre'])[1 + (i / 2) % 4], 2
  FROM generate_series(1, 200) i;
SET client_min_messages = warning;
SELECT version, validation_accuracy > 0.9 AS validation_ok
  FROM rnn.train_classifier('stars_gru', 'ratings', 'body', 'stars',
                            embedding_dim => 16, hidden_size => 16, epochs => 30,
                            learning_rate => 0.01, seed => 1);
RESET client_min_messages;
SELECT labels FROM rnn.models WHERE name = 'stars_gru';
SELECT rnn.classify('stars_gru', 'a superb film') AS superb,
       rnn.classify('stars_gru', 'an average film') AS average,
       rnn.classify('stars_gru', 'a dull film') AS dull;
SELECT label FROM rnn.class_probs('stars_gru', 'a fine film');
SELECT rnn.sentiment('stars_gru', 'a fine film');

-- Other cells and settings: an LSTM that keeps the epoch with the best
-- validation accuracy (the default keeps the best validation loss).
SET client_min_messages = warning;
SELECT version, validation_accuracy > 0.9 AS validation_ok, best_epoch <= epochs_run AS best_ok
  FROM rnn.train_classifier('review_lstm', 'reviews', 'body', 'positive', cell => 'lstm',
                            embedding_dim => 16, hidden_size => 16, epochs => 30,
                            learning_rate => 0.01, seed => 2, early_stopping => 'accuracy');
RESET client_min_messages;
SELECT cell, hyperparams ->> 'early_stopping' AS early_stopping
  FROM rnn.models WHERE name = 'review_lstm';
SELECT rnn.classify('review_lstm', 'a wonderful film') AS label;

-- ---------------------------------------------------------------------------
-- Errors.
SELECT rnn.sentiment('no_such_model', 'great');
SELECT rnn.import_model('temperature', rnn.untrained_weights('{"cell": "gru", "hidden_size": 4}'),
                        'forecaster');
SELECT rnn.sentiment('temperature', 'great');
SELECT rnn.classify('temperature', 'great');
SELECT * FROM rnn.class_probs('temperature', 'great');

CREATE TABLE one_class AS SELECT body, true AS positive FROM reviews WHERE id <= 20;
SELECT * FROM rnn.train_classifier('bad', 'one_class', 'body', 'positive');
CREATE TABLE no_rows (body text, positive boolean);
SELECT * FROM rnn.train_classifier('bad', 'no_rows', 'body', 'positive');
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'text', 'positive');
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'body', 'label');
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'id', 'positive');
SELECT * FROM rnn.train_classifier('bad', 'no_such_table', 'body', 'positive');
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'body', 'positive', cell => 'cnn');
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'body', 'positive', pooling => 'first');
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'body', 'positive', tokens => 'bytes');
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'body', 'positive', hidden_size => 0);
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'body', 'positive', dropout => 1);
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'body', 'positive', epochs => NULL);
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'body', 'positive', early_stopping => 'f1');
SET rnn.max_train_memory = '1MB';
SELECT * FROM rnn.train_classifier('bad', 'reviews', 'body', 'positive', hidden_size => 512);
RESET rnn.max_train_memory;
-- nothing was stored by the failed trainings
SELECT count(*) AS stored FROM rnn.models WHERE name = 'bad';

-- ---------------------------------------------------------------------------
-- Streams.  A unidirectional model with pooling 'last' reads its score
-- from the final recurrent state, so the state can be carried from one
-- message to the next.
SET client_min_messages = warning;
SELECT version, validation_accuracy > 0.9 AS validation_ok
  FROM rnn.train_classifier('chat_gru', 'reviews', 'body', 'positive',
                            bidirectional => false, pooling => 'last',
                            embedding_dim => 16, hidden_size => 16, epochs => 30,
                            learning_rate => 0.01, seed => 1);
RESET client_min_messages;

CREATE TABLE messages (chat int, ts int, msg text);
INSERT INTO messages VALUES
  (1, 1, 'hello , the film was great'), (1, 2, 'the acting was superb'),
  (1, 3, 'but the plot was dull'), (1, 4, 'and boring and awful'),
  (2, 1, 'the story was bland'), (2, 2, NULL), (2, 3, ''), (2, 4, 'yet funny and moving'),
  (3, 1, NULL), (3, 2, 'a wonderful movie');

-- At every row the running score equals rnn.sentiment of the messages so
-- far joined with spaces, while each row only reads its own tokens.
SELECT chat, ts, msg,
       rnn.sentiment_running('chat_gru', msg) OVER w > 0.5 AS positive
  FROM messages WINDOW w AS (PARTITION BY chat ORDER BY ts) ORDER BY chat, ts;
SELECT bool_and(running IS NULL AND joined IS NULL OR abs(running - rnn.sentiment('chat_gru', joined)) < 1e-6)
       AS running_equals_joined, count(*) AS rows
  FROM (SELECT rnn.sentiment_running('chat_gru', msg) OVER w AS running,
               string_agg(msg, ' ') OVER w AS joined
          FROM messages WINDOW w AS (PARTITION BY chat ORDER BY ts)) s;
-- A moving frame scores the last messages only (the state is rebuilt when
-- the frame start moves).
SELECT bool_and(running IS NULL AND joined IS NULL OR abs(running - rnn.sentiment('chat_gru', joined)) < 1e-6)
       AS last_two_equal_joined
  FROM (SELECT rnn.sentiment_running('chat_gru', msg) OVER w AS running,
               string_agg(msg, ' ') OVER w AS joined
          FROM messages WINDOW w AS (PARTITION BY chat ORDER BY ts ROWS 1 PRECEDING)) s;
-- As a plain aggregate: the score of each whole conversation.
SELECT chat, rnn.sentiment_running('chat_gru', msg ORDER BY ts) > 0.5 AS positive
  FROM messages GROUP BY chat ORDER BY chat;

-- Character-level models stream too: messages are joined by one ' ' token.
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('chat_chars', 'reviews', 'body', 'positive',
                                         tokens => 'char', bidirectional => false,
                                         pooling => 'last', embedding_dim => 8,
                                         hidden_size => 16, epochs => 2, seed => 1);
RESET client_min_messages;
SELECT bool_and(running IS NULL AND joined IS NULL OR abs(running - rnn.sentiment('chat_chars', joined)) < 1e-6)
       AS running_equals_joined
  FROM (SELECT rnn.sentiment_running('chat_chars', msg) OVER w AS running,
               string_agg(msg, ' ') OVER w AS joined
          FROM messages WINDOW w AS (PARTITION BY chat ORDER BY ts)) s;

-- Bidirectional or max-pooled models cannot stream.
SELECT rnn.sentiment_running('review_gru', msg) OVER (ORDER BY ts) FROM messages;
SELECT rnn.stream_step('review_gru', NULL, 'great');

-- A stream kept in a table across transactions: the state is a bytea.
CREATE TABLE chats (chat int PRIMARY KEY, state bytea);
INSERT INTO chats VALUES (1, NULL);
UPDATE chats SET state = rnn.stream_step('chat_gru', state, 'hello , the film was great');
UPDATE chats SET state = rnn.stream_step('chat_gru', state, NULL);
UPDATE chats SET state = rnn.stream_step('chat_gru', state, 'the acting was superb');
UPDATE chats SET state = rnn.stream_step('chat_gru', state, 'but the plot was dull');
SELECT abs(rnn.stream_score('chat_gru', state) -
           rnn.sentiment('chat_gru', 'hello , the film was great the acting was superb but the plot was dull')) < 1e-6
       AS state_equals_joined,
       octet_length(state) AS state_bytes
  FROM chats;
SELECT round(rnn.stream_score('chat_gru', rnn.stream_step('chat_gru', NULL, ''))::numeric, 3) AS no_tokens;
SELECT rnn.stream_step('chat_gru', NULL, NULL) IS NULL AS null_state;
SELECT rnn.stream_score('chat_gru', '\x00'::bytea);
SELECT rnn.stream_score('chat_gru', overlay(state placing '\x02'::bytea from 5)) FROM chats;
SELECT rnn.stream_score('review_gru', state) FROM chats;
-- A new version of the model refuses states of the old one.
SELECT rnn.import_model('chat_gru', weights, 'classifier',
                        jsonb_build_object('vocabulary', vocabulary, 'labels', labels,
                                           'hyperparams', hyperparams))
  FROM rnn.models WHERE name = 'chat_gru';
SELECT rnn.stream_score('chat_gru', state) FROM chats;

-- A trigger fills a score column on INSERT (and UPDATE).
CREATE TABLE inbox (id int, body text, score float8);
CREATE TRIGGER inbox_score BEFORE INSERT OR UPDATE OF body ON inbox
  FOR EACH ROW EXECUTE FUNCTION rnn.sentiment_trigger('review_gru', 'body', 'score');
INSERT INTO inbox (id, body) VALUES (1, 'a superb film'), (2, 'a dull film'), (3, NULL);
SELECT id, score > 0.5 AS positive, score IS NULL AS no_score FROM inbox ORDER BY id;
UPDATE inbox SET body = 'a wonderful film' WHERE id = 2;
SELECT bool_and(abs(score - rnn.sentiment('review_gru', body)) < 1e-9) AS scores_match
  FROM inbox WHERE body IS NOT NULL;
CREATE TABLE bad_inbox (body text, score text);
CREATE TRIGGER bad_score BEFORE INSERT ON bad_inbox
  FOR EACH ROW EXECUTE FUNCTION rnn.sentiment_trigger('review_gru', 'body', 'score');
INSERT INTO bad_inbox VALUES ('great', NULL);
CREATE TRIGGER bad_args BEFORE INSERT ON inbox
  FOR EACH ROW EXECUTE FUNCTION rnn.sentiment_trigger('review_gru');
INSERT INTO inbox VALUES (4, 'great', NULL);
DROP TRIGGER bad_args ON inbox;

SELECT rnn.drop_model(name) FROM (VALUES ('review_gru'), ('review_lstm'), ('stars_gru'), ('chat_gru'),
                                         ('chat_chars'), ('temperature')) m(name);
DROP TABLE reviews, ratings, one_class, no_rows, messages, chats, inbox, bad_inbox;
