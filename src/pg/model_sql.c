/*
 * model_sql.c -- SQL functions on model weights: create, inspect, import.
 *
 *   rnn.untrained_weights(config jsonb, seed bigint) -> bytea
 *   rnn.weights_info(weights bytea)                  -> jsonb
 *   rnn.model_config(name text, version int)         -> jsonb (via the cache)
 *   rnn.import_model(name, weights, kind, info)      -> int (new version)
 *
 * The rest of the model store (rnn.model_info, rnn.drop_model,
 * rnn.export_model, rnn.model_list) is plain SQL in sql/rnn_ext--0.2.sql.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "rnn_ext.h"
#include "classify.h"
#include "forecast.h"
#include "text_model.h"

/* ---------------------------------------------------------------------------
 * Configuration <-> JSON
 */
static const char *
head_name(RnnHeadKind head)
{
	return head == RNN_HEAD_CLASSIFIER ? "classifier" :
		head == RNN_HEAD_STEPS ? "steps" : "regression";
}

static const char *
pooling_name(RnnPooling pooling)
{
	switch (pooling)
	{
		case RNN_POOL_LAST:
			return "last";
		case RNN_POOL_MAX:
			return "max";
		case RNN_POOL_MEAN:
			return "mean";
	}
	return "unknown";
}

void
rnn_describe_config(StringInfo buf, const RnnConfig *cfg)
{
	appendStringInfo(buf,
					 "{\"cell\": \"%s\", \"num_layers\": %d, \"bidirectional\": %s, "
					 "\"input_size\": %d, \"vocab_size\": %d, \"embedding_dim\": %d, "
					 "\"hidden_size\": %d, \"output_size\": %d, \"head\": \"%s\", "
					 "\"pooling\": \"%s\", \"skip_size\": %d, \"dropout\": %.6g}",
					 rnn_cell_name(cfg->cell), cfg->num_layers,
					 cfg->bidirectional ? "true" : "false",
					 cfg->input_size, cfg->vocab_size, cfg->embedding_dim,
					 cfg->hidden_size, cfg->output_size, head_name(cfg->head),
					 pooling_name(cfg->pooling), cfg->skip_size, (double) cfg->dropout);
}

/* {"format_version", "parameters", "bytes", "architecture", "tensors"} */
static Jsonb *
describe_model(const RnnModel *model, Size blob_len, uint32 format_version)
{
	StringInfoData buf;
	int			ntensors;
	RnnTensorInfo *tensors;

	ntensors = rnn_param_tensors(&model->cfg, NULL, 0);
	tensors = palloc0(sizeof(RnnTensorInfo) * Max(ntensors, 1));
	rnn_param_tensors(&model->cfg, tensors, ntensors);

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"format_version\": %u, \"parameters\": %zu, \"bytes\": %zu, "
					 "\"architecture\": ",
					 format_version, model->n_params, (size_t) blob_len);
	rnn_describe_config(&buf, &model->cfg);
	appendStringInfoString(&buf, ", \"tensors\": [");
	for (int i = 0; i < ntensors; i++)
	{
		appendStringInfo(&buf, "%s{\"name\": ", i > 0 ? ", " : "");
		escape_json(&buf, tensors[i].name);
		/* biases are vectors; a (rows, 1) weight is still a matrix */
		if (strstr(tensors[i].name, ".bias") != NULL)
			appendStringInfo(&buf, ", \"shape\": [%d]}", tensors[i].rows);
		else
			appendStringInfo(&buf, ", \"shape\": [%d, %d]}", tensors[i].rows, tensors[i].cols);
	}
	appendStringInfoString(&buf, "]}");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

static uint32
blob_format_version(const bytea *weights)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(weights);

	if (VARSIZE_ANY_EXHDR(weights) < 8)
		return 0;
	return (uint32) p[4] | ((uint32) p[5] << 8) | ((uint32) p[6] << 16) | ((uint32) p[7] << 24);
}

static inline void
config_error(const char *key, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid model configuration key \"%s\"", key),
			 errdetail("%s", detail),
			 errhint("Known keys: cell, num_layers, bidirectional, input_size, vocab_size, "
					 "embedding_dim, hidden_size, output_size, head, pooling, skip_size, dropout.")));
}

static int
config_int(const char *key, const JsonbValue *v)
{
	if (v->type != jbvNumeric)
		config_error(key, psprintf("Key \"%s\" must be an integer.", key));
	return DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)));
}

static char *
config_string(const char *key, const JsonbValue *v)
{
	if (v->type != jbvString)
		config_error(key, psprintf("Key \"%s\" must be a string.", key));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Example: '{"cell": "gru", "hidden_size": 16, "vocab_size": 100,
 *            "embedding_dim": 8, "head": "classifier", "output_size": 2}'
 * Keys not given take the defaults below.
 */
static void
parse_config(Jsonb *json, RnnConfig *cfg)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	const char *why = NULL;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cell = RNN_CELL_LSTM;
	cfg->num_layers = 1;
	cfg->input_size = 1;
	cfg->hidden_size = 32;
	cfg->output_size = 1;
	cfg->head = RNN_HEAD_REGRESSION;
	cfg->pooling = RNN_POOL_LAST;

	if (!JB_ROOT_IS_OBJECT(json))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model configuration must be a JSON object"),
				 errhint("For example: '{\"cell\": \"gru\", \"hidden_size\": 16}'.")));

	it = JsonbIteratorInit(&json->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;

		if (strcmp(key, "cell") == 0)
		{
			char	   *s = config_string(key, &v);

			if (strcmp(s, "lstm") == 0)
				cfg->cell = RNN_CELL_LSTM;
			else if (strcmp(s, "gru") == 0)
				cfg->cell = RNN_CELL_GRU;
			else if (strcmp(s, "tanh") == 0 || strcmp(s, "rnn") == 0)
				cfg->cell = RNN_CELL_TANH;
			else
				config_error(key, psprintf("Cell \"%s\" is not one of lstm, gru, tanh.", s));
		}
		else if (strcmp(key, "head") == 0)
		{
			char	   *s = config_string(key, &v);

			if (strcmp(s, "regression") == 0)
				cfg->head = RNN_HEAD_REGRESSION;
			else if (strcmp(s, "classifier") == 0)
				cfg->head = RNN_HEAD_CLASSIFIER;
			else if (strcmp(s, "steps") == 0)
				cfg->head = RNN_HEAD_STEPS;
			else
				config_error(key, psprintf("Head \"%s\" is not one of regression, classifier, steps.", s));
		}
		else if (strcmp(key, "pooling") == 0)
		{
			char	   *s = config_string(key, &v);

			if (strcmp(s, "last") == 0)
				cfg->pooling = RNN_POOL_LAST;
			else if (strcmp(s, "max") == 0)
				cfg->pooling = RNN_POOL_MAX;
			else if (strcmp(s, "mean") == 0)
				cfg->pooling = RNN_POOL_MEAN;
			else
				config_error(key, psprintf("Pooling \"%s\" is not one of last, max, mean.", s));
		}
		else if (strcmp(key, "bidirectional") == 0)
		{
			if (v.type != jbvBool)
				config_error(key, "Key \"bidirectional\" must be true or false.");
			cfg->bidirectional = v.val.boolean ? 1 : 0;
		}
		else if (strcmp(key, "dropout") == 0)
		{
			if (v.type != jbvNumeric)
				config_error(key, "Key \"dropout\" must be a number in [0, 1).");
			cfg->dropout = (float) DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																	  NumericGetDatum(v.val.numeric)));
		}
		else if (strcmp(key, "num_layers") == 0)
			cfg->num_layers = config_int(key, &v);
		else if (strcmp(key, "input_size") == 0)
			cfg->input_size = config_int(key, &v);
		else if (strcmp(key, "vocab_size") == 0)
			cfg->vocab_size = config_int(key, &v);
		else if (strcmp(key, "embedding_dim") == 0)
			cfg->embedding_dim = config_int(key, &v);
		else if (strcmp(key, "hidden_size") == 0)
			cfg->hidden_size = config_int(key, &v);
		else if (strcmp(key, "output_size") == 0)
			cfg->output_size = config_int(key, &v);
		else if (strcmp(key, "skip_size") == 0)
			cfg->skip_size = config_int(key, &v);
		else
			config_error(key, psprintf("Key \"%s\" is not a model setting.", key));
	}

	if (rnn_config_validate(cfg, &why) != RNN_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model configuration: %s is out of range", why ? why : "a value"),
				 errdetail("Layers 1..%d, hidden_size 1..%d, vocab_size 0..%d, input_size and "
						   "embedding_dim 1..%d, output_size 1..%d (classifiers at least 2), "
						   "dropout in [0, 1), skip_size for regression only.",
						   RNN_MAX_LAYERS, RNN_MAX_HIDDEN, RNN_MAX_VOCAB, RNN_MAX_INPUT,
						   RNN_MAX_OUTPUT)));
}

/* ---------------------------------------------------------------------------
 * rnn.untrained_weights(config jsonb, seed bigint DEFAULT 0) -> bytea
 *
 *   SELECT length(rnn.untrained_weights('{"cell": "gru", "hidden_size": 4}'));
 *
 * A freshly initialised model (PyTorch's default initialisation, seeded),
 * encoded: a starting point for rnn.import_model and for tests, and a
 * template to fill with weights trained in PyTorch.
 */
PG_FUNCTION_INFO_V1(rnn_untrained_weights);
Datum
rnn_untrained_weights(PG_FUNCTION_ARGS)
{
	Jsonb	   *config = PG_GETARG_JSONB_P(0);
	int64		seed = PG_GETARG_INT64(1);
	RnnConfig	cfg;
	RnnModel   *model = NULL;
	uint8_t    *blob = NULL;
	size_t		len = 0;
	bytea	   *result;

	parse_config(config, &cfg);
	/* the weights and their encoded copy */
	rnn_check_train_memory(rnn_param_count(&cfg) * sizeof(float) * 2, "creating this model");

	rnn_check_status(rnn_model_create(&model, &cfg), "could not create the model");
	rnn_model_init(model, (uint64_t) seed);
	rnn_check_status(rnn_model_encode(model, &blob, &len), "could not encode the model");

	result = (bytea *) palloc_extended(len + VARHDRSZ, MCXT_ALLOC_HUGE);
	SET_VARSIZE(result, len + VARHDRSZ);
	memcpy(VARDATA(result), blob, len);
	rnn_free(blob);
	rnn_model_free(model);
	PG_RETURN_BYTEA_P(result);
}

/* ---------------------------------------------------------------------------
 * rnn.weights_info(weights bytea) -> jsonb
 *
 * Validates a blob completely (checksum included) and describes it: format
 * version, parameter count, architecture and the PyTorch-style name and
 * shape of every tensor, in the order they are stored.
 */
PG_FUNCTION_INFO_V1(rnn_weights_info);
Datum
rnn_weights_info(PG_FUNCTION_ARGS)
{
	bytea	   *weights = PG_GETARG_BYTEA_PP(0);
	RnnModel   *model;
	Jsonb	   *result;

	model = rnn_decode_or_raise(weights, "invalid model weights");
	result = describe_model(model, VARSIZE_ANY_EXHDR(weights), blob_format_version(weights));
	rnn_model_free(model);
	PG_RETURN_JSONB_P(result);
}

/* ---------------------------------------------------------------------------
 * rnn.model_config(name text, version int DEFAULT NULL) -> jsonb
 *
 * rnn.weights_info of a stored model, read through the backend's model
 * cache: the weights are decoded once per backend and row version.
 */
PG_FUNCTION_INFO_V1(rnn_model_config);
Datum
rnn_model_config(PG_FUNCTION_ARGS)
{
	char	   *name;
	int32		version = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	RnnCachedModel *entry;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	entry = rnn_cache_get(fcinfo, name, version);
	PG_RETURN_JSONB_P(describe_model(entry->model, entry->weights_bytes, RNN_FORMAT_VERSION));
}

/* ---------------------------------------------------------------------------
 * rnn.import_model(name text, weights bytea, kind text, info jsonb) -> int
 *
 *   SELECT rnn.import_model('temp_lstm', rnn.export_model('temp_lstm'),
 *                           'forecaster', '{"metrics": {"mse": 0.03}}');
 *
 * Notes:
 *  1. The blob is decoded and checked before anything is stored.
 *  2. kind must match the blob's head: forecaster <-> regression,
 *     classifier <-> classifier, language_model and tagger <-> steps.
 *  3. info may hold hyperparams, normalization, metrics, loss_curve (JSON),
 *     vocabulary and labels (arrays of strings), source_relation (string)
 *     and source_rows (integer); labels must name every class.
 *  4. Metadata is checked as strictly as the weights: hyperparams,
 *     normalization and metrics must be JSON objects, loss_curve an array
 *     or object; and when any of hyperparams, normalization, vocabulary or
 *     labels is given, the model's scoring state is built from them exactly
 *     as scoring would build it (fc_model_info for a forecaster, the
 *     vocabulary and labels of a classifier, language model or tagger), so
 *     metadata that scoring would refuse is refused now and nothing is
 *     stored.  Weights alone (no such keys) are stored as before: such a
 *     model can be exported and inspected, and scoring says what it lacks.
 *  5. Returns the new version; earlier versions stay.
 */
static const char *const import_keys[] = {
	"hyperparams", "vocabulary", "normalization", "labels", "metrics",
	"loss_curve", "source_relation", "source_rows", NULL
};

static void
check_import_keys(Jsonb *info)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;

	if (!JB_ROOT_IS_OBJECT(info))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model info must be a JSON object"),
				 errhint("For example: '{\"labels\": [\"negative\", \"positive\"]}'.")));

	it = JsonbIteratorInit(&info->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
			depth++;
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			depth--;
		else if (tok == WJB_KEY && depth == 1)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);
			bool		known = false;

			for (int i = 0; import_keys[i] != NULL; i++)
				known |= strcmp(key, import_keys[i]) == 0;
			if (!known)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown model info key \"%s\"", key),
						 errhint("Known keys: hyperparams, vocabulary, normalization, labels, "
								 "metrics, loss_curve, source_relation, source_rows.")));
		}
	}
}

/* The head a kind's weights have; -1 for an unknown kind. */
static int
kind_head(const char *kind)
{
	if (strcmp(kind, RNN_KIND_FORECASTER) == 0)
		return RNN_HEAD_REGRESSION;
	if (strcmp(kind, RNN_KIND_CLASSIFIER) == 0)
		return RNN_HEAD_CLASSIFIER;
	if (strcmp(kind, RNN_KIND_LANGUAGE_MODEL) == 0 || strcmp(kind, RNN_KIND_TAGGER) == 0)
		return RNN_HEAD_STEPS;
	return -1;
}

/* hyperparams, normalization, metrics: objects; loss_curve: array or object. */
static void
check_import_shapes(Jsonb *info)
{
	static const char *const keys[] = {"hyperparams", "normalization", "metrics", "loss_curve"};

	for (int i = 0; i < lengthof(keys); i++)
	{
		JsonbValue	k,
				   *v;
		bool		ok;

		k.type = jbvString;
		k.val.string.val = (char *) keys[i];
		k.val.string.len = strlen(keys[i]);
		v = findJsonbValueFromContainer(&info->root, JB_FOBJECT, &k);
		if (v == NULL || v->type == jbvNull)
			continue;
		ok = v->type == jbvBinary &&
			(JsonContainerIsObject(v->val.binary.data) ||
			 (i == 3 && JsonContainerIsArray(v->val.binary.data)));
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model info \"%s\" must be a JSON %s", keys[i],
							i == 3 ? "array or object" : "object"),
					 errhint("rnn.model_info(name) shows the shape a stored model has.")));
	}
}

/*
 * Build the scoring state of the model to be imported from the metadata
 * given, as scoring will: a fake cache entry in a context of its own,
 * deleted afterwards.  Raises what scoring would raise.
 */
static void
check_import_metadata(const char *name, const char *kind, RnnModel *model,
					  const RnnStoreRequest *req)
{
	RnnCachedModel entry;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn_ext import check",
											  ALLOCSET_SMALL_SIZES);

	memset(&entry, 0, sizeof(entry));
	entry.name = (char *) name;
	strlcpy(entry.kind, kind, sizeof(entry.kind));
	entry.cxt = cxt;
	entry.model = model;
	/* values from a tuple may have short varlena headers: unpack */
	entry.hyperparams = req->hyperparams ?
		DatumGetJsonbP(PointerGetDatum(req->hyperparams)) : NULL;
	entry.normalization = req->normalization ?
		DatumGetJsonbP(PointerGetDatum(req->normalization)) : NULL;
	entry.vocabulary = req->vocabulary;
	entry.labels = req->labels;
	if (strcmp(kind, RNN_KIND_FORECASTER) == 0)
		fc_model_info(&entry);
	else if (strcmp(kind, RNN_KIND_CLASSIFIER) == 0)
		rnn_classifier_check(&entry);
	else if (strcmp(kind, RNN_KIND_LANGUAGE_MODEL) == 0)
		rnn_lm_check(&entry);
	else
		rnn_tagger_check(&entry);
	MemoryContextDelete(cxt);
}

PG_FUNCTION_INFO_V1(rnn_import_model);
Datum
rnn_import_model(PG_FUNCTION_ARGS)
{
	char	   *name;
	bytea	   *weights;
	char	   *kind;
	Jsonb	   *info;
	RnnModel   *model;
	RnnStoreRequest req;
	Oid			types[1] = {JSONBOID};
	Datum		values[1];
	int			ret;
	int32		version;
	MemoryContext caller_cxt;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null",
						PG_ARGISNULL(0) ? "name" : PG_ARGISNULL(1) ? "weights" : "kind")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	weights = PG_GETARG_BYTEA_P(1);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	info = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);

	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	rnn_check_model_name(name);
	if (kind_head(kind) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model kind \"%s\"", kind),
				 errhint("Use \"forecaster\", \"classifier\", \"language_model\" or \"tagger\".")));

	model = rnn_decode_or_raise(weights,
								psprintf("could not import model \"%s\"", name));

	if ((int) model->cfg.head != kind_head(kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model kind \"%s\" does not match the weights", kind),
				 errdetail("The weights have a %s head.", head_name(model->cfg.head)),
				 errhint("A regression head is a \"forecaster\", a classifier head a \"classifier\", "
						 "a steps head a \"language_model\" or a \"tagger\".")));

	memset(&req, 0, sizeof(req));
	req.name = name;
	req.kind = kind;
	req.cell = rnn_cell_name(model->cfg.cell);
	req.weights = weights;
	req.source_rows = -1;

	if (info != NULL)
	{
		check_import_keys(info);
		check_import_shapes(info);

		/* Let SQL convert the JSON values to the column types. */
		caller_cxt = CurrentMemoryContext;
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		values[0] = JsonbPGetDatum(info);
		ret = SPI_execute_with_args("SELECT $1->'hyperparams', "
									" CASE WHEN $1 ? 'vocabulary' THEN "
									"  ARRAY(SELECT pg_catalog.jsonb_array_elements_text($1->'vocabulary')) END, "
									" $1->'normalization', "
									" CASE WHEN $1 ? 'labels' THEN "
									"  ARRAY(SELECT pg_catalog.jsonb_array_elements_text($1->'labels')) END, "
									" $1->'metrics', $1->'loss_curve', $1->>'source_relation', "
									" ($1->>'source_rows')::pg_catalog.int8",
									1, types, values, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read model info: SPI error %d", ret);
		else
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum		d;

			/* SPI_getbinval points into SPI memory: copy what we keep */
#define COPY_COL(col) \
			(d = SPI_getbinval(tup, desc, col, &isnull), isnull ? (Datum) 0 : SPI_datumTransfer(d, false, -1))
			req.hyperparams = (Jsonb *) DatumGetPointer(COPY_COL(1));
			req.vocabulary = (ArrayType *) DatumGetPointer(COPY_COL(2));
			req.normalization = (Jsonb *) DatumGetPointer(COPY_COL(3));
			req.labels = (ArrayType *) DatumGetPointer(COPY_COL(4));
			req.metrics = (Jsonb *) DatumGetPointer(COPY_COL(5));
			req.loss_curve = (Jsonb *) DatumGetPointer(COPY_COL(6));
#undef COPY_COL
			d = SPI_getbinval(tup, desc, 7, &isnull);
			req.source_relation = isnull ? NULL : SPI_getvalue(tup, desc, 7);
			if (req.source_relation)
				req.source_relation = MemoryContextStrdup(caller_cxt, req.source_relation);
			d = SPI_getbinval(tup, desc, 8, &isnull);
			req.source_rows = isnull ? -1 : DatumGetInt64(d);
		}
		SPI_finish();

		/* values from a tuple may have short varlena headers: unpack */
		if (req.vocabulary)
			req.vocabulary = DatumGetArrayTypeP(PointerGetDatum(req.vocabulary));
		if (req.labels)
			req.labels = DatumGetArrayTypeP(PointerGetDatum(req.labels));
		if (req.labels != NULL && model->cfg.head == RNN_HEAD_CLASSIFIER &&
			ArrayGetNItems(ARR_NDIM(req.labels), ARR_DIMS(req.labels)) != model->cfg.output_size)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model \"%s\" has %d classes but %d labels were given",
							name, model->cfg.output_size,
							ArrayGetNItems(ARR_NDIM(req.labels), ARR_DIMS(req.labels))),
					 errhint("Give one label per class, in class order.")));
	}

	if (req.hyperparams || req.normalization || req.vocabulary || req.labels)
		check_import_metadata(name, kind, model, &req);
	version = rnn_store_model(&req, NULL);
	rnn_model_free(model);
	PG_RETURN_INT32(version);
}
