-- The model store: weights in, weights out, and what a model is.
\set SHOW_CONTEXT never

-- A fresh, untrained model from a configuration (seeded: same seed, same bytes).
SELECT length(rnn.untrained_weights('{"cell": "lstm", "hidden_size": 8}')) AS bytes;
SELECT rnn.untrained_weights('{"cell": "gru"}', 42) = rnn.untrained_weights('{"cell": "gru"}', 42) AS same_seed_same_bytes;
SELECT rnn.untrained_weights('{"cell": "gru"}', 1) = rnn.untrained_weights('{"cell": "gru"}', 2) AS other_seed_same_bytes;

-- What a blob holds: architecture, parameter count, tensor names and shapes
-- (PyTorch state_dict names, so trained PyTorch weights can be copied in).
SELECT jsonb_pretty(rnn.weights_info(rnn.untrained_weights('{"cell": "lstm", "hidden_size": 8}')));
SELECT rnn.weights_info(rnn.untrained_weights(
         '{"cell": "gru", "vocab_size": 100, "embedding_dim": 16, "hidden_size": 12,
           "bidirectional": true, "num_layers": 2, "head": "classifier",
           "output_size": 2, "pooling": "max", "dropout": 0.5}')) -> 'architecture' AS architecture;

-- Bad configurations name the key.
SELECT rnn.untrained_weights('{"cell": "transformer"}');
SELECT rnn.untrained_weights('{"hidden": 8}');
SELECT rnn.untrained_weights('{"hidden_size": "big"}');
SELECT rnn.untrained_weights('{"hidden_size": 0}');
SELECT rnn.untrained_weights('{"head": "classifier", "output_size": 1}');
SELECT rnn.untrained_weights('[1, 2]');

-- Importing stores a new version owned by the current role.
SELECT rnn.import_model('temp_lstm', rnn.untrained_weights('{"cell": "lstm", "hidden_size": 8}', 1),
                        'forecaster',
                        '{"hyperparams": {"window_size": 24, "time_column": "ts", "value_column": "temp"},
                          "metrics": {"mse": 0.25},
                          "normalization": {"series": ["s1"], "mean": [10.5], "std": [2.0]},
                          "loss_curve": [0.9, 0.5, 0.3], "source_relation": "readings",
                          "source_rows": 1000}') AS version;
SELECT rnn.import_model('temp_lstm', rnn.untrained_weights('{"cell": "lstm", "hidden_size": 8}', 2),
                        'forecaster') AS version;
SELECT rnn.import_model('mood_gru', rnn.untrained_weights(
         '{"cell": "gru", "vocab_size": 5, "embedding_dim": 4, "hidden_size": 6,
           "head": "classifier", "output_size": 2}'),
       'classifier', '{"labels": ["negative", "positive"],
                       "vocabulary": ["<pad>", "<unk>", "good", "bad", "film"]}') AS version;

SELECT name, version, kind, cell, owner = current_user AS mine, labels, vocabulary,
       source_relation, source_rows
  FROM rnn.models ORDER BY name, version;

-- Export returns the stored bytes, byte for byte: import(export(x)) round-trips.
SELECT rnn.export_model('temp_lstm', 1) = rnn.untrained_weights('{"cell": "lstm", "hidden_size": 8}', 1) AS exported_as_imported;
SELECT rnn.export_model('temp_lstm') = rnn.export_model('temp_lstm', 2) AS latest_is_version_2;
SELECT rnn.import_model('temp_copy', rnn.export_model('temp_lstm', 1), 'forecaster') AS version;
SELECT md5(rnn.export_model('temp_copy')) = md5(rnn.export_model('temp_lstm', 1)) AS round_trip;
SELECT rnn.export_model('no_such_model');
SELECT rnn.export_model('temp_lstm', 9);

-- Import checks what it stores.
SELECT rnn.import_model('bad', rnn.untrained_weights('{}'), 'classifier');
SELECT rnn.import_model('bad', rnn.untrained_weights('{}'), 'regressor');
SELECT rnn.import_model('bad', rnn.untrained_weights('{}'), 'forecaster', '{"color": "red"}');
SELECT rnn.import_model('bad', rnn.untrained_weights('{"head": "classifier", "output_size": 3}'),
                        'classifier', '{"labels": ["a", "b"]}');
-- metadata is checked as scoring would check it (nothing of it is stored)
SELECT rnn.import_model('bad', rnn.untrained_weights('{}'), 'forecaster', '{"normalization": 42}');
SELECT rnn.import_model('bad', rnn.untrained_weights('{}'), 'forecaster', '{"hyperparams": [1, 2]}');
SELECT rnn.import_model('bad', rnn.untrained_weights('{}'), 'forecaster',
                        '{"hyperparams": {"window_size": 24}}');
SELECT rnn.import_model('bad', rnn.untrained_weights('{}'), 'forecaster',
                        '{"hyperparams": {"window_size": 24, "time_column": "ts", "value_column": "v"},
                          "normalization": {"series": ["a", "b"], "mean": [1], "std": [1]}}');
SELECT rnn.import_model('bad', rnn.untrained_weights('{"head": "classifier", "output_size": 2,
                        "vocab_size": 4, "embedding_dim": 2}'), 'classifier', '{"labels": ["a", "b"]}');
SELECT rnn.import_model('bad', rnn.untrained_weights('{"head": "classifier", "output_size": 2,
                        "vocab_size": 4, "embedding_dim": 2}'), 'classifier',
                        '{"labels": ["a", "b"], "vocabulary": ["<pad>", "<unk>", "x"]}');
SELECT rnn.import_model('bad', rnn.untrained_weights('{}'), 'language_model');
SELECT rnn.import_model('', rnn.untrained_weights('{}'), 'forecaster');
SELECT rnn.import_model(NULL, rnn.untrained_weights('{}'), 'forecaster');
SELECT count(*) AS nothing_stored FROM rnn.models WHERE name IN ('bad', '');

-- Everything about a model (created_at varies, so it is checked, not shown).
SELECT jsonb_pretty(rnn.model_info('temp_lstm', 1) - 'created_at' - 'owner');
SELECT rnn.model_info('temp_lstm') ->> 'version' AS latest,
       rnn.model_info('temp_lstm') -> 'versions' AS versions,
       (rnn.model_info('temp_lstm') ->> 'created_at')::timestamptz <= now() AS created_at_ok;
SELECT jsonb_pretty(rnn.model_info('mood_gru') - 'created_at' - 'owner' - 'architecture');
SELECT rnn.model_info('no_such_model');
SELECT rnn.model_info('temp_lstm', 7);
SELECT rnn.model_info(NULL) IS NULL AS null_name;

-- The listing: one row per model, its latest version.
SELECT name, latest_version, versions, kind, cell, owner = current_user AS mine,
       created_at <= now() AS created_ok, parameters, weights_bytes
  FROM rnn.model_list ORDER BY name;

-- Dropping one version, then all of them.
SELECT rnn.drop_model('temp_lstm', 1) AS dropped;
SELECT name, latest_version, versions FROM rnn.model_list WHERE name = 'temp_lstm';
SELECT rnn.drop_model('temp_lstm', 1);
SELECT rnn.import_model('temp_lstm', rnn.export_model('temp_copy'), 'forecaster') AS next_version;
SELECT rnn.drop_model('temp_lstm') AS dropped;
SELECT rnn.drop_model('temp_lstm');
SELECT rnn.drop_model('no_such_model');
SELECT rnn.drop_model(NULL);
SELECT rnn.drop_model('temp_copy') + rnn.drop_model('mood_gru') AS dropped;
SELECT count(*) AS models_left FROM rnn.models;
