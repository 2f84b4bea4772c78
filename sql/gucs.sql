-- Settings, under the reserved prefix rnn.  They exist once the library is
-- loaded: by the first rnn function a session calls, by LOAD, or for every
-- session with session_preload_libraries = 'rnn_ext'.
\set SHOW_CONTEXT never
LOAD 'rnn_ext';
SHOW rnn.blas_threads;
SHOW rnn.max_train_memory;
SHOW rnn.progress;

SELECT name, setting, unit, context, vartype, min_val, max_val
  FROM pg_settings WHERE name LIKE 'rnn.%' ORDER BY name;

SET rnn.blas_threads = 2;
SHOW rnn.blas_threads;
SET rnn.blas_threads = 0;
SET rnn.blas_threads = 1000;
RESET rnn.blas_threads;

SET rnn.max_train_memory = '64MB';
SHOW rnn.max_train_memory;
SET rnn.max_train_memory = '100kB';
SET rnn.max_train_memory = 'lots';

-- The memory cap says which knob to turn.
SET rnn.max_train_memory = '1MB';
SELECT length(rnn.untrained_weights('{"cell": "lstm", "hidden_size": 1024}'));
RESET rnn.max_train_memory;
SELECT length(rnn.untrained_weights('{"cell": "lstm", "hidden_size": 1024}')) > 16000000 AS fits;

-- rnn.progress = off silences the per-epoch NOTICEs of training.
SET rnn.progress = off;
SHOW rnn.progress;
SET rnn.progress = 'sometimes';
RESET rnn.progress;

-- rnn.isa pins the code path of the engine's kernels; auto (the default)
-- runs the best this CPU supports.  The output must not depend on the CPU:
-- generic is supported everywhere, the rest is checked as properties.
SHOW rnn.isa;
SELECT isa = cpu_supports[cardinality(cpu_supports)] AS best_path, setting,
       cpu_supports[1] = 'generic' AS has_generic FROM rnn.isa_info();
SET rnn.isa = 'generic';
SELECT isa, setting FROM rnn.isa_info();
RESET rnn.isa;
SELECT isa = cpu_supports[cardinality(cpu_supports)] AS best_again FROM rnn.isa_info();
-- Every path the CPU supports scores a text alike (to float rounding).
SELECT rnn.import_model('isa_gru', rnn.untrained_weights('{"cell": "gru", "bidirectional": true, "vocab_size": 6, "embedding_dim": 8, "hidden_size": 40, "output_size": 2, "head": "classifier", "pooling": "max"}', 7), 'classifier',
       '{"vocabulary": ["<pad>", "<unk>", "good", "bad", "film", "plot"], "labels": ["neg", "pos"], "hyperparams": {"tokens": "word", "max_tokens": 256, "cell": "gru", "bidirectional": true, "vocab_size": 6, "embedding_dim": 8, "hidden_size": 40, "output_size": 2, "head": "classifier", "pooling": "max"}}');
CREATE TEMP TABLE isa_scores (isa text, p float8);
DO $$
DECLARE
    path text;
BEGIN
    FOREACH path IN ARRAY (SELECT cpu_supports FROM rnn.isa_info()) LOOP
        PERFORM set_config('rnn.isa', path, true);
        INSERT INTO isa_scores
        SELECT isa, rnn.sentiment('isa_gru', 'good film , bad plot ; good good film') FROM rnn.isa_info();
    END LOOP;
END $$;
SELECT count(*) = (SELECT cardinality(cpu_supports) FROM rnn.isa_info()) AS every_path,
       count(DISTINCT isa) = count(*) AS each_its_own, max(p) - min(p) < 1e-6 AS agree,
       min(p) BETWEEN 0 AND 1 AS probability FROM isa_scores;
SELECT rnn.drop_model('isa_gru');
SET rnn.isa = 'sse2';
SET rnn.isa = '';

-- The prefix is reserved: typos are errors, not silent placeholders.
SET rnn.blas_thread = 2;
