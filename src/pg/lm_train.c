/*
 * lm_train.c -- rnn.train_language_model: a character- or word-level
 * language model trained on a text column, in one SQL call.
 *
 *   SELECT * FROM rnn.train_language_model('lines_lm', 'lines'::regclass,
 *                                          text_column => 'body');
 *   NOTICE:  lines_lm: epoch 1/10: train 2.1403, validation 1.8532 nats/token (perplexity 6.38), 12.1 s
 *    version | train_loss | validation_loss | validation_perplexity | ...
 *
 * Steps:
 *  1. Check the arguments and the column; read the texts through SPI with
 *     the caller's rights (text_data.c).  NULL texts and texts without a
 *     token are skipped and counted in a NOTICE; none left is an error.
 *  2. One token stream: the texts in a seeded random order, each preceded
 *     by the boundary id 0, one more at the end (text_model.h).  The last
 *     validation_fraction of the stream is held out (with one text, its
 *     end: char-rnn's split).
 *  3. The vocabulary from the training part of the stream only: every
 *     token is first given an id of a full vocabulary, then the
 *     vocab_size - 2 most frequent in the training part (at least
 *     min_count times; ties in byte order, as tokenizer.h) keep theirs and
 *     the rest become <unk>.
 *  4. rnn_fit_stream: batch_size parallel streams, truncated BPTT in chunks
 *     of bptt steps with the state carried, Adam, dropout, early stopping
 *     on the validation loss with the best epoch restored, max_seconds.  A
 *     NOTICE and pg_stat_activity.query per epoch; interrupts every chunk.
 *  5. A new version of kind 'language_model' in rnn.models.
 *
 * Memory: one context for everything, deleted at the end (freed with the
 * transaction on error or cancel); the engine's part and the stream are
 * checked against rnn.max_train_memory first.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "classify.h"
#include "jsonb_util.h"
#include "text_data.h"
#include "text_model.h"

/* ---------------------------------------------------------------------------
 * Arguments
 */
typedef struct LmArgs
{
	char	   *model_name;
	Oid			relid;
	char	   *text_column;
	char	   *tokens_name;
	RnnTokMode	mode;
	RnnCellKind cell;
	int			num_layers;
	int			embedding_dim;
	int			hidden_size;
	double		dropout;
	int			vocab_size;
	int			min_count;
	int			epochs;
	int			batch_size;
	int			bptt;
	double		learning_rate;
	double		validation_fraction;
	int			patience;
	int64		seed;
	double		clip_norm;
	double		max_seconds;
} LmArgs;

static const char *const arg_names[] = {
	"model_name", "relation", "text_column", "tokens", "cell", "num_layers",
	"embedding_dim", "hidden_size", "dropout", "vocab_size", "min_count", "epochs",
	"batch_size", "bptt", "learning_rate", "validation_fraction", "patience", "seed",
	"clip_norm", "max_seconds"
};

static void
parse_args(FunctionCallInfo fcinfo, LmArgs *a)
{
	bool		ok;

	rnn_require_args(fcinfo, "rnn.train_language_model", arg_names, lengthof(arg_names));
	a->model_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rnn_check_model_name(a->model_name);
	a->relid = PG_GETARG_OID(1);
	a->text_column = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	a->tokens_name = text_to_cstring(PG_GETARG_TEXT_PP(3));
	a->mode = rnn_lm_tok_mode(a->tokens_name, &ok);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tokens mode \"%s\"", a->tokens_name),
				 errhint("Use char (every character as it is) or word (lower-cased words "
						 "and punctuation).")));
	a->cell = rnn_parse_cell(text_to_cstring(PG_GETARG_TEXT_PP(4)));
	a->num_layers = PG_GETARG_INT32(5);
	rnn_check_int_arg("num_layers", a->num_layers, 1, RNN_MAX_LAYERS);
	a->embedding_dim = PG_GETARG_INT32(6);
	rnn_check_int_arg("embedding_dim", a->embedding_dim, 1, 4096);
	a->hidden_size = PG_GETARG_INT32(7);
	rnn_check_int_arg("hidden_size", a->hidden_size, 1, RNN_MAX_HIDDEN);
	a->dropout = PG_GETARG_FLOAT8(8);
	rnn_check_real_arg("dropout", a->dropout, 0, 1, true);
	a->vocab_size = PG_GETARG_INT32(9);
	rnn_check_int_arg("vocab_size", a->vocab_size, 3, RNN_MAX_OUTPUT);
	a->min_count = PG_GETARG_INT32(10);
	rnn_check_int_arg("min_count", a->min_count, 1, INT_MAX);
	a->epochs = PG_GETARG_INT32(11);
	rnn_check_int_arg("epochs", a->epochs, 1, 100000);
	a->batch_size = PG_GETARG_INT32(12);
	rnn_check_int_arg("batch_size", a->batch_size, 1, 100000);
	a->bptt = PG_GETARG_INT32(13);
	rnn_check_int_arg("bptt", a->bptt, 1, 100000);
	a->learning_rate = PG_GETARG_FLOAT8(14);
	rnn_check_real_arg("learning_rate", a->learning_rate, 1e-9, 10, false);
	a->validation_fraction = PG_GETARG_FLOAT8(15);
	rnn_check_real_arg("validation_fraction", a->validation_fraction, 0, 0.9, false);
	a->patience = PG_GETARG_INT32(16);
	rnn_check_int_arg("patience", a->patience, 0, 100000);
	a->seed = PG_GETARG_INT64(17);
	a->clip_norm = PG_GETARG_FLOAT8(18);
	rnn_check_real_arg("clip_norm", a->clip_norm, 0, 1e6, false);
	a->max_seconds = PG_GETARG_FLOAT8(19);
	rnn_check_real_arg("max_seconds", a->max_seconds, 0, 1e9, false);
}

/* ---------------------------------------------------------------------------
 * 1. Reading
 */
static void
read_texts(const LmArgs *a, const char *relname, MemoryContext data_cxt, RnnTexts *texts)
{
	rnn_text_column_require_text(a->relid, relname, a->text_column);
	rnn_texts_init(texts);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rnn_texts_read_column(texts, relname, a->text_column, a->mode, data_cxt);
	SPI_finish();

	if (texts->skipped_null > 0 || texts->skipped_empty > 0)
		ereport(NOTICE,
				(errmsg("skipped %lld rows with a NULL text and %lld texts without tokens",
						(long long) texts->skipped_null, (long long) texts->skipped_empty)));
	if (texts->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation %s has no text to train on", relname),
				 errdetail("Column \"%s\" has no non-NULL text with at least one token.",
						   a->text_column)));
}

/* ---------------------------------------------------------------------------
 * 2-3. The stream and its vocabulary
 */
typedef struct Stream
{
	int32	   *ids;			/* (n) boundary, text, boundary, text, ..., boundary */
	Size		n;
	Size		n_train;		/* ids[0 .. n_train) */
	Size		valid_start;	/* ids[valid_start .. n): validation (may be n) */
	RnnVocab   *vocab;
} Stream;

typedef struct TokCount
{
	int32		id;				/* in the full vocabulary */
	int64		count;			/* in the training part */
	const char *tok;
	size_t		len;
} TokCount;

static int
cmp_tok_count(const void *a, const void *b)
{
	const TokCount *x = a,
			   *y = b;
	int			c;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	c = memcmp(x->tok, y->tok, Min(x->len, y->len));
	if (c != 0)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

static void
build_stream(const LmArgs *a, const RnnTexts *texts, Stream *st)
{
	int		   *order = palloc(sizeof(int) * texts->n);
	RnnVocab   *full;
	RnnRng		rng;
	Size		pos;
	int			V_full;
	TokCount   *tc;
	int32	   *map;
	int			keep;
	const char **vtok;
	size_t	   *vlen;
	RnnTokStatus tst;
	size_t		err_index = 0;
	Size		n_tokens = 0;

	/* the texts in a seeded random order */
	for (int i = 0; i < texts->n; i++)
		order[i] = i;
	rnn_rng_seed(&rng, (uint64_t) a->seed);
	rnn_rng_shuffle(&rng, order, texts->n);

	/* a full vocabulary first: every distinct token gets an id */
	full = rnn_texts_vocab(texts, order, texts->n, a->mode, 1, RNN_MAX_VOCAB);
	V_full = rnn_vocab_size(full);
	for (int k = 0; k < texts->n; k++)
	{
		size_t		len,
					nt = 0;
		const char *s = rnn_texts_get(texts, order[k], &len);

		rnn_tokenize(s, len, a->mode, NULL, NULL, 0, &nt, &nt, NULL);
		n_tokens += nt;
	}
	st->n = n_tokens + texts->n + 1;
	rnn_check_train_memory(sizeof(int32) * st->n * 2,
						   psprintf("reading the texts of model \"%s\"", a->model_name));
	st->ids = palloc_extended(sizeof(int32) * st->n, MCXT_ALLOC_HUGE);
	pos = 0;
	for (int k = 0; k < texts->n; k++)
	{
		size_t		len,
					n_ids = 0,
					n_total = 0,
					err_offset = 0;
		const char *s = rnn_texts_get(texts, order[k], &len);

		CHECK_FOR_INTERRUPTS();
		st->ids[pos++] = RNN_LM_BOUNDARY;
		tst = rnn_vocab_encode(full, s, len, st->ids + pos, st->n - pos, &n_ids, &n_total,
							   NULL, &err_offset);
		rnn_raise_tok_status(tst, err_offset, "could not encode a text");
		pos += n_ids;
	}
	st->ids[pos++] = RNN_LM_BOUNDARY;
	Assert(pos == st->n);

	/* split: the last validation_fraction of the stream */
	{
		Size		n_valid = (Size) floor(st->n * a->validation_fraction + 0.5);

		if (n_valid < 2 || st->n - n_valid < 2)
			n_valid = 0;
		st->n_train = st->n - n_valid + (n_valid > 0 ? 1 : 0);
		st->valid_start = st->n - n_valid;
		if (n_valid == 0)
			st->n_train = st->n;
	}

	/* the vocabulary of the training part: counts there, most frequent first */
	tc = palloc0(sizeof(TokCount) * V_full);
	for (int i = 0; i < V_full; i++)
	{
		tc[i].id = i;
		tc[i].tok = rnn_vocab_token(full, i, &tc[i].len);
	}
	for (Size i = 0; i < st->n_train; i++)
		tc[st->ids[i]].count++;
	qsort(tc + 2, V_full - 2, sizeof(TokCount), cmp_tok_count);
	keep = 0;
	while (keep < V_full - 2 && keep < a->vocab_size - 2 && tc[2 + keep].count >= a->min_count)
		keep++;
	map = palloc(sizeof(int32) * V_full);
	for (int i = 0; i < V_full; i++)
		map[i] = RNN_VOCAB_UNK;
	map[RNN_VOCAB_PAD] = RNN_VOCAB_PAD;
	vtok = palloc(sizeof(char *) * (keep + 2));
	vlen = palloc(sizeof(size_t) * (keep + 2));
	vtok[0] = RNN_VOCAB_PAD_STR;
	vlen[0] = strlen(RNN_VOCAB_PAD_STR);
	vtok[1] = RNN_VOCAB_UNK_STR;
	vlen[1] = strlen(RNN_VOCAB_UNK_STR);
	for (int k = 0; k < keep; k++)
	{
		map[tc[2 + k].id] = k + 2;
		vtok[k + 2] = tc[2 + k].tok;
		vlen[k + 2] = tc[2 + k].len;
	}
	tst = rnn_vocab_from_strings(&st->vocab, a->mode, vtok, vlen, keep + 2, &err_index);
	rnn_raise_tok_status(tst, err_index, "could not build the vocabulary");
	for (Size i = 0; i < st->n; i++)
		st->ids[i] = map[st->ids[i]];
	rnn_vocab_free(full);
}

/* ---------------------------------------------------------------------------
 * 4. Fitting
 */
typedef struct LmProgress
{
	const char *model_name;
	int			epochs;
	StringInfo	curve;
	double	   *train_loss;		/* (epochs) */
} LmProgress;

static void
on_batch(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

static int
on_epoch(void *ctx, const RnnEpochReport *r)
{
	LmProgress *pr = ctx;

	pr->train_loss[r->epoch - 1] = r->train_loss;
	if (rnn_progress_guc)
	{
		if (isfinite(r->valid_loss))
			ereport(NOTICE,
					(errmsg("%s: epoch %d/%d: train %.4f, validation %.4f nats/token (perplexity %.2f), %.1f s",
							pr->model_name, r->epoch, pr->epochs, r->train_loss, r->valid_loss,
							exp(r->valid_loss), r->seconds)));
		else
			ereport(NOTICE,
					(errmsg("%s: epoch %d/%d: train %.4f nats/token, %.1f s",
							pr->model_name, r->epoch, pr->epochs, r->train_loss, r->seconds)));
	}
	rnn_report_progress("rnn.train_language_model('%s'): epoch %d/%d, train %.4f, validation %.4f nats/token",
						pr->model_name, r->epoch, pr->epochs, r->train_loss, r->valid_loss);
	appendStringInfo(pr->curve, "%s{\"epoch\": %d, \"train_loss\": ", r->epoch > 1 ? ", " : "",
					 r->epoch);
	rnn_json_append_number(pr->curve, r->train_loss);
	appendStringInfoString(pr->curve, ", \"validation_loss\": ");
	rnn_json_append_number(pr->curve, r->valid_loss);
	appendStringInfoString(pr->curve, ", \"seconds\": ");
	rnn_json_append_number(pr->curve, r->seconds);
	appendStringInfoChar(pr->curve, '}');
	return 0;
}

static RnnModel *
create_model(const LmArgs *a, const Stream *st)
{
	RnnConfig	cfg;
	RnnModel   *model;
	const char *why = NULL;
	Size		need;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = a->cell;
	cfg.num_layers = a->num_layers;
	cfg.vocab_size = rnn_vocab_size(st->vocab);
	cfg.embedding_dim = a->embedding_dim;
	cfg.hidden_size = a->hidden_size;
	cfg.output_size = cfg.vocab_size;
	cfg.head = RNN_HEAD_STEPS;
	cfg.pooling = RNN_POOL_LAST;
	cfg.dropout = (float) a->dropout;
	if (rnn_config_validate(&cfg, &why) != RNN_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model configuration: %s is out of range", why ? why : "a value")));
	need = rnn_fit_stream_memory(&cfg, a->batch_size, a->bptt);
	if (need != SIZE_MAX)
		need += rnn_param_count(&cfg) * sizeof(float) + sizeof(int32) * st->n;
	rnn_check_train_memory(need, psprintf("training model \"%s\"", a->model_name));
	rnn_check_status(rnn_model_create(&model, &cfg), "could not create the model");
	rnn_model_init(model, (uint64_t) a->seed);
	return model;
}

static RnnFitResult
fit_model(const LmArgs *a, RnnModel *model, const Stream *st, LmProgress *pr)
{
	RnnStreamOptions so;
	RnnFitResult fr;

	rnn_stream_defaults(&so);
	so.epochs = a->epochs;
	so.batch_size = a->batch_size;
	so.bptt = a->bptt;
	so.patience = a->patience;
	so.max_seconds = a->max_seconds;
	so.seed = (uint64_t) a->seed;
	so.optim.learning_rate = (float) a->learning_rate;
	so.optim.clip_norm = (float) a->clip_norm;
	so.cb_ctx = pr;
	so.on_batch = on_batch;
	so.on_epoch = on_epoch;
	memset(&fr, 0, sizeof(fr));
	appendStringInfoChar(pr->curve, '[');
	rnn_check_status(rnn_fit_stream(model, st->ids, st->n_train, st->ids + st->valid_start,
									st->n - st->valid_start, &so, &fr),
					 psprintf("could not train model \"%s\"", a->model_name));
	appendStringInfoChar(pr->curve, ']');
	rnn_progress_done();
	return fr;
}

/* ---------------------------------------------------------------------------
 * 5. Storing
 */
static int32
store_model(const LmArgs *a, const char *relname, RnnModel *model, const Stream *st,
			const RnnTexts *texts, const RnnFitResult *fr, double train_loss,
			StringInfo curve)
{
	RnnStoreRequest req;
	uint8_t    *blob;
	size_t		blob_len;
	bytea	   *weights;
	StringInfoData js;
	Size		n_valid = st->n - st->valid_start;

	rnn_check_status(rnn_model_encode(model, &blob, &blob_len), "could not encode the model");
	weights = (bytea *) palloc_extended(blob_len + VARHDRSZ, MCXT_ALLOC_HUGE);
	SET_VARSIZE(weights, blob_len + VARHDRSZ);
	memcpy(VARDATA(weights), blob, blob_len);
	rnn_free(blob);

	memset(&req, 0, sizeof(req));
	req.name = a->model_name;
	req.kind = RNN_KIND_LANGUAGE_MODEL;
	req.cell = rnn_cell_name(a->cell);
	req.source_relation = relname;
	req.source_rows = texts->n;
	req.weights = weights;
	req.vocabulary = rnn_vocab_array(st->vocab);

	initStringInfo(&js);
	appendStringInfoString(&js, "{\"text_column\": ");
	escape_json(&js, a->text_column);
	appendStringInfo(&js,
					 ", \"tokens\": \"%s\", \"cell\": \"%s\", \"num_layers\": %d, "
					 "\"embedding_dim\": %d, \"hidden_size\": %d, \"dropout\": %g, "
					 "\"vocab_size\": %d, \"min_count\": %d, \"epochs\": %d, \"batch_size\": %d, "
					 "\"bptt\": %d, \"learning_rate\": %g, \"validation_fraction\": %g, "
					 "\"patience\": %d, \"seed\": " INT64_FORMAT ", \"clip_norm\": %g, "
					 "\"max_seconds\": %g}",
					 a->tokens_name, rnn_cell_name(a->cell), a->num_layers, a->embedding_dim,
					 a->hidden_size, a->dropout, a->vocab_size, a->min_count, a->epochs,
					 a->batch_size, a->bptt, a->learning_rate, a->validation_fraction,
					 a->patience, a->seed, a->clip_norm, a->max_seconds);
	req.hyperparams = rnn_jsonb_from_text(js.data);

	resetStringInfo(&js);
	appendStringInfo(&js, "{\"train\": {\"tokens\": %zu, \"loss\": ", (size_t) st->n_train);
	rnn_json_append_number(&js, train_loss);
	appendStringInfoString(&js, "}, \"validation\": ");
	if (n_valid > 0)
	{
		appendStringInfo(&js, "{\"tokens\": %zu, \"loss\": ", (size_t) n_valid);
		rnn_json_append_number(&js, fr->best_valid_loss);
		appendStringInfoString(&js, ", \"perplexity\": ");
		rnn_json_append_number(&js, exp(fr->best_valid_loss));
		appendStringInfoChar(&js, '}');
	}
	else
		appendStringInfoString(&js, "null");
	appendStringInfo(&js, ", \"epochs\": %d, \"best_epoch\": %d, \"seconds\": %.3f, "
					 "\"vocabulary_size\": %d, \"texts\": %d, \"skipped_rows\": %lld}",
					 fr->epochs_run, fr->best_epoch, fr->seconds, rnn_vocab_size(st->vocab),
					 texts->n, (long long) (texts->skipped_null + texts->skipped_empty));
	req.metrics = rnn_jsonb_from_text(js.data);
	req.loss_curve = rnn_jsonb_from_text(curve->data);
	return rnn_store_model(&req, NULL);
}

/* ---------------------------------------------------------------------------
 * rnn.train_language_model(...)
 */
PG_FUNCTION_INFO_V1(rnn_train_language_model);
Datum
rnn_train_language_model(PG_FUNCTION_ARGS)
{
	LmArgs		a;
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext train_cxt;
	TupleDesc	result_desc;
	char	   *relname;
	RnnTexts	texts;
	Stream		st;
	RnnModel   *model;
	LmProgress	pr;
	StringInfoData curve;
	RnnFitResult fr;
	double		train_loss;
	int32		version;
	Datum		values[10];
	bool		nulls[10];
	HeapTuple	tup;
	Size		n_valid;

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	result_desc = BlessTupleDesc(result_desc);

	parse_args(fcinfo, &a);
	relname = rnn_text_relation(a.relid);
	rnn_require_blas();
	train_cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn_ext train_language_model",
									  ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(train_cxt);

	/* 1. texts; 2-3. stream, split, vocabulary of the training part */
	read_texts(&a, relname, train_cxt, &texts);
	build_stream(&a, &texts, &st);
	pfree(texts.text);
	texts.text = NULL;

	/* 4. model, fit */
	model = create_model(&a, &st);
	initStringInfo(&curve);
	memset(&pr, 0, sizeof(pr));
	pr.model_name = a.model_name;
	pr.epochs = a.epochs;
	pr.curve = &curve;
	pr.train_loss = palloc0(sizeof(double) * a.epochs);
	fr = fit_model(&a, model, &st, &pr);
	train_loss = fr.best_epoch > 0 ? pr.train_loss[fr.best_epoch - 1] : NAN;

	/* 5. stored */
	version = store_model(&a, relname, model, &st, &texts, &fr, train_loss, &curve);

	MemoryContextSwitchTo(caller_cxt);
	n_valid = st.n - st.valid_start;
	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(version);
	values[1] = Float8GetDatum(train_loss);
	nulls[1] = !isfinite(train_loss);
	values[2] = Float8GetDatum(fr.best_valid_loss);
	values[3] = Float8GetDatum(exp(fr.best_valid_loss));
	nulls[2] = nulls[3] = n_valid == 0;
	values[4] = Int32GetDatum(fr.epochs_run);
	values[5] = Int32GetDatum(fr.best_epoch);
	values[6] = Float8GetDatum(fr.seconds);
	values[7] = Int32GetDatum(rnn_vocab_size(st.vocab));
	values[8] = Int64GetDatum((int64) st.n_train);
	values[9] = Int64GetDatum((int64) n_valid);
	tup = heap_form_tuple(result_desc, values, nulls);
	MemoryContextDelete(train_cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}
