-- Models belong to the role that stored them.  Every role can read every
-- model; only its owner (or a superuser) can add versions, change or drop it.
\set SHOW_CONTEXT never
CREATE ROLE regress_rnn_alice;
CREATE ROLE regress_rnn_bob;

SET ROLE regress_rnn_alice;
SELECT rnn.import_model('alice_model', rnn.untrained_weights('{"hidden_size": 4}', 1), 'forecaster') AS version;
SELECT rnn.import_model('alice_model', rnn.untrained_weights('{"hidden_size": 4}', 2), 'forecaster') AS version;

SET ROLE regress_rnn_bob;
-- bob can read alice's model ...
SELECT name, latest_version, owner FROM rnn.model_list;
SELECT length(rnn.export_model('alice_model')) > 0 AS bob_can_export;
-- ... but not add a version under its name,
SELECT rnn.import_model('alice_model', rnn.untrained_weights('{"hidden_size": 4}', 3), 'forecaster');
-- nor drop it,
SELECT rnn.drop_model('alice_model');
SELECT rnn.drop_model('alice_model', 1);
-- nor change or delete it behind the functions' back (row-level security
-- hides her rows from his UPDATE and DELETE: they change nothing),
UPDATE rnn.models SET metrics = '{"mse": 0}' WHERE name = 'alice_model';
DELETE FROM rnn.models WHERE name = 'alice_model';
-- nor store a model in alice's name.
INSERT INTO rnn.models (name, version, kind, owner, weights)
VALUES ('fake', 1, 'forecaster', 'regress_rnn_alice', rnn.untrained_weights('{}'));
-- bob's own models are his.
SELECT rnn.import_model('bob_model', rnn.untrained_weights('{"hidden_size": 4}', 4), 'forecaster') AS version;
-- and he cannot rename his model onto alice's name.
UPDATE rnn.models SET name = 'alice_model' WHERE name = 'bob_model';
RESET ROLE;

-- alice's versions are untouched.
SELECT name, version, owner, metrics FROM rnn.models ORDER BY name, version;

-- alice can change and drop her own.
SET ROLE regress_rnn_alice;
UPDATE rnn.models SET metrics = '{"mse": 0.1}' WHERE name = 'alice_model' AND version = 2;
SELECT rnn.drop_model('alice_model', 1) AS dropped;
RESET ROLE;

-- A superuser can do anything; a version a superuser adds stays with the
-- model's owner.
SELECT rnn.import_model('alice_model', rnn.untrained_weights('{"hidden_size": 4}', 5), 'forecaster') AS version;
SELECT name, version, owner, metrics FROM rnn.models ORDER BY name, version;
SELECT rnn.drop_model('alice_model') AS dropped;
SELECT rnn.drop_model('bob_model') AS dropped;

DROP ROLE regress_rnn_alice;
DROP ROLE regress_rnn_bob;
