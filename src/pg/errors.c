/*
 * errors.c -- turning the engine's RnnStatus codes into ereport().
 *
 * Every engine call returns an RnnStatus; rnn_raise_status maps each code to
 * the SQLSTATE a client can act on and adds a hint when a fix exists:
 *
 *   RNN_ERR_TRUNCATED, _CHECKSUM, _CORRUPT  ->  DATA_CORRUPTED (XX001)
 *   RNN_ERR_MAGIC, _VERSION                 ->  INVALID_BINARY_REPRESENTATION (22P03)
 *   RNN_ERR_NOMEM                           ->  OUT_OF_MEMORY (53200)
 *   RNN_ERR_CONFIG                          ->  INVALID_PARAMETER_VALUE (22023)
 *   RNN_ERR_INPUT                           ->  DATA_EXCEPTION (22000)
 *   RNN_ERR_NONFINITE                       ->  FLOATING_POINT_EXCEPTION (22P01)
 */
#include "postgres.h"

#include "rnn_ext.h"

static int
status_errcode(RnnStatus status)
{
	switch (status)
	{
		case RNN_ERR_TRUNCATED:
		case RNN_ERR_CHECKSUM:
		case RNN_ERR_CORRUPT:
			return ERRCODE_DATA_CORRUPTED;
		case RNN_ERR_MAGIC:
		case RNN_ERR_VERSION:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
		case RNN_ERR_NOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		case RNN_ERR_CONFIG:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case RNN_ERR_INPUT:
			return ERRCODE_DATA_EXCEPTION;
		case RNN_ERR_NONFINITE:
			return ERRCODE_FLOATING_POINT_EXCEPTION;
		case RNN_OK:
			break;
	}
	return ERRCODE_INTERNAL_ERROR;
}

static const char *
status_hint(RnnStatus status)
{
	switch (status)
	{
		case RNN_ERR_TRUNCATED:
			return "The blob was cut short; export the model again from its source.";
		case RNN_ERR_CHECKSUM:
		case RNN_ERR_CORRUPT:
			return "The blob was changed after it was written; export the model again from its source.";
		case RNN_ERR_MAGIC:
			return "Weights come from rnn.export_model() or rnn.untrained_weights().";
		case RNN_ERR_VERSION:
			return "Upgrade rnn_ext on this server to read it.";
		case RNN_ERR_NOMEM:
			return "Use a smaller model or free memory on the server.";
		case RNN_ERR_NONFINITE:
			return "Lower the learning rate or clip_norm, or check the input data for extreme values.";
		default:
			return NULL;
	}
}

void
rnn_raise_status(RnnStatus status, const char *what, int64 blob_len)
{
	const char *hint;

	if (status == RNN_OK)
		return;
	hint = status_hint(status);
	ereport(ERROR,
			(errcode(status_errcode(status)),
			 errmsg("%s: %s", what, rnn_status_message(status)),
			 blob_len >= 0 ?
			 errdetail("The weight blob is %lld bytes long and rnn_ext writes format version %d.",
					   (long long) blob_len, RNN_FORMAT_VERSION) : 0,
			 hint ? errhint("%s", hint) : 0));
}

/* A classifier's weights may carry an n-gram table after the network
 * (classify_ngram.c): checked there, dropped here. */
RnnModel *
rnn_decode_or_raise(const bytea *weights, const char *what)
{
	return rnn_decode_weights_or_raise(weights, what, NULL);
}
