/*
 * stream.c -- running sentiment over a stream of messages, carrying the
 * recurrent state from one message to the next.
 *
 *   SELECT chat, ts, msg,
 *          rnn.sentiment_running('chat_gru', msg)
 *            OVER (PARTITION BY chat ORDER BY ts) AS mood
 *     FROM messages;
 *
 *    chat | ts | msg                    | mood
 *   ------+----+------------------------+------
 *       1 |  1 | hi , the room is great | 0.91
 *       1 |  2 | but the wifi is awful  | 0.34    = rnn.sentiment('chat_gru',
 *       1 |  3 | and breakfast was cold | 0.12        'hi , ... awful and breakfast was cold')
 *
 *   -- a stream kept in a table across transactions
 *   UPDATE chats SET state = rnn.stream_step('chat_gru', state, 'thanks !')
 *    WHERE chat = 1 RETURNING rnn.stream_score('chat_gru', state);
 *
 *   -- scores filled in on INSERT
 *   CREATE TRIGGER score BEFORE INSERT OR UPDATE OF body ON reviews
 *     FOR EACH ROW EXECUTE FUNCTION rnn.sentiment_trigger('review_gru', 'body', 'score');
 *
 * Notes:
 *  1. The score after a row equals rnn.sentiment() of the messages so far
 *     joined with ' ' (up to float rounding), while each row costs only its
 *     own tokens: the state is the recurrent layers' h (and LSTM c) after
 *     the last token.  This is exact only for unidirectional models with
 *     pooling 'last' (the head reads the final state of the top layer): a
 *     reverse direction reads from the end, and max/mean pooling is not a
 *     function of the final state.  Other models get an error with a hint.
 *  2. A stream is never cut to max_tokens, where rnn.sentiment cuts a long
 *     text (head + tail): past max_tokens tokens in all, the two differ.
 *  3. In char mode the messages are joined by one " " token, as joining
 *     them with ' ' would give.
 *  4. NULL messages are skipped; until the first non-NULL message the
 *     running score is NULL.  Messages without tokens leave the state as is;
 *     a stream without any token scores the training class prior.
 *  5. A model with an n-gram path (ngram.h) carries it in the state as the
 *     running sum of its weights over the tokens so far and the last token
 *     (the first token of the next message makes a bigram with it, as in
 *     the joined text).  The sum is added in token order, as rnn.sentiment
 *     adds it, so that part of the score is exactly the joined text's.
 *  6. rnn.sentiment_running is an aggregate with FINALFUNC_MODIFY =
 *     READ_ONLY: over the default growing frame the window machinery keeps
 *     the state and only adds each new row.  The state holds the model name
 *     because a final function's extra arguments arrive as NULLs.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"

#include "classify.h"

/* ---------------------------------------------------------------------------
 * Stream state
 */
typedef struct StreamState
{
	int64		model_id;		/* rnn.models.id of the model that wrote it */
	int			n_states;		/* num_layers * directions (1) */
	int			hidden;
	bool		has_c;			/* LSTM */
	int64		n_tokens;		/* tokens fed so far */
	float	   *h;				/* (n_states, hidden) */
	float	   *c;				/* (n_states, hidden) or NULL */
	int			ngram_classes;	/* n-gram path: its classes, else 0 */
	int32		last_id;		/* the last token fed (n_tokens > 0) */
	float	   *ngram_sum;		/* (ngram_classes) weights summed so far */
} StreamState;

static void
require_streamable(const RnnClassifier *clf, const char *name)
{
	const RnnConfig *cfg = &clf->model->cfg;

	if (clf->streamable)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("model \"%s\" cannot score a stream", name),
			 errdetail(cfg->bidirectional ?
					   "It is bidirectional: its reverse direction reads each text from the end, "
					   "so a running score would need the whole text again at every row." :
					   "It pools over time (max or mean), so its score is not a function of "
					   "the final recurrent state."),
			 errhint("Train a streaming model with bidirectional => false, pooling => 'last', "
					 "or score the joined text with rnn.sentiment().")));
}

static void
state_init(StreamState *st, const RnnCachedModel *entry, MemoryContext cxt)
{
	const RnnConfig *cfg = &entry->model->cfg;
	Size		n;

	st->model_id = entry->key.id;
	st->n_states = cfg->num_layers * (cfg->bidirectional ? 2 : 1);
	st->hidden = cfg->hidden_size;
	st->has_c = cfg->cell == RNN_CELL_LSTM;
	st->n_tokens = 0;
	n = (Size) st->n_states * st->hidden;
	st->h = MemoryContextAllocZero(cxt, sizeof(float) * n);
	st->c = st->has_c ? MemoryContextAllocZero(cxt, sizeof(float) * n) : NULL;
	st->ngram_classes = entry->ngram ? entry->ngram->n_classes : 0;
	st->last_id = -1;
	st->ngram_sum = st->ngram_classes > 0 ?
		MemoryContextAllocZero(cxt, sizeof(float) * st->ngram_classes) : NULL;
}

/*
 * Feed one message.  *ids / *ids_cap: token buffer, grown in cxt when a
 * message has more tokens.
 */
static void
state_feed(StreamState *st, RnnClassifier *clf, const char *name, const char *text, int len,
		   int32 **ids, int *ids_cap, MemoryContext cxt)
{
	const char *utf8;
	int			ulen;
	size_t		n_ids = 0,
				n_total = 0,
				err_offset = 0;
	RnnTokStatus tst;
	int			pos;
	int			n;
	Size		n_state = (Size) st->n_states * st->hidden;
	bool		sep = clf->mode == RNN_TOK_CHAR && st->n_tokens > 0;

	utf8 = rnn_text_to_utf8(text, len, &ulen);
	for (;;)
	{
		if (*ids == NULL || *ids_cap < 2)
		{
			*ids_cap = Max(*ids_cap, 64);
			*ids = MemoryContextAlloc(cxt, sizeof(int32) * *ids_cap);
		}
		/* slot 0 is kept for the char-mode separator */
		tst = rnn_vocab_encode(clf->vocab, utf8, ulen, *ids + 1, *ids_cap - 1, &n_ids,
							   &n_total, NULL, &err_offset);
		rnn_raise_tok_status(tst, err_offset, "could not tokenize the message");
		if (n_total <= n_ids)
			break;
		if (n_total + 1 > MaxAllocSize / sizeof(int32))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("message has too many tokens")));
		pfree(*ids);
		*ids_cap = (int) n_total + 1;
		*ids = MemoryContextAlloc(cxt, sizeof(int32) * *ids_cap);
	}
	if (utf8 != text)
		pfree((char *) utf8);
	if (n_ids == 0)
		return;

	pos = 1;
	n = (int) n_ids;
	if (sep)
	{
		(*ids)[0] = clf->space_id;
		pos = 0;
		n++;
	}

	if (clf->ngram)
	{
		rnn_ngram_accumulate(clf->ngram, *ids + pos, n, st->n_tokens > 0 ? st->last_id : -1,
							 st->ngram_sum);
		st->last_id = (*ids)[pos + n - 1];
	}

	/* in pieces of at most max_tokens steps, each from the last state */
	while (n > 0)
	{
		int			T = Min(n, clf->max_tokens);
		RnnBatch	batch;

		memset(&batch, 0, sizeof(batch));
		batch.B = 1;
		batch.T = T;
		batch.lengths = &T;
		batch.tokens = *ids + pos;
		rnn_infer_set_state(clf->inf, st->h, st->c);
		rnn_check_status(rnn_infer(clf->inf, &batch, clf->logits),
						 psprintf("could not score a message with model \"%s\"", name));
		rnn_infer_set_state(clf->inf, NULL, NULL);
		memcpy(st->h, rnn_infer_h_n(clf->inf), sizeof(float) * n_state);
		if (st->has_c)
			memcpy(st->c, rnn_infer_c_n(clf->inf), sizeof(float) * n_state);
		st->n_tokens += T;
		pos += T;
		n -= T;
	}
}

/* P(positive) of a state (the prior before any token). */
static double
state_score(const StreamState *st, RnnClassifier *clf)
{
	double		probs[2];

	if (st->n_tokens == 0)
		return clf->prior[1];
	/* top layer's final state, forward direction */
	rnn_head_forward(clf->model, st->h + (Size) (st->n_states - 1) * st->hidden, 1, clf->logits);
	for (int c = 0; c < st->ngram_classes; c++)
		clf->logits[c] += st->ngram_sum[c];
	rnn_softmax(clf->logits, 2, probs);
	return probs[1];
}

static void
check_state_model(const StreamState *st, const RnnCachedModel *entry, const char *name)
{
	const RnnConfig *cfg = &entry->model->cfg;

	if (st->model_id != entry->key.id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream state was written by another version of model \"%s\"", name),
				 errdetail("Model \"%s\" is now version %d; the state was written by another one.",
						   name, entry->version),
				 errhint("Start the stream again from a NULL state.")));
	if (st->n_states != cfg->num_layers * (cfg->bidirectional ? 2 : 1) || st->hidden != cfg->hidden_size ||
		st->has_c != (cfg->cell == RNN_CELL_LSTM))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stream state does not match model \"%s\"", name),
				 errdetail("The state holds %d layers of %d units, the model %d of %d.",
						   st->n_states, st->hidden, cfg->num_layers, cfg->hidden_size)));
	if (st->ngram_classes != (entry->ngram ? entry->ngram->n_classes : 0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stream state does not match model \"%s\"", name),
				 errdetail("The state holds an n-gram sum of %d classes, the model's n-gram path %d.",
						   st->ngram_classes, entry->ngram ? entry->ngram->n_classes : 0)));
}

/* ---------------------------------------------------------------------------
 * State encoding (bytea), native byte order like PostgreSQL's own datums:
 *
 *   "RNNS" | u32 format version (1) | i64 model id | u32 n_states |
 *   u32 hidden | u32 has_c | u32 ngram_classes | i64 n_tokens |
 *   float h[n_states * hidden] | float c[n_states * hidden] (LSTM only) |
 *   i32 last_id, float ngram_sum[ngram_classes] (n-gram path only)
 *
 * ngram_classes was a reserved 0 before models had an n-gram path, so
 * states of models without one read as before.
 */
#define STREAM_MAGIC "RNNS"
#define STREAM_FORMAT_VERSION 1
#define STREAM_HEADER 40

static Size
state_bytes(const StreamState *st)
{
	Size		n = (Size) st->n_states * st->hidden;

	return STREAM_HEADER + sizeof(float) * n * (st->has_c ? 2 : 1) +
		(st->ngram_classes > 0 ? sizeof(int32) + sizeof(float) * st->ngram_classes : 0);
}

static bytea *
state_encode(const StreamState *st)
{
	Size		n = (Size) st->n_states * st->hidden;
	Size		len = state_bytes(st);
	bytea	   *out = palloc(VARHDRSZ + len);
	char	   *p = VARDATA(out);
	uint32		u;

	SET_VARSIZE(out, VARHDRSZ + len);
	memcpy(p, STREAM_MAGIC, 4);
	u = STREAM_FORMAT_VERSION;
	memcpy(p + 4, &u, 4);
	memcpy(p + 8, &st->model_id, 8);
	u = st->n_states;
	memcpy(p + 16, &u, 4);
	u = st->hidden;
	memcpy(p + 20, &u, 4);
	u = st->has_c;
	memcpy(p + 24, &u, 4);
	u = st->ngram_classes;
	memcpy(p + 28, &u, 4);
	memcpy(p + 32, &st->n_tokens, 8);
	p += STREAM_HEADER;
	memcpy(p, st->h, sizeof(float) * n);
	p += sizeof(float) * n;
	if (st->has_c)
	{
		memcpy(p, st->c, sizeof(float) * n);
		p += sizeof(float) * n;
	}
	if (st->ngram_classes > 0)
	{
		memcpy(p, &st->last_id, sizeof(int32));
		memcpy(p + sizeof(int32), st->ngram_sum, sizeof(float) * st->ngram_classes);
	}
	return out;
}

static void
bad_state(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid stream state"),
			 errdetail("%s", detail),
			 errhint("Stream states come from rnn.stream_step(); start a stream from NULL.")));
}

static void
state_decode(const bytea *b, StreamState *st)
{
	const char *p = VARDATA_ANY(b);
	Size		len = VARSIZE_ANY_EXHDR(b);
	uint32		u;
	Size		n;

	if (len < STREAM_HEADER || memcmp(p, STREAM_MAGIC, 4) != 0)
		bad_state("It does not start with an rnn_ext stream header.");
	memcpy(&u, p + 4, 4);
	if (u != STREAM_FORMAT_VERSION)
		bad_state(psprintf("It has format version %u; this rnn_ext reads version %d.",
						   u, STREAM_FORMAT_VERSION));
	memcpy(&st->model_id, p + 8, 8);
	memcpy(&u, p + 16, 4);
	if (u < 1 || u > 2 * RNN_MAX_LAYERS)
		bad_state("Its layer count is out of range.");
	st->n_states = (int) u;
	memcpy(&u, p + 20, 4);
	if (u < 1 || u > RNN_MAX_HIDDEN)
		bad_state("Its hidden size is out of range.");
	st->hidden = (int) u;
	memcpy(&u, p + 24, 4);
	if (u > 1)
		bad_state("Its cell flag is out of range.");
	st->has_c = u == 1;
	memcpy(&u, p + 28, 4);
	if (u > RNN_MAX_OUTPUT)
		bad_state("Its n-gram class count is out of range.");
	st->ngram_classes = (int) u;
	memcpy(&st->n_tokens, p + 32, 8);
	if (st->n_tokens < 0)
		bad_state("Its token count is negative.");
	n = (Size) st->n_states * st->hidden;
	if (len != state_bytes(st))
		bad_state(psprintf("It is %zu bytes long, not the %zu its header implies.",
						   (size_t) len, (size_t) state_bytes(st)));
	p += STREAM_HEADER;
	st->h = palloc(sizeof(float) * n);
	memcpy(st->h, p, sizeof(float) * n);
	p += sizeof(float) * n;
	st->c = NULL;
	if (st->has_c)
	{
		st->c = palloc(sizeof(float) * n);
		memcpy(st->c, p, sizeof(float) * n);
		p += sizeof(float) * n;
	}
	st->last_id = -1;
	st->ngram_sum = NULL;
	if (st->ngram_classes > 0)
	{
		memcpy(&st->last_id, p, sizeof(int32));
		st->ngram_sum = palloc(sizeof(float) * st->ngram_classes);
		memcpy(st->ngram_sum, p + sizeof(int32), sizeof(float) * st->ngram_classes);
		if (st->last_id < -1)
			bad_state("Its last token id is negative.");
	}
}

/* ---------------------------------------------------------------------------
 * rnn.sentiment_running(model text, body text): window aggregate
 */
typedef struct RunningState
{
	char	   *name;			/* the model, for the final function */
	StreamState st;
	int32	   *ids;
	int			ids_cap;
} RunningState;

PG_FUNCTION_INFO_V1(rnn_sentiment_running_step);
Datum
rnn_sentiment_running_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RunningState *rs = PG_ARGISNULL(0) ? NULL : (RunningState *) PG_GETARG_POINTER(0);
	char	   *name;
	RnnCachedModel *entry;
	RnnClassifier *clf;
	text	   *body;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "rnn_sentiment_running_step called in non-aggregate context");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (rs == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(rs);
	}

	name = rs ? rs->name : text_to_cstring(PG_GETARG_TEXT_PP(1));
	clf = rnn_classifier_get(fcinfo, name, &entry);
	if (rs == NULL)
	{
		rnn_classifier_require_binary(clf, name, "rnn.sentiment_running()");
		require_streamable(clf, name);
		rs = MemoryContextAllocZero(aggcxt, sizeof(RunningState));
		rs->name = MemoryContextStrdup(aggcxt, name);
		state_init(&rs->st, entry, aggcxt);
	}
	else
		check_state_model(&rs->st, entry, name);

	body = PG_GETARG_TEXT_PP(2);
	state_feed(&rs->st, clf, name, VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body),
			   &rs->ids, &rs->ids_cap, aggcxt);
	PG_RETURN_POINTER(rs);
}

PG_FUNCTION_INFO_V1(rnn_sentiment_running_final);
Datum
rnn_sentiment_running_final(PG_FUNCTION_ARGS)
{
	RunningState *rs;
	RnnCachedModel *entry;
	RnnClassifier *clf;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	rs = (RunningState *) PG_GETARG_POINTER(0);
	clf = rnn_classifier_get(fcinfo, rs->name, &entry);
	check_state_model(&rs->st, entry, rs->name);
	/* READ_ONLY: the state is not modified here */
	PG_RETURN_FLOAT8(state_score(&rs->st, clf));
}

/* ---------------------------------------------------------------------------
 * rnn.stream_step(model text, state bytea, body text) -> bytea
 *
 * The state after one more message; a NULL state starts a stream, a NULL
 * message leaves the state as it is.
 */
PG_FUNCTION_INFO_V1(rnn_stream_step);
Datum
rnn_stream_step(PG_FUNCTION_ARGS)
{
	char	   *name;
	RnnCachedModel *entry;
	RnnClassifier *clf;
	StreamState st;
	text	   *body;
	int32	   *ids = NULL;
	int			ids_cap = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(1))
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(PG_GETARG_BYTEA_PP(1));
	}
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	clf = rnn_classifier_get(fcinfo, name, &entry);
	require_streamable(clf, name);
	if (PG_ARGISNULL(1))
		state_init(&st, entry, CurrentMemoryContext);
	else
	{
		state_decode(PG_GETARG_BYTEA_PP(1), &st);
		check_state_model(&st, entry, name);
	}
	body = PG_GETARG_TEXT_PP(2);
	state_feed(&st, clf, name, VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body),
			   &ids, &ids_cap, CurrentMemoryContext);
	PG_RETURN_BYTEA_P(state_encode(&st));
}

/* ---------------------------------------------------------------------------
 * rnn.stream_score(model text, state bytea) -> float8
 */
PG_FUNCTION_INFO_V1(rnn_stream_score);
Datum
rnn_stream_score(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	RnnCachedModel *entry;
	RnnClassifier *clf = rnn_classifier_get(fcinfo, name, &entry);
	StreamState st;

	rnn_classifier_require_binary(clf, name, "rnn.stream_score()");
	require_streamable(clf, name);
	state_decode(PG_GETARG_BYTEA_PP(1), &st);
	check_state_model(&st, entry, name);
	PG_RETURN_FLOAT8(state_score(&st, clf));
}

/* ---------------------------------------------------------------------------
 * rnn.sentiment_trigger(): BEFORE INSERT OR UPDATE ... FOR EACH ROW
 *   EXECUTE FUNCTION rnn.sentiment_trigger(model, text_column, score_column)
 *
 * Sets score_column (float8, real or numeric) to rnn.sentiment(model,
 * text_column); NULL when the text is NULL.
 */
static int
trigger_column(Relation rel, const char *col)
{
	int			att = SPI_fnumber(RelationGetDescr(rel), col);

	if (att == SPI_ERROR_NOATTRIBUTE || att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						col, RelationGetRelationName(rel)),
				 errhint("rnn.sentiment_trigger takes (model, text_column, score_column).")));
	return att;
}

PG_FUNCTION_INFO_V1(rnn_sentiment_trigger);
Datum
rnn_sentiment_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			text_att,
				score_att;
	Oid			text_type,
				score_type;
	bool		isnull;
	Datum		d;
	Datum		score = (Datum) 0;
	bool		score_null = true;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rnn.sentiment_trigger() must be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rnn.sentiment_trigger() must be fired BEFORE INSERT or UPDATE FOR EACH ROW")));
	tg = td->tg_trigger;
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	if (tg->tgnargs != 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rnn.sentiment_trigger() takes 3 arguments, not %d", tg->tgnargs),
				 errhint("EXECUTE FUNCTION rnn.sentiment_trigger('model', 'text_column', 'score_column')")));

	text_att = trigger_column(rel, tg->tgargs[1]);
	score_att = trigger_column(rel, tg->tgargs[2]);
	text_type = getBaseType(TupleDescAttr(desc, text_att - 1)->atttypid);
	score_type = getBaseType(TupleDescAttr(desc, score_att - 1)->atttypid);
	if (text_type != TEXTOID && text_type != VARCHAROID && text_type != BPCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("text column \"%s\" is of type %s, not text", tg->tgargs[1],
						format_type_be(TupleDescAttr(desc, text_att - 1)->atttypid))));
	if (score_type != FLOAT8OID && score_type != FLOAT4OID && score_type != NUMERICOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("score column \"%s\" is of type %s, not double precision, real or numeric",
						tg->tgargs[2],
						format_type_be(TupleDescAttr(desc, score_att - 1)->atttypid))));

	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	d = heap_getattr(tuple, text_att, desc, &isnull);
	if (!isnull)
	{
		const char *name = tg->tgargs[0];
		RnnClassifier *clf = rnn_classifier_get(fcinfo, name, NULL);
		text	   *body = DatumGetTextPP(d);
		double		probs[2];

		rnn_classifier_require_binary(clf, name, "rnn.sentiment_trigger()");
		rnn_classifier_probs(clf, name, VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), probs);
		if (score_type == FLOAT8OID)
			score = Float8GetDatum(probs[1]);
		else if (score_type == FLOAT4OID)
			score = Float4GetDatum((float4) probs[1]);
		else
			score = DirectFunctionCall1(float8_numeric, Float8GetDatum(probs[1]));
		score_null = false;
	}
	tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &score_att, &score, &score_null);
	return PointerGetDatum(tuple);
}
