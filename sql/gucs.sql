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

-- The prefix is reserved: typos are errors, not silent placeholders.
SET rnn.blas_thread = 2;
