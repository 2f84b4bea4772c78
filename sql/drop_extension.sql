-- The extension can be dropped and created again.  Dropping it drops the
-- models with it (export them first); the schema rnn stays, empty.
SELECT rnn.import_model('doomed', rnn.untrained_weights('{}'), 'forecaster') AS version;
DROP EXTENSION rnn_ext;
SELECT count(*) AS objects_left FROM pg_class WHERE relnamespace = 'rnn'::regnamespace;
CREATE EXTENSION rnn_ext;
SELECT count(*) AS models FROM rnn.models;
SELECT rnn.import_model('reborn', rnn.untrained_weights('{}'), 'forecaster') AS version;
SELECT name, latest_version FROM rnn.model_list;
DROP EXTENSION rnn_ext;
CREATE EXTENSION rnn_ext;
