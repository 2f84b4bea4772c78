-- Models belong to the role that stored them.  Other roles can read and
-- score a model only once its owner shares it (rnn.grant_model); only its
-- owner (or a superuser) can add versions, share, change or drop it.
\set SHOW_CONTEXT never
CREATE ROLE regress_rnn_alice;
CREATE ROLE regress_rnn_bob;

SET ROLE regress_rnn_alice;
SELECT rnn.import_model('alice_model', rnn.untrained_weights('{"hidden_size": 4}', 1), 'forecaster') AS version;
SELECT rnn.import_model('alice_model', rnn.untrained_weights('{"hidden_size": 4}', 2), 'forecaster') AS version;

SET ROLE regress_rnn_bob;
-- bob cannot see alice's model, let alone score it ...
SELECT name, latest_version, owner FROM rnn.model_list;
SELECT rnn.export_model('alice_model');
-- ... nor share it himself,
SELECT rnn.grant_model('alice_model', 'regress_rnn_bob');

-- until alice shares it with him.
SET ROLE regress_rnn_alice;
SELECT rnn.grant_model('alice_model', 'regress_rnn_bob') AS versions_shared;
SELECT rnn.grant_model('alice_model', 'no_such_role');

SET ROLE regress_rnn_bob;
SELECT name, latest_version, owner, readers FROM rnn.model_list;
SELECT length(rnn.export_model('alice_model')) > 0 AS bob_can_export;
-- Reading is all he gets: he cannot add a version under its name,
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

-- alice can change and drop her own; a new version is shared like the last.
SET ROLE regress_rnn_alice;
UPDATE rnn.models SET metrics = '{"mse": 0.1}' WHERE name = 'alice_model' AND version = 2;
SELECT rnn.drop_model('alice_model', 1) AS dropped;
SELECT rnn.import_model('alice_model', rnn.untrained_weights('{"hidden_size": 4}', 6), 'forecaster') AS version;
SELECT version, readers FROM rnn.models WHERE name = 'alice_model' ORDER BY version;
-- and take the sharing back.
SELECT rnn.revoke_model('alice_model', 'regress_rnn_bob') AS versions_unshared;
SET ROLE regress_rnn_bob;
SELECT count(*) AS alice_models_bob_sees FROM rnn.models WHERE name = 'alice_model';
-- 'public' shares with every role.
SET ROLE regress_rnn_alice;
SELECT rnn.grant_model('alice_model', 'public') AS versions_shared;
SET ROLE regress_rnn_bob;
SELECT count(*) AS alice_models_bob_sees FROM rnn.models WHERE name = 'alice_model';
RESET ROLE;

-- A superuser can do anything; a version a superuser adds stays with the
-- model's owner.
SELECT rnn.import_model('alice_model', rnn.untrained_weights('{"hidden_size": 4}', 5), 'forecaster') AS version;
SELECT name, version, owner, metrics FROM rnn.models ORDER BY name, version;
SELECT rnn.drop_model('alice_model') AS dropped;
SELECT rnn.drop_model('bob_model') AS dropped;

DROP ROLE regress_rnn_alice;
DROP ROLE regress_rnn_bob;
