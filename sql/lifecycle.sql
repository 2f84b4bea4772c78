-- Model lifecycle: versions per name, rnn.deploy_model pins the version
-- that lookups without a version use (scoring, model_config, model_info,
-- export_model), rnn.undeploy_model goes back to "the latest".
\set SHOW_CONTEXT never
SET client_min_messages = warning;   -- hide the per-epoch NOTICEs
SET rnn.blas_threads = 1;

CREATE TABLE lc_series AS
SELECT timestamp '2024-01-01' + make_interval(hours => i) AS ts,
       10 + 2 * sin(i * 2 * pi() / 24) + (i * 7919 % 100) / 100.0 AS v
FROM generate_series(0, 199) i;

-- Two versions with different architectures (hidden 4, then 8).
SELECT version FROM rnn.train_forecaster('lc', 'lc_series', 'ts', 'v', cell => 'gru',
       hidden_size => 4, window_size => 24, horizon => 3, epochs => 2, linear_skip => false);
CREATE TABLE lc_v1 AS SELECT step, value FROM rnn.forecast('lc');
SELECT version FROM rnn.train_forecaster('lc', 'lc_series', 'ts', 'v', cell => 'gru',
       hidden_size => 8, window_size => 24, horizon => 3, epochs => 2, linear_skip => false);

-- Without a deployment a name means its latest version.
SELECT name, latest_version, deployed_version, versions FROM rnn.model_list;
SELECT rnn.model_config('lc') #> '{architecture,hidden_size}' AS hidden;
SELECT count(*) AS same_as_v1 FROM rnn.forecast('lc') f JOIN lc_v1 USING (step)
 WHERE f.value = lc_v1.value;

-- Deploy version 1: scoring, model_config and model_info use it.
SELECT rnn.deploy_model('lc', 1) AS deployed;
SELECT name, latest_version, deployed_version, versions FROM rnn.model_list;
SELECT rnn.model_config('lc') #> '{architecture,hidden_size}' AS hidden;
SELECT count(*) AS same_as_v1 FROM rnn.forecast('lc') f JOIN lc_v1 USING (step)
 WHERE f.value = lc_v1.value;
SELECT rnn.model_info('lc') -> 'version' AS version,
       rnn.model_info('lc') -> 'deployed' AS deployed,
       rnn.model_info('lc', 2) -> 'deployed' AS v2_deployed,
       rnn.model_info('lc', 2) -> 'deployed_version' AS deployed_version;
SELECT rnn.export_model('lc') = rnn.export_model('lc', 1) AS exports_v1;
-- An explicit version still reaches any version.
SELECT rnn.model_config('lc', 2) #> '{architecture,hidden_size}' AS hidden_v2;

-- A new training adds version 3 but does not change the deployed version.
SELECT version FROM rnn.train_forecaster('lc', 'lc_series', 'ts', 'v', cell => 'gru',
       hidden_size => 6, window_size => 24, horizon => 3, epochs => 2, linear_skip => false);
SELECT name, latest_version, deployed_version, versions FROM rnn.model_list;
SELECT rnn.model_config('lc') #> '{architecture,hidden_size}' AS hidden;
SELECT count(*) AS same_as_v1 FROM rnn.forecast('lc') f JOIN lc_v1 USING (step)
 WHERE f.value = lc_v1.value;

-- Roll forward to 2, deploy the latest (version NULL), then undeploy.
SELECT rnn.deploy_model('lc', 2) AS deployed;
SELECT rnn.model_config('lc') #> '{architecture,hidden_size}' AS hidden;
SELECT rnn.deploy_model('lc') AS deployed;
SELECT version, deployed FROM rnn.models WHERE name = 'lc' ORDER BY version;
SELECT rnn.deploy_model('lc', 1) AS deployed;
SELECT version, deployed FROM rnn.models WHERE name = 'lc' ORDER BY version;
SELECT rnn.undeploy_model('lc') AS now_latest;
SELECT name, latest_version, deployed_version FROM rnn.model_list;
SELECT rnn.model_config('lc') #> '{architecture,hidden_size}' AS hidden;
SELECT rnn.undeploy_model('lc') AS now_latest;   -- nothing deployed: a no-op

-- Dropping the deployed version falls back to the latest.
SELECT rnn.deploy_model('lc', 2) AS deployed;
SELECT rnn.drop_model('lc', 2) AS dropped;
SELECT name, latest_version, deployed_version, versions FROM rnn.model_list;
SELECT rnn.model_info('lc') -> 'version' AS version;

-- Errors.
SELECT rnn.deploy_model('lc', 7);
SELECT rnn.deploy_model('no_such_model', 1);
SELECT rnn.deploy_model('no_such_model');
SELECT rnn.undeploy_model('no_such_model');
SELECT rnn.deploy_model(NULL, 1);
-- Two deployed versions of one name cannot exist.
UPDATE rnn.models SET deployed = true WHERE name = 'lc';

-- Only the owner (or a superuser) deploys.
CREATE ROLE regress_rnn_lc_alice;
CREATE ROLE regress_rnn_lc_bob;
SET ROLE regress_rnn_lc_alice;
SELECT rnn.import_model('alice_lc', rnn.untrained_weights('{"hidden_size": 4}', 1), 'forecaster') AS version;
SELECT rnn.import_model('alice_lc', rnn.untrained_weights('{"hidden_size": 5}', 2), 'forecaster') AS version;
SELECT rnn.deploy_model('alice_lc', 1) AS deployed;
SET ROLE regress_rnn_lc_bob;
-- bob cannot see alice's model,
SELECT rnn.deploy_model('alice_lc', 2);
SELECT rnn.undeploy_model('alice_lc');
SET ROLE regress_rnn_lc_alice;
SELECT rnn.grant_model('alice_lc', 'regress_rnn_lc_bob') AS shared;
SET ROLE regress_rnn_lc_bob;
-- and once shared he scores the deployed version but cannot change it.
SELECT rnn.model_config('alice_lc') #> '{architecture,hidden_size}' AS hidden;
SELECT rnn.deploy_model('alice_lc', 2);
SELECT rnn.undeploy_model('alice_lc');
SELECT name, latest_version, deployed_version FROM rnn.model_list WHERE name = 'alice_lc';
RESET ROLE;
-- A superuser can.
SELECT rnn.deploy_model('alice_lc', 2) AS deployed;
SELECT name, latest_version, deployed_version, owner FROM rnn.model_list WHERE name = 'alice_lc';

SELECT rnn.drop_model('alice_lc') AS dropped;
SELECT rnn.drop_model('lc') AS dropped;
DROP TABLE lc_series, lc_v1;
DROP ROLE regress_rnn_lc_alice;
DROP ROLE regress_rnn_lc_bob;
