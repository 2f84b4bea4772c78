-- Language models: train on a text column, generate, score how unusual a
-- text is.  The corpus is 400 generated lines of a tiny grammar, so a small
-- model learns it in seconds; only properties are printed (a loss below the
-- unigram baseline of the same corpus, perplexities ordered), never raw
-- floats, which vary with BLAS kernels.  Every bad input prints its
-- SQLSTATE and stores nothing.
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET extra_float_digits = 0;
SET rnn.blas_threads = 1;

CREATE TABLE lines (id int PRIMARY KEY, body text);
INSERT INTO lines
SELECT i, (ARRAY['the cat', 'a dog', 'the bird'])[1 + i % 3] || ' ' ||
          (ARRAY['sat on', 'ran to', 'looked at'])[1 + (i / 3) % 3] || ' ' ||
          (ARRAY['the mat.', 'a tree.', 'the door.', 'a box.'])[1 + (i / 9) % 4]
  FROM generate_series(1, 400) i;
-- NULL texts and texts without a token are skipped (and counted)
INSERT INTO lines VALUES (401, NULL), (402, '');
SELECT body FROM lines ORDER BY id LIMIT 3;

-- The unigram baseline: nats per character of a model that knows only the
-- character frequencies (plus the end of each line) of the same corpus.
CREATE TABLE unigram AS
WITH c AS (SELECT ch, count(*) AS n
             FROM (SELECT regexp_split_to_table(body, '') AS ch FROM lines WHERE body <> '') s
            GROUP BY ch
           UNION ALL SELECT '<end>', count(*) FROM lines WHERE body <> '')
SELECT -sum(n * ln(n::float8 / (SELECT sum(n) FROM c))) / sum(n) AS nats FROM c;

-- ---------------------------------------------------------------------------
-- Training.  Each epoch reports a NOTICE (hidden here: losses vary by BLAS).
SET client_min_messages = warning;
SELECT version, validation_loss < (SELECT nats FROM unigram) / 2 AS beats_unigram_by_half,
       abs(validation_perplexity - exp(validation_loss)) < 1e-9 AS perplexity_is_exp_loss,
       train_loss IS NOT NULL AS has_train_loss, epochs_run BETWEEN 1 AND 20 AS epochs_ok,
       best_epoch <= epochs_run AS best_ok, vocabulary_size,
       train_tokens + validation_tokens - 1 AS stream_tokens
  FROM rnn.train_language_model('lines_lm', 'lines', 'body',
                                num_layers => 1, embedding_dim => 16, hidden_size => 64,
                                epochs => 20, batch_size => 16, bptt => 32,
                                learning_rate => 0.01, seed => 1);
RESET client_min_messages;

-- What was stored: kind, the vocabulary (every character as it is: '.'
-- and ' ' are tokens), settings and metrics.
SELECT name, version, kind, cell, labels IS NULL AS no_labels,
       vocabulary[1:2] AS reserved, ' ' = ANY (vocabulary) AS has_space,
       hyperparams->>'tokens' AS tokens, hyperparams->>'bptt' AS bptt,
       metrics->'validation' ? 'perplexity' AS has_perplexity,
       (metrics->>'texts')::int AS texts, (metrics->>'skipped_rows')::int AS skipped
  FROM rnn.models WHERE name = 'lines_lm';
SELECT rnn.model_info('lines_lm')->>'kind' AS kind,
       rnn.model_config('lines_lm')->'architecture'->>'head' AS head;

-- ---------------------------------------------------------------------------
-- Generation: the prompt, then sampled characters; the same seed gives the
-- same text, top_k => 1 is greedy (the same for every seed).
SELECT starts_with(rnn.generate('lines_lm', 'the cat', seed => 1), 'the cat') AS keeps_prompt;
SELECT rnn.generate('lines_lm', 'a dog', max_tokens => 30, seed => 7)
     = rnn.generate('lines_lm', 'a dog', max_tokens => 30, seed => 7) AS same_seed_same_text;
SELECT count(DISTINCT rnn.generate('lines_lm', 'the ', max_tokens => 40, top_k => 1, seed => s))
       AS greedy_texts
  FROM generate_series(1, 5) s;
-- top_k => 3 at a temperature that makes the three nearly equally likely:
-- over 300 seeds the next character takes exactly 3 values, the greedy one among them
SELECT count(DISTINCT g) AS top3_next_chars,
       bool_or(g = right(rnn.generate('lines_lm', 'the ', max_tokens => 1, top_k => 1), 1)) AS greedy_among_them
  FROM (SELECT right(rnn.generate('lines_lm', 'the ', max_tokens => 1, top_k => 3, temperature => 100,
                                  seed => s), 1) AS g
          FROM generate_series(1, 300) s) t;
SELECT char_length(rnn.generate('lines_lm', 'the', max_tokens => 10, seed => 3)) <= 13 AS bounded,
       rnn.generate('lines_lm', 'xyz', max_tokens => 0) AS no_tokens;
-- a model that learned the grammar ends its line: sampled lines are lines of the corpus
SELECT count(*) FILTER (WHERE g IN (SELECT body FROM lines)) >= 8 AS mostly_corpus_lines
  FROM (SELECT rnn.generate('lines_lm', '', temperature => 0.5, seed => s) AS g
          FROM generate_series(1, 10) s) t;
SELECT rnn.generate(NULL, 'x') IS NULL AS null_model, rnn.generate('lines_lm', NULL) IS NULL AS null_prompt;

-- ---------------------------------------------------------------------------
-- Scoring: log-likelihood in nats, perplexity = exp(-ll / (characters + 1)).
SELECT rnn.log_likelihood('lines_lm', 'the cat sat on the mat.') < 0 AS negative,
       abs(rnn.perplexity('lines_lm', 'the cat sat on the mat.')
           - exp(-rnn.log_likelihood('lines_lm', 'the cat sat on the mat.') / 24)) < 1e-9 AS consistent,
       rnn.perplexity('lines_lm', 'the cat sat on the mat.')
         < rnn.perplexity('lines_lm', 'mat the on sat cat the.') AS word_order_matters,
       rnn.log_likelihood('lines_lm', '') < 0 AS empty_text_scores;
-- the odd lines of a table, found with ORDER BY (unknown characters are <unk>)
CREATE TABLE logs AS SELECT id, body FROM lines WHERE id <= 50;
INSERT INTO logs VALUES (51, 'ERROR: disk /dev/sda1 is full'), (52, 'the cat ran to a box.');
SELECT id, body FROM logs ORDER BY rnn.perplexity('lines_lm', body) DESC LIMIT 1;
SELECT count(*) FROM logs WHERE rnn.perplexity('lines_lm', body) IS NULL;

-- ---------------------------------------------------------------------------
-- A word model: lower-cased words and punctuation, generated with spaces.
SET client_min_messages = warning;
SELECT version, vocabulary_size, validation_loss < ln(vocabulary_size) AS beats_uniform
  FROM rnn.train_language_model('lines_words', 'lines', 'body', tokens => 'word',
                                num_layers => 1, embedding_dim => 8, hidden_size => 32,
                                epochs => 10, batch_size => 8, bptt => 16,
                                learning_rate => 0.01, seed => 2);
RESET client_min_messages;
SELECT vocabulary[3:6] IS NOT NULL AS has_words, 'cat' = ANY (vocabulary) AS cat, 'Cat' = ANY (vocabulary) AS upper
  FROM rnn.models WHERE name = 'lines_words';
SELECT rnn.generate('lines_words', 'The cat', max_tokens => 6, top_k => 1) ~ '^The cat( [a-z.]+)+$' AS words_with_spaces;

-- ---------------------------------------------------------------------------
-- Import: the weights with their vocabulary and hyperparams are the same
-- model; metadata that scoring would refuse is refused at import.
SELECT rnn.import_model('lines_copy', weights, 'language_model',
         jsonb_build_object('vocabulary', vocabulary, 'hyperparams', hyperparams)) AS version
  FROM rnn.models WHERE name = 'lines_lm';
SELECT rnn.log_likelihood('lines_copy', 'the cat sat on the mat.')
     = rnn.log_likelihood('lines_lm', 'the cat sat on the mat.') AS same_scores;
SELECT rnn.import_model('bad', weights, 'language_model',
         jsonb_build_object('vocabulary', vocabulary[1:5], 'hyperparams', hyperparams))
  FROM rnn.models WHERE name = 'lines_lm';
:e
SELECT rnn.import_model('bad', weights, 'language_model',
         jsonb_build_object('vocabulary', vocabulary, 'hyperparams', '{"tokens": "byte"}'::jsonb))
  FROM rnn.models WHERE name = 'lines_lm';
:e
SELECT rnn.import_model('bad', weights, 'tagger', jsonb_build_object('vocabulary', vocabulary))
  FROM rnn.models WHERE name = 'lines_lm';
:e
SELECT rnn.import_model('bad', weights, 'classifier') FROM rnn.models WHERE name = 'lines_lm';
:e
SELECT count(*) AS nothing_stored FROM rnn.models WHERE name = 'bad';

-- ---------------------------------------------------------------------------
-- Bad input: nothing is stored.
SET client_min_messages = warning;
CREATE TABLE labelled AS SELECT body, id % 2 = 0 AS positive FROM lines WHERE id <= 100;
SELECT version FROM rnn.train_classifier('lines_clf', 'labelled', 'body', 'positive',
       embedding_dim => 4, hidden_size => 4, epochs => 1);
SELECT count(*) AS models_before FROM rnn.models \gset
SELECT rnn.generate('lines_lm', 'a', max_tokens => -1);
:e
SELECT rnn.generate('lines_lm', 'a', max_tokens => 100001);
:e
SELECT rnn.generate('lines_lm', 'a', temperature => 0);
:e
SELECT rnn.generate('lines_lm', 'a', temperature => -1);
:e
SELECT rnn.generate('lines_lm', 'a', temperature => 'NaN');
:e
SELECT rnn.generate('lines_lm', 'a', temperature => 'Infinity');
:e
SELECT rnn.generate('lines_lm', 'a', top_k => -1);
:e
SELECT rnn.generate('no_such_model', 'a');
:e
SELECT rnn.perplexity('no_such_model', 'a');
:e
SELECT * FROM rnn.train_language_model('x', 'lines', 'body', tokens => 'byte');
:e
SELECT * FROM rnn.train_language_model('x', 'lines', 'body', bptt => 0);
:e
SELECT * FROM rnn.train_language_model('x', 'lines', 'body', vocab_size => 2);
:e
SELECT * FROM rnn.train_language_model('x', 'lines', 'body', validation_fraction => 0.95);
:e
SELECT * FROM rnn.train_language_model('x', 'lines', 'body', max_seconds => -1);
:e
SELECT * FROM rnn.train_language_model('x', 'lines', 'body', dropout => 1);
:e
SELECT * FROM rnn.train_language_model(NULL, 'lines', 'body');
:e
SELECT * FROM rnn.train_language_model('x', 'lines', 'no_column');
:e
SELECT * FROM rnn.train_language_model('x', 'lines', 'id');
:e
CREATE TABLE empty_lines (body text);
INSERT INTO empty_lines VALUES (NULL), ('');
SELECT * FROM rnn.train_language_model('x', 'empty_lines', 'body');
:e
-- spaces are characters, but no word
INSERT INTO empty_lines VALUES ('   ');
SELECT * FROM rnn.train_language_model('x', 'empty_lines', 'body', tokens => 'word');
:e
-- a classifier is not a language model, and a language model not a classifier
SELECT rnn.generate('lines_clf', 'a');
:e
SELECT rnn.perplexity('lines_clf', 'a');
:e
SELECT rnn.sentiment('lines_lm', 'a');
:e
SELECT count(*) - :models_before AS models_added FROM rnn.models;
RESET client_min_messages;

SELECT rnn.drop_model('lines_lm') + rnn.drop_model('lines_words') + rnn.drop_model('lines_clf')
       + rnn.drop_model('lines_copy') AS dropped;
DROP TABLE lines, unigram, logs, empty_lines, labelled;
