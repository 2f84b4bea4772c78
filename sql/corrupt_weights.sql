-- Damaged weights are refused with an error that says what is wrong,
-- never a crash.  DATA_CORRUPTED (XX001) for damage,
-- INVALID_BINARY_REPRESENTATION (22P03) for blobs that are not ours or too new.
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE TABLE blobs AS
SELECT rnn.untrained_weights('{"cell": "gru", "hidden_size": 4}', 3) AS w;

SELECT rnn.weights_info(w) -> 'parameters' AS intact FROM blobs;

-- Cut short.
SELECT rnn.weights_info(substring(w FROM 1 FOR length(w) - 1)) FROM blobs;
SELECT rnn.weights_info(substring(w FROM 1 FOR 10)) FROM blobs;
SELECT rnn.weights_info(''::bytea);

-- One byte changed in the middle of the parameters.
SELECT rnn.weights_info(set_byte(w, length(w) / 2, get_byte(w, length(w) / 2) # 1)) FROM blobs;
-- The checksum itself changed.
SELECT rnn.weights_info(set_byte(w, length(w) - 1, get_byte(w, length(w) - 1) # 255)) FROM blobs;

-- Not an rnn_ext blob at all.
SELECT rnn.weights_info(set_byte(w, 0, 0)) FROM blobs;
SELECT rnn.weights_info('\x89504e470d0a1a0a'::bytea);

-- Written by a newer format version (bytes 4..7, little-endian).
SELECT rnn.weights_info(set_byte(w, 4, 99)) FROM blobs;

-- Appended garbage.
SELECT rnn.weights_info(w || '\x00'::bytea) FROM blobs;

-- The SQLSTATEs, for applications.
DO $$
DECLARE
  w bytea := rnn.untrained_weights('{"cell": "gru", "hidden_size": 4}', 3);
  bad bytea[] := ARRAY[substring(w FROM 1 FOR 20), set_byte(w, 40, get_byte(w, 40) # 16),
                       set_byte(w, 0, 0), set_byte(w, 4, 2)];
  b bytea;
BEGIN
  FOREACH b IN ARRAY bad LOOP
    BEGIN
      PERFORM rnn.weights_info(b);
      RAISE NOTICE 'accepted';
    EXCEPTION WHEN data_corrupted OR invalid_binary_representation THEN
      RAISE NOTICE 'sqlstate %', SQLSTATE;
    END;
  END LOOP;
END
$$;

-- Importing damaged weights stores nothing.
SELECT rnn.import_model('broken', set_byte(w, length(w) / 2, 0), 'forecaster') FROM blobs;
SELECT count(*) AS stored FROM rnn.models WHERE name = 'broken';
DROP TABLE blobs;
