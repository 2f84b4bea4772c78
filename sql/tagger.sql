-- Taggers: one tag per token, trained on rows of text[] tokens and text[]
-- tags.  The data are 300 generated sentences of a tiny grammar in which a
-- word's tag depends on its neighbours ("saw" is a NOUN after "the", a VERB
-- after a name), so a tagger must read context; the baseline that gives
-- each word its most frequent training tag is computed in the same run.
-- Only properties are printed; every bad input prints its SQLSTATE and
-- stores nothing.
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET extra_float_digits = 0;
SET rnn.blas_threads = 1;

CREATE TABLE sentences (id int PRIMARY KEY, tokens text[], tags text[]);
INSERT INTO sentences
SELECT i,
       CASE WHEN i % 2 = 0
            THEN ARRAY[(ARRAY['Harry', 'Hermione', 'Ron'])[1 + i % 3], 'saw', 'the',
                       (ARRAY['saw', 'spell', 'owl'])[1 + (i / 2) % 3], '.']
            ELSE ARRAY['the', (ARRAY['saw', 'spell', 'owl'])[1 + (i / 2) % 3], 'saw',
                       (ARRAY['Harry', 'Hermione', 'Ron'])[1 + i % 3], '.'] END,
       CASE WHEN i % 2 = 0 THEN ARRAY['PROPN', 'VERB', 'DET', 'NOUN', 'PUNCT']
            ELSE ARRAY['DET', 'NOUN', 'VERB', 'PROPN', 'PUNCT'] END
  FROM generate_series(1, 300) i;
-- NULL arrays and empty rows are skipped (and counted)
INSERT INTO sentences VALUES (301, NULL, '{X}'), (302, '{}', '{}');
SELECT tokens, tags FROM sentences ORDER BY id LIMIT 2;

-- the most-frequent-tag baseline over all tokens
CREATE TABLE baseline AS
WITH t AS (SELECT lower(tok) AS tok, tag FROM sentences, unnest(tokens, tags) AS u(tok, tag)),
     best AS (SELECT DISTINCT ON (tok) tok, tag FROM t GROUP BY tok, tag
              ORDER BY tok, count(*) DESC, tag)
SELECT avg((t.tag = best.tag)::int) AS accuracy FROM t JOIN best USING (tok);
SELECT round(accuracy, 3) AS baseline_accuracy FROM baseline;

-- ---------------------------------------------------------------------------
-- Training (bidirectional by default).
SET client_min_messages = warning;
SELECT version, validation_accuracy > (SELECT accuracy FROM baseline) + 0.05 AS beats_baseline,
       validation_accuracy > 0.99 AS validation_ok, train_accuracy > 0.99 AS train_ok,
       epochs_run BETWEEN 1 AND 30 AS epochs_ok, best_epoch <= epochs_run AS best_ok,
       vocabulary_size, tag_count
  FROM rnn.train_tagger('pos', 'sentences', 'tokens', 'tags', embedding_dim => 16,
                        hidden_size => 16, epochs => 30, learning_rate => 0.02, seed => 1);
RESET client_min_messages;

SELECT name, kind, cell, labels, vocabulary[1:2] AS reserved, 'harry' = ANY (vocabulary) AS lowercased,
       hyperparams->>'bidirectional' AS bidirectional, metrics->'validation' ? 'accuracy' AS has_accuracy,
       (metrics->>'skipped_rows')::int AS skipped
  FROM rnn.models WHERE name = 'pos';
SELECT rnn.model_config('pos')->'architecture'->>'bidirectional' AS bidirectional,
       rnn.model_config('pos')->'architecture'->>'head' AS head;

-- ---------------------------------------------------------------------------
-- Tagging: position from 1, the token as given, the tag, its probability.
SELECT position, token, tag, probability > 0.5 AS confident
  FROM rnn.tag('pos', ARRAY['Ron', 'saw', 'the', 'saw', '.']);
SELECT position, token, tag FROM rnn.tag('pos', ARRAY['the', 'saw', 'saw', 'Harry', '.']);
-- plain text is tokenized as the classifier does (lower-cased, punctuation split off)
SELECT position, token, tag FROM rnn.tag('pos', 'Hermione saw the owl.');
-- unknown words are <unk>; empty input has no rows
SELECT count(*) AS rows, bool_and(probability BETWEEN 0 AND 1) AS probabilities
  FROM rnn.tag('pos', ARRAY['Dumbledore', 'saw', 'the', 'phoenix', '!']);
SELECT count(*) AS empty_rows FROM rnn.tag('pos', '{}'::text[]);
SELECT count(*) AS empty_text_rows FROM rnn.tag('pos', '');
-- a whole table, as a lateral join
SELECT count(*) AS tagged, avg((t.tag = s.tags[t.position])::int) = 1 AS all_right
  FROM sentences s, rnn.tag('pos', s.tokens) t WHERE s.id <= 40;

-- The same rows in another physical order train the same tagger: the split
-- shuffles rows sorted by their tokens and tags, not in scan order.
CREATE TABLE sentences_shuffled AS SELECT * FROM sentences ORDER BY md5(id::text);
SET rnn.blas_threads = 1;
SET client_min_messages = warning;
SELECT count(*) FROM rnn.train_tagger('pos_order_a', 'sentences', 'tokens', 'tags', embedding_dim => 8,
                        hidden_size => 8, epochs => 2, seed => 4);
SELECT count(*) FROM rnn.train_tagger('pos_order_b', 'sentences_shuffled', 'tokens', 'tags',
                        embedding_dim => 8, hidden_size => 8, epochs => 2, seed => 4);
RESET client_min_messages;
RESET rnn.blas_threads;
SELECT a.weights = b.weights AS same_weights, a.vocabulary = b.vocabulary AS same_vocabulary
  FROM rnn.models a, rnn.models b WHERE a.name = 'pos_order_a' AND b.name = 'pos_order_b';

-- ---------------------------------------------------------------------------
-- A unidirectional tagger reads left to right only; in this grammar the
-- words before a token decide its tag, so it learns them too.
SET client_min_messages = warning;
SELECT version, validation_accuracy > (SELECT accuracy FROM baseline) AS beats_baseline
  FROM rnn.train_tagger('pos_uni', 'sentences', 'tokens', 'tags', bidirectional => false,
                        cell => 'gru', embedding_dim => 8, hidden_size => 16, epochs => 20,
                        learning_rate => 0.02, seed => 2);
RESET client_min_messages;

-- ---------------------------------------------------------------------------
-- Import: the weights with their vocabulary and tags are the same tagger.
SELECT rnn.import_model('pos_copy', weights, 'tagger',
         jsonb_build_object('vocabulary', vocabulary, 'labels', labels)) AS version
  FROM rnn.models WHERE name = 'pos';
SELECT bool_and(a.tag = b.tag AND a.probability = b.probability) AS same_tags
  FROM rnn.tag('pos', 'Ron saw the saw.') a JOIN rnn.tag('pos_copy', 'Ron saw the saw.') b USING (position);
SELECT rnn.import_model('bad', weights, 'tagger', jsonb_build_object('vocabulary', vocabulary, 'labels', labels[1:2]))
  FROM rnn.models WHERE name = 'pos';
:e
SELECT rnn.import_model('bad', weights, 'language_model', jsonb_build_object('vocabulary', vocabulary))
  FROM rnn.models WHERE name = 'pos';
:e
SELECT count(*) AS nothing_stored FROM rnn.models WHERE name = 'bad';

-- ---------------------------------------------------------------------------
-- Bad input: nothing is stored.
SET client_min_messages = warning;
CREATE TABLE lines AS SELECT array_to_string(tokens, ' ') AS body FROM sentences WHERE id <= 100;
SELECT version FROM rnn.train_language_model('pos_lm', 'lines', 'body', num_layers => 1,
       embedding_dim => 4, hidden_size => 8, epochs => 1);
SELECT count(*) AS models_before FROM rnn.models \gset
CREATE TABLE ragged (id int, tokens text[], tags text[]);
INSERT INTO ragged VALUES (1, '{a,b}', '{X,Y}'), (2, '{a,b,c}', '{X,Y}');
SELECT * FROM rnn.train_tagger('x', 'ragged', 'tokens', 'tags');
:e
TRUNCATE ragged;
INSERT INTO ragged VALUES (1, '{a,b}', '{X,Y}'), (2, ARRAY['a', NULL], '{X,Y}');
SELECT * FROM rnn.train_tagger('x', 'ragged', 'tokens', 'tags');
:e
TRUNCATE ragged;
INSERT INTO ragged VALUES (1, '{a,b}', '{X,Y}'), (2, '{a,b}', ARRAY['X', NULL]);
SELECT * FROM rnn.train_tagger('x', 'ragged', 'tokens', 'tags');
:e
TRUNCATE ragged;
INSERT INTO ragged VALUES (1, '{{a,b},{c,d}}', '{{X,Y},{X,Y}}');
SELECT * FROM rnn.train_tagger('x', 'ragged', 'tokens', 'tags');
:e
TRUNCATE ragged;
INSERT INTO ragged VALUES (1, '{a,b}', '{X,X}'), (2, '{c}', '{X}');
SELECT * FROM rnn.train_tagger('x', 'ragged', 'tokens', 'tags');
:e
TRUNCATE ragged;
INSERT INTO ragged VALUES (1, NULL, NULL), (2, '{}', '{}');
SELECT * FROM rnn.train_tagger('x', 'ragged', 'tokens', 'tags');
:e
SELECT * FROM rnn.train_tagger('x', 'ragged', 'id', 'tags');
:e
SELECT * FROM rnn.train_tagger('x', 'ragged', 'tokens', 'no_such_column');
:e
SELECT * FROM rnn.train_tagger('x', 'sentences', 'tokens', 'tags', max_length => 0);
:e
SELECT * FROM rnn.train_tagger('x', 'sentences', 'tokens', 'tags', word_dropout => 1);
:e
SELECT * FROM rnn.train_tagger('x', 'sentences', 'tokens', 'tags', hidden_size => 0);
:e
SELECT * FROM rnn.train_tagger('x', 'sentences', 'tokens', 'tags', cell => 'transformer');
:e
SELECT * FROM rnn.tag('pos', ARRAY['a', NULL]);
:e
SELECT * FROM rnn.tag('pos', '{{a,b},{c,d}}'::text[]);
:e
-- a tagger asked for a language model's job, and the other way round
SELECT rnn.generate('pos', 'Harry');
:e
SELECT rnn.perplexity('pos', 'Harry saw the owl.');
:e
SELECT * FROM rnn.tag('pos_lm', ARRAY['a']);
:e
SELECT rnn.sentiment('pos', 'a');
:e
SELECT * FROM rnn.tag('no_such_model', 'a');
:e
SELECT count(*) - :models_before AS models_added FROM rnn.models;
RESET client_min_messages;

SELECT rnn.drop_model('pos') + rnn.drop_model('pos_uni') + rnn.drop_model('pos_lm')
       + rnn.drop_model('pos_copy') + rnn.drop_model('pos_order_a')
       + rnn.drop_model('pos_order_b') AS dropped;
DROP TABLE sentences, sentences_shuffled, baseline, lines, ragged;
