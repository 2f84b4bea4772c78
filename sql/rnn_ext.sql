-- rnn_ext: the model store and the functions on model weights.
--
-- The one source of the install script: the Makefile copies it to
-- sql/rnn_ext--$(EXTVERSION).sql.  Every change here that an existing
-- database must see goes into the upgrade script of this version too
-- (sql/rnn_ext--OLD--NEW.sql); test/pq/upgrade.sh checks that an updated
-- database and a fresh one have the same schema.

\echo Use "CREATE EXTENSION rnn_ext" to load this file. \quit

GRANT USAGE ON SCHEMA rnn TO PUBLIC;

-- ---------------------------------------------------------------------------
-- The model store
-- ---------------------------------------------------------------------------

CREATE TABLE rnn.models (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (name <> ''),
    version         int NOT NULL CHECK (version >= 1),
    kind            text NOT NULL CHECK (kind IN ('forecaster', 'classifier', 'language_model', 'tagger')),
    cell            text,
    hyperparams     jsonb,
    vocabulary      text[],
    normalization   jsonb,
    labels          text[],
    metrics         jsonb,
    loss_curve      jsonb,
    owner           name NOT NULL DEFAULT current_user,
    readers         name[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    source_relation text,
    source_rows     bigint,
    weights         bytea NOT NULL,
    deployed        boolean NOT NULL DEFAULT false,
    UNIQUE (name, version)
);

-- At most one deployed version per name: the one scoring uses when no
-- version is given (rnn.deploy_model); without one, the latest version.
CREATE UNIQUE INDEX models_deployed ON rnn.models (name) WHERE deployed;

COMMENT ON TABLE rnn.models IS
'Trained models, one row per version: architecture and training settings, '
'vocabulary, normalization, labels, metrics, owner and the weights blob. '
'deployed marks the version a name resolves to when no version is given '
'(rnn.deploy_model); without one, the latest. '
'Dumped by pg_dump with the rest of the database.';

-- pg_dump carries user models (and the identity sequence) with the data.
SELECT pg_catalog.pg_extension_config_dump('rnn.models', '');
SELECT pg_catalog.pg_extension_config_dump('rnn.models_id_seq', '');

-- Ownership and sharing.  A model name belongs to the role that stored its
-- first version.  Row-level security lets a role read (and so score) a
-- model it owns, one whose owner is a role it is a member of, or one whose
-- owner shared it with rnn.grant_model (readers holds the role names, or
-- 'public'); it may insert, update and delete only rows it owns.  A
-- superuser bypasses row-level security.  The trigger below keeps a name
-- with one owner and carries readers over to new versions; it must see rows
-- the caller cannot, so it is SECURITY DEFINER.
ALTER TABLE rnn.models ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION rnn.can_read_model(model_owner name, readers name[]) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT model_owner = current_user
        OR 'public' = ANY (readers)
        OR EXISTS (SELECT 1 FROM pg_roles r
                    WHERE (r.rolname = model_owner OR r.rolname = ANY (readers))
                      AND pg_has_role(current_user, r.oid, 'MEMBER'))
$$;

COMMENT ON FUNCTION rnn.can_read_model(name, name[]) IS
'Row-level security on rnn.models: true when the current role owns the model, is a member '
'of its owner, or is (a member of) a role the owner shared it with.';

CREATE POLICY models_read ON rnn.models FOR SELECT
    USING (rnn.can_read_model(owner, readers));
CREATE POLICY models_insert ON rnn.models FOR INSERT
    WITH CHECK (owner = current_user);
CREATE POLICY models_update ON rnn.models FOR UPDATE
    USING (owner = current_user) WITH CHECK (owner = current_user);
CREATE POLICY models_delete ON rnn.models FOR DELETE
    USING (owner = current_user);

-- Training functions run with the caller's rights and insert directly.
GRANT SELECT, INSERT, UPDATE, DELETE ON rnn.models TO PUBLIC;

-- The owner and readers of the latest other version of a name, seen past
-- row-level security (the trigger below runs with the caller's rights, and
-- a name's owner must be found even when the caller cannot read its rows).
CREATE FUNCTION rnn.model_name_owner(model_name text, except_id bigint,
                                     OUT owner name, OUT readers name[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT m.owner, m.readers FROM rnn.models m
     WHERE m.name = model_name AND m.id IS DISTINCT FROM except_id
     ORDER BY m.version DESC LIMIT 1
$$;

COMMENT ON FUNCTION rnn.model_name_owner(text, bigint) IS
'Owner and readers of the latest version of a model name (other than row except_id), '
'for the ownership trigger; reveals no weights or metadata.';

CREATE FUNCTION rnn.models_check_owner() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    prev record;
BEGIN
    SELECT * INTO prev FROM rnn.model_name_owner(NEW.name, NEW.id);
    -- a new version is shared like the version before it
    IF TG_OP = 'INSERT' AND NEW.readers = '{}' AND prev.readers IS NOT NULL THEN
        NEW.readers := prev.readers;
    END IF;
    IF prev.owner IS NOT NULL AND prev.owner <> NEW.owner THEN
        -- a superuser's new version stays with the model's owner
        IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
           AND NEW.owner = current_user THEN
            NEW.owner := prev.owner;
        ELSE
            RAISE EXCEPTION 'model "%" belongs to role "%"', NEW.name, prev.owner
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Role "%s" cannot add versions to another role''s model.',
                                      NEW.owner),
                      HINT = 'Choose another model name, or ask its owner or a superuser.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION rnn.models_check_owner() IS
'Trigger on rnn.models: refuses a version under a name owned by another role, and gives a '
'new version the readers of the versions before it.';

CREATE TRIGGER models_check_owner
    BEFORE INSERT OR UPDATE OF name, owner ON rnn.models
    FOR EACH ROW EXECUTE FUNCTION rnn.models_check_owner();

-- ---------------------------------------------------------------------------
-- Weights
-- ---------------------------------------------------------------------------

CREATE FUNCTION rnn.untrained_weights(config jsonb, seed bigint DEFAULT 0)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rnn_untrained_weights'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION rnn.untrained_weights(jsonb, bigint) IS
'Weights of a freshly initialised model (PyTorch default initialisation, '
'seeded), e.g. ''{"cell": "gru", "hidden_size": 16}''. Keys: cell, '
'num_layers, bidirectional, input_size, vocab_size, embedding_dim, '
'hidden_size, output_size, head, pooling, skip_size, dropout.';

CREATE FUNCTION rnn.weights_info(weights bytea)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'rnn_weights_info'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION rnn.weights_info(bytea) IS
'Checks a weights blob and describes it: format version, parameter count, '
'architecture and the name and shape of every tensor.';

CREATE FUNCTION rnn.model_config(name text, version int DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'rnn_model_config'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION rnn.model_config(text, int) IS
'rnn.weights_info of a stored model (the deployed version, else the latest, when version is NULL), '
'decoded once per backend through the model cache.';

CREATE FUNCTION rnn.import_model(name text, weights bytea, kind text,
                                 info jsonb DEFAULT '{}')
RETURNS int
AS 'MODULE_PATHNAME', 'rnn_import_model'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION rnn.import_model(text, bytea, text, jsonb) IS
'Checks a weights blob and stores it as the next version of a model owned '
'by the current role; kind is forecaster, classifier, language_model or tagger '
'and must match the weights'' head. info may hold hyperparams, vocabulary, '
'normalization, labels, metrics, loss_curve, source_relation and source_rows; '
'when it holds scoring metadata (hyperparams, normalization, vocabulary, labels) '
'that is checked as scoring checks it, and nothing is stored on an error. '
'Returns the new version.';

CREATE FUNCTION rnn.model_cache_stats(OUT models int, OUT bytes bigint,
                                      OUT calls bigint, OUT lookups bigint,
                                      OUT decodes bigint)
AS 'MODULE_PATHNAME', 'rnn_model_cache_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION rnn.model_cache_stats() IS
'This backend''s model cache: models held, their memory, model uses, '
'lookups by name and weight decodes (cache misses).';

CREATE FUNCTION rnn.isa_info(OUT isa text, OUT setting text, OUT cpu_supports text[],
                             OUT blas_core text)
AS 'MODULE_PATHNAME', 'rnn_isa_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION rnn.isa_info() IS
'The code path this backend''s engine kernels run (generic, avx2 or avx512), '
'the rnn.isa setting that chose it, the paths this CPU supports, and the kernels '
'OpenBLAS runs for the large matrix products (rnn_ext corrects a fallback below the CPU).';

-- ---------------------------------------------------------------------------
-- Managing models
-- ---------------------------------------------------------------------------

CREATE VIEW rnn.model_list WITH (security_invoker = true) AS
SELECT DISTINCT ON (m.name)
       m.name,
       m.version AS latest_version,
       (SELECT v.version FROM rnn.models v WHERE v.name = m.name AND v.deployed) AS deployed_version,
       (SELECT count(*) FROM rnn.models v WHERE v.name = m.name) AS versions,
       m.kind,
       m.cell,
       m.owner,
       m.readers,
       m.created_at,
       (rnn.weights_info(m.weights) ->> 'parameters')::bigint AS parameters,
       octet_length(m.weights)::bigint AS weights_bytes
  FROM rnn.models m
 ORDER BY m.name, m.version DESC;

COMMENT ON VIEW rnn.model_list IS
'One row per model name you can read: its latest version, the version deployed with '
'rnn.deploy_model (NULL: scoring uses the latest), number of versions, kind, '
'cell, owner, the roles it is shared with, creation time, parameter count and weights '
'size in bytes.';

GRANT SELECT ON rnn.model_list TO PUBLIC;

-- The error every PL/pgSQL function below raises for a model name, or a
-- version of one, that the caller cannot find in rnn.models: the same
-- SQLSTATE (42704 undefined_object), message and hint as the C functions
-- (rnn_lookup_model in src/pg/model_store.c), so rnn.model_info('x') and
-- rnn.model_config('x') fail alike.  A name that cannot be a model name
-- (empty, or more than 200 characters: rnn_check_model_name) gets the C
-- side's 22023 with its length instead of being echoed back, so a 100 MB
-- argument does not come back as a 100 MB message.  It reads nothing and
-- only raises; the callers run with the caller's rights, so every role
-- that may call them must be able to execute it (the default EXECUTE to
-- PUBLIC stays).
CREATE FUNCTION rnn._raise_model_not_found(model_name text, model_version int DEFAULT NULL)
RETURNS void
-- VOLATILE, not IMMUTABLE: the planner folds immutable calls with constant
-- arguments, even in a CASE branch that would never run, and this one raises
LANGUAGE plpgsql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF model_name IS NULL THEN
        RAISE EXCEPTION 'model name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    ELSIF model_name = '' THEN
        RAISE EXCEPTION 'model name must be 1 to 200 characters long'
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF char_length(model_name) > 200 THEN
        RAISE EXCEPTION 'model name must be 1 to 200 characters long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The name given is ' || char_length(model_name) || ' characters long.';
    ELSIF model_version IS NULL THEN
        RAISE EXCEPTION 'model "%" does not exist', model_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT name FROM rnn.model_list lists the stored models.';
    ELSE
        RAISE EXCEPTION 'model "%" version % does not exist', model_name, model_version
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT version FROM rnn.models WHERE name = ' || quote_literal(model_name)
                         || ' lists its versions.';
    END IF;
END
$$;

COMMENT ON FUNCTION rnn._raise_model_not_found(text, int) IS
'Internal: raises the "model does not exist" error of the model functions (SQLSTATE 42704, '
'as the C functions raise it), or 22023 for a name of more than 200 characters, which is not '
'echoed back. Always raises.';

CREATE FUNCTION rnn.model_info(name text, version int DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m rnn.models;
    arch jsonb;
BEGIN
    IF model_info.name IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO m FROM rnn.models r
     WHERE r.name = model_info.name
       AND (model_info.version IS NULL OR r.version = model_info.version)
     ORDER BY r.deployed DESC, r.version DESC LIMIT 1;
    IF NOT FOUND THEN
        PERFORM rnn._raise_model_not_found(model_info.name, model_info.version);
    END IF;
    arch := rnn.model_config(m.name, m.version);
    RETURN jsonb_build_object(
        'name', m.name,
        'version', m.version,
        'versions', (SELECT jsonb_agg(r.version ORDER BY r.version)
                       FROM rnn.models r WHERE r.name = m.name),
        'deployed', m.deployed,
        'deployed_version', (SELECT r.version FROM rnn.models r
                              WHERE r.name = m.name AND r.deployed),
        'kind', m.kind,
        'cell', m.cell,
        'owner', m.owner,
        'created_at', m.created_at,
        'architecture', arch -> 'architecture',
        'parameters', arch -> 'parameters',
        'weights_bytes', octet_length(m.weights),
        'format_version', arch -> 'format_version',
        'hyperparams', m.hyperparams,
        'vocabulary_size', cardinality(m.vocabulary),
        'labels', to_jsonb(m.labels),
        'normalization', m.normalization,
        'metrics', m.metrics,
        'epochs', jsonb_array_length(CASE jsonb_typeof(m.loss_curve)
                                     WHEN 'array' THEN m.loss_curve END),
        'source', jsonb_build_object('relation', m.source_relation,
                                     'rows', m.source_rows));
END
$$;

COMMENT ON FUNCTION rnn.model_info(text, int) IS
'Everything about a model version (the deployed one, else the latest, when version is NULL): '
'architecture, parameter count, sizes, training settings, metrics, '
'source data, owner and creation time.';

CREATE FUNCTION rnn.export_model(name text, version int DEFAULT NULL)
RETURNS bytea
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w bytea;
BEGIN
    IF export_model.name IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT r.weights INTO w FROM rnn.models r
     WHERE r.name = export_model.name
       AND (export_model.version IS NULL OR r.version = export_model.version)
     ORDER BY r.deployed DESC, r.version DESC LIMIT 1;
    IF NOT FOUND THEN
        PERFORM rnn._raise_model_not_found(export_model.name, export_model.version);
    END IF;
    RETURN w;
END
$$;

COMMENT ON FUNCTION rnn.export_model(text, int) IS
'The weights blob of a model version (the deployed one, else the latest, when version is NULL), for '
'rnn.import_model on another server or for reading in Python.';

CREATE FUNCTION rnn.drop_model(name text, version int DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dropped int;
    model_owner name;
BEGIN
    IF drop_model.name IS NULL THEN
        RAISE EXCEPTION 'model name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT r.owner INTO model_owner FROM rnn.models r
     WHERE r.name = drop_model.name
       AND (drop_model.version IS NULL OR r.version = drop_model.version)
     LIMIT 1;
    IF NOT FOUND THEN
        PERFORM rnn._raise_model_not_found(drop_model.name, drop_model.version);
    END IF;
    DELETE FROM rnn.models r
     WHERE r.name = drop_model.name
       AND (drop_model.version IS NULL OR r.version = drop_model.version);
    GET DIAGNOSTICS dropped = ROW_COUNT;
    IF dropped = 0 THEN
        RAISE EXCEPTION 'permission denied to drop model "%"', drop_model.name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Model "%s" belongs to role "%s".', drop_model.name, model_owner),
                  HINT = 'Only its owner or a superuser can drop it.';
    END IF;
    RETURN dropped;
END
$$;

COMMENT ON FUNCTION rnn.drop_model(text, int) IS
'Drops one version of a model, or all its versions when version is NULL; '
'returns the number of versions dropped. Only the owner or a superuser can.';

-- Deploying: which version a name resolves to when no version is given.
CREATE FUNCTION rnn.deploy_model(name text, version int DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    target int;
    model_owner name;
    changed int;
BEGIN
    IF deploy_model.name IS NULL THEN
        RAISE EXCEPTION 'model name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- one deploy of a name at a time (same lock as storing a new version)
    PERFORM pg_advisory_xact_lock(7499374, hashtext(deploy_model.name));
    SELECT r.version, r.owner INTO target, model_owner FROM rnn.models r
     WHERE r.name = deploy_model.name
       AND (deploy_model.version IS NULL OR r.version = deploy_model.version)
     ORDER BY r.version DESC LIMIT 1;
    IF NOT FOUND THEN
        -- name the version only when the name itself exists
        IF NOT EXISTS (SELECT 1 FROM rnn.models r WHERE r.name = deploy_model.name) THEN
            PERFORM rnn._raise_model_not_found(deploy_model.name);
        END IF;
        PERFORM rnn._raise_model_not_found(deploy_model.name, deploy_model.version);
    END IF;
    -- two statements: the unique index on deployed names is checked per row
    UPDATE rnn.models r SET deployed = false
     WHERE r.name = deploy_model.name AND r.deployed AND r.version <> target;
    UPDATE rnn.models r SET deployed = true
     WHERE r.name = deploy_model.name AND r.version = target;
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed = 0 THEN
        RAISE EXCEPTION 'permission denied to deploy model "%"', deploy_model.name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Model "%s" belongs to role "%s".', deploy_model.name, model_owner),
                  HINT = 'Only its owner or a superuser can deploy it.';
    END IF;
    RETURN target;
END
$$;

COMMENT ON FUNCTION rnn.deploy_model(text, int) IS
'Pins the version (the latest when version is NULL) that scoring, rnn.model_info and '
'rnn.export_model use when no version is given, so new trainings do not change what '
'queries score with; deploying an older version rolls back. Only the owner or a '
'superuser can. Returns the deployed version.';

CREATE FUNCTION rnn.undeploy_model(name text)
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    latest int;
    model_owner name;
    changed int;
BEGIN
    IF undeploy_model.name IS NULL THEN
        RAISE EXCEPTION 'model name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_advisory_xact_lock(7499374, hashtext(undeploy_model.name));
    SELECT r.version, r.owner INTO latest, model_owner FROM rnn.models r
     WHERE r.name = undeploy_model.name ORDER BY r.version DESC LIMIT 1;
    IF NOT FOUND THEN
        PERFORM rnn._raise_model_not_found(undeploy_model.name);
    END IF;
    UPDATE rnn.models r SET deployed = false
     WHERE r.name = undeploy_model.name AND r.deployed;
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed = 0 AND EXISTS (SELECT 1 FROM rnn.models r
                                WHERE r.name = undeploy_model.name AND r.deployed) THEN
        RAISE EXCEPTION 'permission denied to undeploy model "%"', undeploy_model.name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Model "%s" belongs to role "%s".', undeploy_model.name, model_owner),
                  HINT = 'Only its owner or a superuser can undeploy it.';
    END IF;
    RETURN latest;
END
$$;

COMMENT ON FUNCTION rnn.undeploy_model(text) IS
'Undoes rnn.deploy_model: the name resolves to its latest version again. Only the owner '
'or a superuser can. Returns the latest version.';

CREATE FUNCTION rnn.grant_model(name text, to_role name)
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed int;
BEGIN
    IF grant_model.name IS NULL OR to_role IS NULL THEN
        RAISE EXCEPTION 'model name and role must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF to_role <> 'public' AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = to_role) THEN
        RAISE EXCEPTION 'role "%" does not exist', to_role
            USING ERRCODE = 'undefined_object';
    END IF;
    UPDATE rnn.models m SET readers = array_append(m.readers, to_role)
     WHERE m.name = grant_model.name AND NOT to_role = ANY (m.readers);
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed = 0 AND NOT EXISTS (SELECT 1 FROM rnn.models m
                                    WHERE m.name = grant_model.name AND to_role = ANY (m.readers)) THEN
        IF EXISTS (SELECT 1 FROM rnn.models m WHERE m.name = grant_model.name) THEN
            RAISE EXCEPTION 'permission denied to share model "%"', grant_model.name
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Only its owner or a superuser can share it.';
        END IF;
        PERFORM rnn._raise_model_not_found(grant_model.name);
    END IF;
    RETURN changed;
END
$$;

COMMENT ON FUNCTION rnn.grant_model(text, name) IS
'Lets a role (and its members; ''public'' for everyone) read and score every version of a '
'model, present and future; only the owner or a superuser can. Returns the versions changed.';

CREATE FUNCTION rnn.revoke_model(name text, from_role name)
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed int;
BEGIN
    UPDATE rnn.models m SET readers = array_remove(m.readers, from_role)
     WHERE m.name = revoke_model.name AND from_role = ANY (m.readers);
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed = 0 AND NOT EXISTS (SELECT 1 FROM rnn.models m WHERE m.name = revoke_model.name) THEN
        PERFORM rnn._raise_model_not_found(revoke_model.name);
    END IF;
    RETURN changed;
END
$$;

COMMENT ON FUNCTION rnn.revoke_model(text, name) IS
'Takes back rnn.grant_model: the role no longer reads or scores the model. Returns the '
'versions changed.';

-- ---------------------------------------------------------------------------
-- Forecasting
-- ---------------------------------------------------------------------------

CREATE FUNCTION rnn.train_forecaster(
    model_name text,
    relation regclass,
    time_column text,
    value_column text,
    series_column text DEFAULT NULL,
    feature_columns text[] DEFAULT '{}',
    cell text DEFAULT 'lstm',
    hidden_size int DEFAULT 64,
    num_layers int DEFAULT 1,
    dropout float8 DEFAULT 0,
    window_size int DEFAULT 96,
    horizon int DEFAULT 24,
    epochs int DEFAULT 30,
    batch_size int DEFAULT 64,
    learning_rate float8 DEFAULT 0.001,
    validation_fraction float8 DEFAULT 0.2,
    patience int DEFAULT 5,
    seed bigint DEFAULT 42,
    missing text DEFAULT 'error',
    normalization text DEFAULT 'window',
    linear_skip boolean DEFAULT true,
    season_length int DEFAULT NULL,
    batches_per_epoch int DEFAULT NULL,
    clip_norm float8 DEFAULT 1.0,
    seasonal boolean DEFAULT false,
    warm_start boolean DEFAULT false,
    warm_start_version int DEFAULT NULL,
    calendar_inputs text[] DEFAULT NULL,
    future_columns text[] DEFAULT '{}',
    train_linear boolean DEFAULT true,
    season_steps boolean DEFAULT false,
    OUT model text, OUT version int,
    OUT train_mse float8, OUT train_mae float8,
    OUT valid_mse float8, OUT valid_mae float8,
    OUT naive_valid_mse float8, OUT naive_valid_mae float8,
    OUT seasonal_valid_mse float8, OUT seasonal_valid_mae float8,
    OUT epochs_run int, OUT best_epoch int, OUT seconds float8,
    OUT series int, OUT train_windows bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'rnn_train_forecaster'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION rnn.train_forecaster IS
'Train a GRU/LSTM forecaster on the ordered rows of a table (one or many series, optional covariates) and store it as a new version of model_name, from random weights or (warm_start) from a stored version''s weights and statistics; returns train/validation errors next to the naive and seasonal-naive baselines';

CREATE FUNCTION rnn.forecast(
    model text,
    horizon int DEFAULT NULL,
    level float8 DEFAULT 0.9,
    relation regclass DEFAULT NULL,
    future regclass DEFAULT NULL)
RETURNS TABLE (series text, step int, ts timestamptz, value float8, lo float8, hi float8)
AS 'MODULE_PATHNAME', 'rnn_forecast'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION rnn.forecast IS
'The next horizon values of every series after its last row, with split-conformal prediction intervals [lo, hi] at the given level; future gives the known-future columns of the forecast steps';

CREATE FUNCTION rnn.detect_anomalies(
    model text,
    relation regclass,
    level float8 DEFAULT 0.99,
    all_rows boolean DEFAULT false)
RETURNS TABLE (series text, ts timestamptz, t bigint, value float8, forecast float8,
               lo float8, hi float8, score float8, is_anomaly boolean)
AS 'MODULE_PATHNAME', 'rnn_detect_anomalies'
LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION rnn.detect_anomalies IS
'The rows of a table whose value falls outside the forecaster''s one-step-ahead split-conformal interval at the given level, with the forecast, the interval and a score (distance from the forecast in interval half-widths); all_rows returns every row with is_anomaly';

CREATE FUNCTION rnn.evaluate(
    model text,
    relation regclass,
    OUT windows bigint,
    OUT mse float8, OUT mae float8,
    OUT mse_normalized float8, OUT mae_normalized float8,
    OUT naive_mse float8, OUT naive_mae float8,
    OUT naive_mse_normalized float8, OUT naive_mae_normalized float8,
    OUT seasonal_mse float8, OUT seasonal_mae float8,
    OUT seasonal_mse_normalized float8, OUT seasonal_mae_normalized float8)
RETURNS record
AS 'MODULE_PATHNAME', 'rnn_evaluate'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION rnn.evaluate IS
'Errors of a forecaster over every window (stride 1) of a held-out table, on the original scale and in z-units of each series, next to the naive last-value and seasonal-naive forecasts';

CREATE FUNCTION rnn.predict_next_sfunc(internal, text, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'rnn_predict_next_sfunc'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION rnn.predict_next_sfunc(internal, text, float8, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'rnn_predict_next_sfunc'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION rnn.predict_next_sfunc(internal, text, float8, text, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'rnn_predict_next_sfunc'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION rnn.predict_next_final(internal)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'rnn_predict_next_final'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE AGGREGATE rnn.predict_next(model text, value float8) (
    SFUNC = rnn.predict_next_sfunc,
    STYPE = internal,
    FINALFUNC = rnn.predict_next_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = SAFE
);

CREATE AGGREGATE rnn.predict_next(model text, value float8, series text) (
    SFUNC = rnn.predict_next_sfunc,
    STYPE = internal,
    FINALFUNC = rnn.predict_next_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = SAFE
);

CREATE AGGREGATE rnn.predict_next(model text, value float8, series text, ts timestamptz) (
    SFUNC = rnn.predict_next_sfunc,
    STYPE = internal,
    FINALFUNC = rnn.predict_next_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE rnn.predict_next(text, float8) IS
'The next horizon values (float8[]) after an ordered set of values: use with ORDER BY inside the call, or as a window function over ROWS n PRECEDING to backtest';
COMMENT ON AGGREGATE rnn.predict_next(text, float8, text) IS
'As predict_next(model, value), scaled with the statistics of the named series';
COMMENT ON AGGREGATE rnn.predict_next(text, float8, text, timestamptz) IS
'As predict_next(model, value, series), with each row''s time for a model with calendar inputs';

-- ---------------------------------------------------------------------------
-- Sentiment
-- (text classification: src/pg/classify_train.c, classify.c, stream.c)
-- ---------------------------------------------------------------------------

CREATE FUNCTION rnn.train_classifier(
    model_name text,
    relation regclass,
    text_column name,
    label_column name,
    cell text DEFAULT 'gru',
    bidirectional boolean DEFAULT true,
    num_layers int DEFAULT 1,
    embedding_dim int DEFAULT 128,
    hidden_size int DEFAULT 128,
    dropout float8 DEFAULT 0.5,
    pooling text DEFAULT 'max',
    tokens text DEFAULT 'word',
    vocab_size int DEFAULT 20000,
    min_count int DEFAULT 1,
    max_tokens int DEFAULT 256,
    epochs int DEFAULT 20,
    batch_size int DEFAULT 50,
    learning_rate float8 DEFAULT 0.001,
    validation_fraction float8 DEFAULT 0.1,
    patience int DEFAULT 3,
    seed bigint DEFAULT 42,
    word_dropout float8 DEFAULT 0.1,
    weight_decay float8 DEFAULT 0,
    clip_norm float8 DEFAULT 5,
    balance_classes boolean DEFAULT false,
    early_stopping text DEFAULT 'loss',
    ngram_order int DEFAULT 2,
    embeddings regclass DEFAULT NULL,
    freeze_embeddings boolean DEFAULT false,
    pretrain_relation regclass DEFAULT NULL,
    pretrain_text_column name DEFAULT NULL,
    pretrain_epochs int DEFAULT NULL,
    OUT version int,
    OUT train_accuracy float8,
    OUT validation_accuracy float8,
    OUT train_macro_f1 float8,
    OUT validation_macro_f1 float8,
    OUT train_log_loss float8,
    OUT validation_log_loss float8,
    OUT epochs_run int,
    OUT best_epoch int,
    OUT seconds float8,
    OUT vocabulary_size int)
AS 'MODULE_PATHNAME', 'rnn_train_classifier'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION rnn.train_classifier(text, regclass, name, name, text, boolean, int, int,
    int, float8, text, text, int, int, int, int, int, float8, float8, int, bigint, float8,
    float8, float8, boolean, text, int, regclass, boolean, regclass, name, int) IS
'Trains a many-to-one text classifier (GRU, LSTM or rnn over word or char tokens) on '
'the text and label columns of a relation, read with the caller''s rights, and stores '
'it as the next version of model_name. Labels of any type become the class list in '
'the type''s order (text in byte order). Rows with a NULL text, or a text without '
'tokens, are skipped. With pretraining (pretrain_epochs above 0, or a pretrain_relation '
'and pretrain_epochs NULL: at most 3 epochs, while the validation texts'' loss '
'improves), rows with a NULL label and the texts of pretrain_relation (column '
'pretrain_text_column, by default text_column) pretrain the embedding and recurrent '
'layers as language models (forward: the next token; backward: the previous one) '
'before the labelled training; without, rows with a NULL label are skipped. Holds out a stratified validation_fraction for early '
'stopping on its loss or accuracy (patience epochs); the vocabulary comes from the '
'training part and the unlabelled texts. With ngram_order 1 or 2, a naive Bayes model of unigrams (and bigrams) '
'is fitted first and the network learns what it adds to its logits; the starting '
'point, that model alone, competes in early stopping. embeddings names a relation of '
'(word, vector) whose vectors start the embedding rows of the words they hold (their '
'dimension sets embedding_dim), frozen with freeze_embeddings (without vectors: the '
'embedding pretraining learnt). Returns '
'accuracy, macro-F1 and log loss on both parts, epochs run, the best epoch, seconds '
'and the vocabulary size.';

CREATE FUNCTION rnn.sentiment(model text, body text)
RETURNS float8
AS 'MODULE_PATHNAME', 'rnn_sentiment'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

COMMENT ON FUNCTION rnn.sentiment(text, text) IS
'Probability of the positive class of a two-class classifier: the second label in '
'sorted order (true, 1, pos, positive). A text without tokens gets the training '
'class frequency.';

CREATE FUNCTION rnn.classify(model text, body text)
RETURNS text
AS 'MODULE_PATHNAME', 'rnn_classify'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

COMMENT ON FUNCTION rnn.classify(text, text) IS
'The most probable label of a text under a classifier.';

CREATE FUNCTION rnn.class_probs(model text, body text,
                                OUT label text, OUT probability float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'rnn_class_probs'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000 ROWS 2;

COMMENT ON FUNCTION rnn.class_probs(text, text) IS
'Every label of a classifier with its probability for a text, in class order; the '
'probabilities sum to 1.';

CREATE FUNCTION rnn.sentiment_running_step(state internal, model text, body text)
RETURNS internal
AS 'MODULE_PATHNAME', 'rnn_sentiment_running_step'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION rnn.sentiment_running_step(internal, text, text) IS
'Transition function of rnn.sentiment_running: feeds one message to the recurrent state.';

CREATE FUNCTION rnn.sentiment_running_final(state internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'rnn_sentiment_running_final'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION rnn.sentiment_running_final(internal) IS
'Final function of rnn.sentiment_running: the positive-class probability of the state.';

CREATE AGGREGATE rnn.sentiment_running(model text, body text) (
    SFUNC = rnn.sentiment_running_step,
    STYPE = internal,
    FINALFUNC = rnn.sentiment_running_final,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE rnn.sentiment_running(text, text) IS
'Running sentiment: as a window aggregate OVER (PARTITION BY ... ORDER BY ...) it carries '
'the recurrent state from row to row, so each row costs only its own tokens and scores '
'like rnn.sentiment of the messages so far joined with spaces. Needs a unidirectional '
'model with pooling ''last''. NULL messages are skipped.';

CREATE FUNCTION rnn.stream_step(model text, state bytea, body text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rnn_stream_step'
LANGUAGE C STABLE PARALLEL SAFE COST 1000;

COMMENT ON FUNCTION rnn.stream_step(text, bytea, text) IS
'The recurrent state of a stream after one more message, to keep in a table across '
'transactions: a NULL state starts a stream, a NULL message leaves it unchanged. The '
'state records the model version and is refused by any other.';

CREATE FUNCTION rnn.stream_score(model text, state bytea)
RETURNS float8
AS 'MODULE_PATHNAME', 'rnn_stream_score'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 100;

COMMENT ON FUNCTION rnn.stream_score(text, bytea) IS
'Positive-class probability of a stream state from rnn.stream_step.';

CREATE FUNCTION rnn.sentiment_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'rnn_sentiment_trigger'
LANGUAGE C;

COMMENT ON FUNCTION rnn.sentiment_trigger() IS
'BEFORE INSERT OR UPDATE ... FOR EACH ROW EXECUTE FUNCTION rnn.sentiment_trigger(model, '
'text_column, score_column): sets the score column (float8, real or numeric) to '
'rnn.sentiment of the text column, NULL for a NULL text.';
COMMENT ON FUNCTION rnn.predict_next_sfunc(internal, text, float8) IS
'Transition function of rnn.predict_next(model, value): collects the values in order';
COMMENT ON FUNCTION rnn.predict_next_sfunc(internal, text, float8, text) IS
'Transition function of rnn.predict_next(model, value, series)';
COMMENT ON FUNCTION rnn.predict_next_sfunc(internal, text, float8, text, timestamptz) IS
'Transition function of rnn.predict_next(model, value, series, ts)';
COMMENT ON FUNCTION rnn.predict_next_final(internal) IS
'Final function of rnn.predict_next: forecasts from the last window_size values; reads the state only, so window frames reuse it';

-- ---------------------------------------------------------------------------
-- Language models
-- ---------------------------------------------------------------------------

CREATE FUNCTION rnn.train_language_model(
    model_name text,
    relation regclass,
    text_column name,
    tokens text DEFAULT 'char',
    cell text DEFAULT 'lstm',
    num_layers int DEFAULT 2,
    embedding_dim int DEFAULT 64,
    hidden_size int DEFAULT 256,
    dropout float8 DEFAULT 0.1,
    vocab_size int DEFAULT 20000,
    min_count int DEFAULT 1,
    epochs int DEFAULT 10,
    batch_size int DEFAULT 32,
    bptt int DEFAULT 64,
    learning_rate float8 DEFAULT 0.002,
    validation_fraction float8 DEFAULT 0.1,
    patience int DEFAULT 3,
    seed bigint DEFAULT 42,
    clip_norm float8 DEFAULT 5,
    max_seconds float8 DEFAULT 0,
    OUT version int,
    OUT train_loss float8,
    OUT validation_loss float8,
    OUT validation_perplexity float8,
    OUT epochs_run int,
    OUT best_epoch int,
    OUT seconds float8,
    OUT vocabulary_size int,
    OUT train_tokens bigint,
    OUT validation_tokens bigint)
AS 'MODULE_PATHNAME', 'rnn_train_language_model'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION rnn.train_language_model(text, regclass, name, text, text, int, int, int,
    float8, int, int, int, int, int, float8, float8, int, bigint, float8, float8) IS
'Trains a character (tokens => ''char'', every character as it is) or word language model '
'on the text column of a relation, read with the caller''s rights, and stores it as the '
'next version of model_name (kind language_model). The texts, in a seeded random order, '
'form one token stream; its last validation_fraction is held out and the vocabulary comes '
'from the rest. Truncated backpropagation through time in chunks of bptt steps over '
'batch_size parallel streams, the state carried between chunks; early stopping on the '
'validation loss; max_seconds > 0 bounds the training time. Returns the losses in nats '
'per token, the validation perplexity, epochs run, the best epoch, seconds, the '
'vocabulary size and the tokens of each part.';

CREATE FUNCTION rnn.generate(model text, prompt text DEFAULT '',
                             max_tokens int DEFAULT 200, temperature float8 DEFAULT 1.0,
                             top_k int DEFAULT 0, seed int DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'rnn_generate'
LANGUAGE C VOLATILE PARALLEL RESTRICTED COST 10000;

COMMENT ON FUNCTION rnn.generate(text, text, int, float8, int, int) IS
'Text sampled from a language model: the prompt followed by up to max_tokens (0 to 100000) '
'tokens drawn from softmax(logits / temperature), from the top_k most likely when '
'top_k > 0, until the model ends the text. The same seed gives the same text; a NULL seed '
'a fresh one. NULL when the model, prompt or a knob is NULL.';

CREATE FUNCTION rnn.log_likelihood(model text, body text)
RETURNS float8
AS 'MODULE_PATHNAME', 'rnn_log_likelihood'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

COMMENT ON FUNCTION rnn.log_likelihood(text, text) IS
'Natural log of the probability of a text under a language model: the sum of '
'log p(next token) over its tokens and its end.';

CREATE FUNCTION rnn.perplexity(model text, body text)
RETURNS float8
AS 'MODULE_PATHNAME', 'rnn_perplexity'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

COMMENT ON FUNCTION rnn.perplexity(text, text) IS
'exp(-log_likelihood / (tokens + 1)): how unusual a text is under a language model '
'(1 for a text it predicts with certainty).';

-- ---------------------------------------------------------------------------
-- Taggers
-- ---------------------------------------------------------------------------

CREATE FUNCTION rnn.train_tagger(
    model_name text,
    relation regclass,
    tokens_column name,
    tags_column name,
    cell text DEFAULT 'lstm',
    bidirectional boolean DEFAULT true,
    num_layers int DEFAULT 1,
    embedding_dim int DEFAULT 100,
    hidden_size int DEFAULT 128,
    dropout float8 DEFAULT 0.3,
    vocab_size int DEFAULT 50000,
    min_count int DEFAULT 1,
    max_length int DEFAULT 256,
    epochs int DEFAULT 20,
    batch_size int DEFAULT 32,
    learning_rate float8 DEFAULT 0.002,
    validation_fraction float8 DEFAULT 0.1,
    patience int DEFAULT 3,
    seed bigint DEFAULT 42,
    word_dropout float8 DEFAULT 0.1,
    clip_norm float8 DEFAULT 5,
    OUT version int,
    OUT train_accuracy float8,
    OUT validation_accuracy float8,
    OUT train_loss float8,
    OUT validation_loss float8,
    OUT epochs_run int,
    OUT best_epoch int,
    OUT seconds float8,
    OUT vocabulary_size int,
    OUT tag_count int)
AS 'MODULE_PATHNAME', 'rnn_train_tagger'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION rnn.train_tagger(text, regclass, name, name, text, boolean, int, int, int,
    float8, int, int, int, int, int, float8, float8, int, bigint, float8, float8) IS
'Trains a sequence tagger (one tag per token; a bidirectional LSTM by default) on rows of '
'text[] tokens and text[] tags of the same length, read with the caller''s rights, and '
'stores it as the next version of model_name (kind tagger). Rows with a NULL array or no '
'tokens are skipped; arrays of different lengths or with NULL elements are an error naming '
'the row. Holds out a seeded validation_fraction of the rows for early stopping; the '
'vocabulary comes from the training rows. Returns token accuracy and loss on both parts, '
'epochs run, the best epoch, seconds, the vocabulary size and the number of tags.';

CREATE FUNCTION rnn.tag(model text, tokens text[],
                        OUT "position" int, OUT token text, OUT tag text, OUT probability float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'rnn_tag_tokens'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000 ROWS 20;

COMMENT ON FUNCTION rnn.tag(text, text[]) IS
'The most probable tag of every token of an array under a tagger, with its probability; '
'position counts from 1 as in arrays.';

CREATE FUNCTION rnn.tag(model text, body text,
                        OUT "position" int, OUT token text, OUT tag text, OUT probability float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'rnn_tag_text'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000 ROWS 20;

COMMENT ON FUNCTION rnn.tag(text, text) IS
'The most probable tag of every token of a text, tokenized as rnn.train_classifier does '
'(lower-cased words, punctuation split off), with its probability.';
