-- Pretrained word vectors from a table (src/pg/classify_embeddings.c):
-- rnn.train_classifier(..., embeddings => 'relation') starts the embedding
-- rows of the vocabulary's words from the relation's vectors, which set
-- embedding_dim; freeze_embeddings keeps them as they are.
\set SHOW_CONTEXT never
\set e '\\echo sqlstate :LAST_ERROR_SQLSTATE'
SET extra_float_digits = 0;
SET rnn.blas_threads = 1;

CREATE TABLE films AS
SELECT i, (ARRAY['the film was', 'this movie is', 'a story that is'])[1 + i % 3] || ' ' ||
          (ARRAY['good', 'bad', 'fun', 'dull'])[1 + (i / 3) % 4] AS body,
          (i / 3) % 2 = 0 AS positive
  FROM generate_series(1, 240) i;

-- A GloVe text file ("word v1 v2 ...", one word a line), loaded as the
-- README shows: COPY the lines, then split them.  Every word but 'dull' has
-- the vector (1, 0.5, -2, 0, 0.25, 4): float32 bytes 0000803f 0000003f
-- 000000c0 00000000 0000803e 00008040; 'unseen' is not in the vocabulary.
CREATE TABLE glove_raw (line text);
COPY glove_raw FROM PROGRAM
  'printf "the 1 0.5 -2 0 0.25 4\nfilm 1 0.5 -2 0 0.25 4\ngood 1 0.5 -2 0 0.25 4\nbad 1 0.5 -2 0 0.25 4\nunseen 1 0.5 -2 0 0.25 4\n"'
  WITH (FORMAT csv, DELIMITER E'\x01', QUOTE E'\x02');
CREATE TABLE glove_6d AS
SELECT split_part(line, ' ', 1) AS word,
       string_to_array(substr(line, strpos(line, ' ') + 1), ' ')::real[] AS vector
  FROM glove_raw;
SELECT word, vector FROM glove_6d ORDER BY word;

-- Frozen: two seeds, real training; the found words' rows are the vectors,
-- byte for byte, in both; the others differ (random start, different seeds).
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('frozen_a', 'films', 'body', 'positive', hidden_size => 4,
       epochs => 2, learning_rate => 0.01, seed => 1, embeddings => 'glove_6d', freeze_embeddings => true);
SELECT version FROM rnn.train_classifier('frozen_b', 'films', 'body', 'positive', hidden_size => 4,
       epochs => 2, learning_rate => 0.01, seed => 2, embeddings => 'glove_6d', freeze_embeddings => true);
SELECT version FROM rnn.train_classifier('tuned', 'films', 'body', 'positive', hidden_size => 4,
       epochs => 2, learning_rate => 0.01, seed => 1, embeddings => 'glove_6d');
RESET client_min_messages;
CREATE FUNCTION embedding_row(model text, word text) RETURNS bytea LANGUAGE sql AS $$
  SELECT substr(weights, 69 + (array_position(vocabulary, word) - 1) * 6 * 4, 6 * 4)
    FROM rnn.models WHERE name = model $$;
SELECT embedding_row('frozen_a', 'good') AS good_a,
       embedding_row('frozen_b', 'good') = embedding_row('frozen_a', 'good') AS good_b_same,
       embedding_row('frozen_b', 'dull') <> embedding_row('frozen_a', 'dull') AS dull_random,
       embedding_row('tuned', 'good') <> embedding_row('frozen_a', 'good') AS tuned_moved;
SELECT hyperparams->>'embeddings' AS embeddings, hyperparams->'freeze_embeddings' AS frozen,
       hyperparams->'embedding_dim' AS embedding_dim, metrics->'pretrained_words' AS pretrained_words
  FROM rnn.models WHERE name = 'frozen_a';
SELECT (rnn.model_config('frozen_a')->'tensors'->0) AS embedding_tensor;
SELECT avg(((rnn.sentiment('tuned', body) > 0.5) = positive)::int) > 0.9 AS tuned_ok FROM films;
-- float8[] vectors work the same
CREATE TABLE glove_f8 AS SELECT word, vector::float8[] AS vector FROM glove_6d;
SET client_min_messages = warning;
SELECT version FROM rnn.train_classifier('from_f8', 'films', 'body', 'positive', hidden_size => 4,
       epochs => 1, seed => 1, embeddings => 'glove_f8', freeze_embeddings => true);
RESET client_min_messages;
SELECT embedding_row('from_f8', 'good') = embedding_row('frozen_a', 'good') AS same_as_real;

-- ---------------------------------------------------------------------------
-- Bad input: each an error with its SQLSTATE, naming the word; nothing stored.
SELECT count(*) AS models_before FROM rnn.models \gset
CREATE TABLE no_vector AS SELECT word, vector AS vec FROM glove_6d;
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'no_vector');
:e
CREATE TABLE no_word AS SELECT word AS token, vector FROM glove_6d;
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'no_word');
:e
CREATE TABLE text_vector AS SELECT word, vector::text AS vector FROM glove_6d;
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'text_vector');
:e
CREATE TABLE null_vector AS SELECT * FROM glove_6d;
INSERT INTO null_vector VALUES ('fun', NULL);
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'null_vector');
:e
CREATE TABLE nan_vector AS SELECT * FROM glove_6d;
INSERT INTO nan_vector VALUES ('fun', '{1, NaN, 0, 0, 0, 0}');
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'nan_vector');
:e
CREATE TABLE inf_vector AS SELECT word, vector::float8[] AS vector FROM glove_6d;
INSERT INTO inf_vector VALUES ('fun', '{1, 1e300, 0, 0, 0, 0}');
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'inf_vector');
:e
CREATE TABLE mixed_dims AS SELECT * FROM glove_6d;
INSERT INTO mixed_dims VALUES ('fun', '{1, 2, 3}');
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'mixed_dims');
:e
CREATE TABLE null_element AS SELECT * FROM glove_6d;
INSERT INTO null_element VALUES ('fun', '{1, NULL, 0, 0, 0, 0}');
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'null_element');
:e
CREATE TABLE matrix_vector AS SELECT * FROM glove_6d;
INSERT INTO matrix_vector VALUES ('fun', '{{1, 2, 3}, {4, 5, 6}}');
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'matrix_vector');
:e
CREATE TABLE twice AS SELECT * FROM glove_6d UNION ALL SELECT 'good', '{0, 0, 0, 0, 0, 1}';
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'twice');
:e
CREATE TABLE null_word AS SELECT * FROM glove_6d UNION ALL SELECT NULL, '{0, 0, 0, 0, 0, 1}';
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'null_word');
:e
CREATE TABLE no_rows AS SELECT * FROM glove_6d WHERE false;
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'no_rows');
:e
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', freeze_embeddings => true);
:e
SELECT * FROM rnn.train_classifier('x', 'films', 'body', 'positive', embeddings => 'no_such_table');
:e
SELECT count(*) - :models_before AS models_added FROM rnn.models;

SELECT rnn.drop_model(name) FROM (VALUES ('frozen_a'), ('frozen_b'), ('tuned'), ('from_f8')) v(name);
DROP FUNCTION embedding_row(text, text);
DROP TABLE films, glove_raw, glove_6d, glove_f8, no_vector, no_word, text_vector, null_vector,
  nan_vector, inf_vector, mixed_dims, null_element, matrix_vector, twice, null_word, no_rows;
