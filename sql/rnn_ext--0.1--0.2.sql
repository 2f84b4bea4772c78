-- rnn_ext 0.1 -> 0.2: one "model does not exist" error for the PL/pgSQL model
-- functions.
--
-- In 0.1, rnn.model_info, export_model, drop_model, deploy_model,
-- undeploy_model, grant_model and revoke_model each raised their own error
-- for an unknown model, with three different hints (revoke_model none) and
-- the name echoed back whatever its length.  0.2 raises it from one internal
-- function, rnn._raise_model_not_found, exactly as the C functions do: SQLSTATE
-- 42704, the C side's hints, and a name of more than 200 characters refused
-- with 22023 and its length, not echoed.  Nothing else changes: no table,
-- column, privilege or signature, so rnn.models and every model in it stay
-- as they are, and rnn_ext.so serves both versions.
--
-- CREATE OR REPLACE keeps each function's privileges and comment.  The
-- bodies below are those of sql/rnn_ext--0.2.sql (test/pq/upgrade.sh checks
-- that an updated database and a fresh 0.2 one have the same schema).

\echo Use "ALTER EXTENSION rnn_ext UPDATE TO '0.2'" to load this file. \quit

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

CREATE OR REPLACE FUNCTION rnn.model_info(name text, version int DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION rnn.export_model(name text, version int DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION rnn.drop_model(name text, version int DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION rnn.deploy_model(name text, version int DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION rnn.undeploy_model(name text)
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

CREATE OR REPLACE FUNCTION rnn.grant_model(name text, to_role name)
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

CREATE OR REPLACE FUNCTION rnn.revoke_model(name text, from_role name)
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
