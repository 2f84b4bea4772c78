/*
 * tag.c -- rnn.tag: the tag of every token under a tagger (text_model.h).
 *
 *   SELECT * FROM rnn.tag('pos', ARRAY['Harry', 'Potter', 'invented', 'a', 'spell']);
 *    position |  token   | tag  | probability
 *   ----------+----------+------+-------------
 *           1 | Harry    | PROPN |       0.97
 *   ...
 *   SELECT * FROM rnn.tag('pos', 'Harry Potter invented a spell.');
 *
 * Notes:
 *  1. The array form takes each element as one token, as training did
 *     (normalized as a whole: rnn_token_normalize); token is the element
 *     as given.  The text form tokenizes as the classifier does (word
 *     mode: lower-cased words, punctuation split off); token is the
 *     normalized token.
 *  2. position counts from 1, as PostgreSQL arrays do; probability is the
 *     softmax probability of the tag, the most probable one (the first in
 *     tag order on a tie).
 *  3. The model is decoded once per backend and its scoring state (the
 *     vocabulary, an RnnInfer that grows to the longest input seen) kept
 *     with the cache entry.  An empty array or a text without tokens gives
 *     no rows.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "classify.h"
#include "text_data.h"
#include "text_model.h"

typedef struct RnnTagger
{
	uint32		magic;			/* RNN_TAGGER_MAGIC */
	const RnnModel *model;
	RnnVocab   *vocab;
	int			n_tags;
	char	  **tags;			/* (n_tags) server encoding */
	MemoryContext cxt;			/* the entry's: the buffers below grow in it */
	int			cap;			/* steps the buffers hold */
	RnnInfer   *inf;			/* batch 1, cap steps */
	int32	   *ids;			/* (cap) */
	float	   *logits;			/* (cap, n_tags) */
} RnnTagger;

#define RNN_TAGGER_MAGIC 0x54414752	/* "TAGR" */

static void
broken_tagger(const char *name, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("model \"%s\" cannot tag text", name),
			 errdetail("%s", detail),
			 errhint("Train it with rnn.train_tagger(), or import it with its vocabulary and "
					 "tags (labels).")));
}

static RnnTagger *
build_tagger(RnnCachedModel *entry)
{
	const RnnConfig *cfg = &entry->model->cfg;
	const char *name = entry->name;
	MemoryContext cxt,
				old;
	RnnTagger  *tg;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (cfg->head != RNN_HEAD_STEPS || cfg->vocab_size <= 0)
		broken_tagger(name, "Its weights are not a tagger (a per-step head over an embedding).");
	if (entry->labels == NULL)
		broken_tagger(name, "It has no tags (labels).");
	rnn_require_blas();
	cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn_ext tagger", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	tg = palloc0(sizeof(RnnTagger));
	tg->magic = RNN_TAGGER_MAGIC;
	tg->model = entry->model;
	tg->n_tags = cfg->output_size;
	tg->cxt = cxt;
	deconstruct_array(entry->labels, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n != tg->n_tags)
		broken_tagger(name, psprintf("It has %d tags for %d outputs.", n, tg->n_tags));
	tg->tags = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			broken_tagger(name, "One of its tags is NULL.");
		tg->tags[i] = TextDatumGetCString(elems[i]);
	}
	tg->vocab = rnn_vocab_from_array(entry->vocabulary, RNN_TOK_WORD, cfg->vocab_size, name,
									 broken_tagger);
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(cxt, entry->cxt);
	return tg;
}

void
rnn_tagger_check(RnnCachedModel *entry)
{
	build_tagger(entry);
}

static RnnTagger *
tagger_get(FunctionCallInfo fcinfo, const char *name)
{
	RnnCachedModel *entry = rnn_cache_get(fcinfo, name, 0);

	if (strcmp(entry->kind, RNN_KIND_TAGGER) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s, not a tagger", name, entry->kind),
				 errhint("%s", strcmp(entry->kind, RNN_KIND_LANGUAGE_MODEL) == 0 ?
						 "Score or sample language models with rnn.perplexity() or rnn.generate()." :
						 "Train a tagger with rnn.train_tagger().")));
	if (entry->aux == NULL)
		entry->aux = build_tagger(entry);
	else if (((RnnTagger *) entry->aux)->magic != RNN_TAGGER_MAGIC)
		elog(ERROR, "model cache entry of \"%s\" holds foreign scoring state", name);
	return (RnnTagger *) entry->aux;
}

/* Room for n steps: the buffers grow (in the entry's context) to the longest input. */
static void
tagger_reserve(RnnTagger *tg, const char *name, int n)
{
	MemoryContext old;
	int			cap = Max(n, 64);

	if (n <= tg->cap)
		return;
	if (n > RNN_TAG_MAX_TOKENS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot tag %d tokens at once", n),
				 errdetail("rnn.tag takes at most %d tokens.", RNN_TAG_MAX_TOKENS),
				 errhint("Tag a long text sentence by sentence.")));
	old = MemoryContextSwitchTo(tg->cxt);
	rnn_infer_free(tg->inf);
	tg->inf = NULL;
	tg->cap = 0;
	if (tg->ids)
		pfree(tg->ids);
	if (tg->logits)
		pfree(tg->logits);
	tg->ids = palloc(sizeof(int32) * cap);
	tg->logits = palloc_extended(sizeof(float) * (Size) cap * tg->n_tags, MCXT_ALLOC_HUGE);
	rnn_check_status(rnn_infer_create(&tg->inf, tg->model, 1, cap),
					 psprintf("could not prepare model \"%s\" for tagging", name));
	rnn_check_status(rnn_infer_prepare(tg->inf, RNN_FOLD_MAX_BYTES / 4, NULL),
					 psprintf("could not prepare model \"%s\" for tagging", name));
	tg->cap = cap;
	MemoryContextSwitchTo(old);
}

/* tg->ids[0..n) -> rows (position, token, tag, probability) */
static void
emit_tags(FunctionCallInfo fcinfo, RnnTagger *tg, const char *name, int n, char **tokens)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RnnBatch	batch;
	RnnStatus	st;

	if (n == 0)
		return;
	memset(&batch, 0, sizeof(batch));
	batch.B = 1;
	batch.T = n;
	batch.lengths = &n;
	batch.tokens = tg->ids;
	rnn_infer_set_state(tg->inf, NULL, NULL);
	st = rnn_infer(tg->inf, &batch, tg->logits);
	if (st != RNN_OK)
		rnn_check_status(st, psprintf("could not tag a text with model \"%s\"", name));
	for (int t = 0; t < n; t++)
	{
		const float *z = tg->logits + (size_t) t * tg->n_tags;
		int			best = 0;
		double		se = 0;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		for (int c = 1; c < tg->n_tags; c++)
			if (z[c] > z[best])
				best = c;
		for (int c = 0; c < tg->n_tags; c++)
			se += exp((double) z[c] - z[best]);
		values[0] = Int32GetDatum(t + 1);
		values[1] = CStringGetTextDatum(tokens[t]);
		values[2] = CStringGetTextDatum(tg->tags[best]);
		values[3] = Float8GetDatum(1.0 / se);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* ---------------------------------------------------------------------------
 * rnn.tag(model text, tokens text[]) -> SETOF (position, token, tag, probability)
 */
PG_FUNCTION_INFO_V1(rnn_tag_tokens);
Datum
rnn_tag_tokens(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	RnnTagger  *tg;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	  **tokens;

	InitMaterializedSRF(fcinfo, 0);
	tg = tagger_get(fcinfo, name);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("tokens must be a one-dimensional array, not %d-dimensional", ARR_NDIM(arr))));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	tagger_reserve(tg, name, n);
	tokens = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		const char *utf8;
		int			ulen;
		char		buf[RNN_TOKEN_MAX_BYTES];
		size_t		len = 0,
					err_offset = 0;
		RnnTokStatus st;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tokens has a NULL at position %d", i + 1),
					 errhint("Remove or fill NULL elements.")));
		t = DatumGetTextPP(elems[i]);
		tokens[i] = text_to_cstring(t);
		utf8 = rnn_text_to_utf8(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &ulen);
		st = rnn_token_normalize(utf8, ulen, buf, sizeof(buf), &len, &err_offset);
		if (st == RNN_TOK_TOO_LONG)
			len = 0;
		else if (st != RNN_TOK_OK)
			rnn_raise_tok_status(st, err_offset, psprintf("could not read token %d", i + 1));
		tg->ids[i] = len == 0 ? RNN_VOCAB_UNK : rnn_vocab_lookup(tg->vocab, buf, len);
	}
	emit_tags(fcinfo, tg, name, n, tokens);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------------
 * rnn.tag(model text, body text) -> SETOF (position, token, tag, probability)
 */
PG_FUNCTION_INFO_V1(rnn_tag_text);
Datum
rnn_tag_text(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *body = PG_GETARG_TEXT_PP(1);
	RnnTagger  *tg;
	const char *utf8;
	int			ulen;
	char	   *norm;
	RnnTokSpan *spans;
	size_t		n = 0,
				err_offset = 0;
	RnnTokStatus st;
	char	  **tokens;
	int			enc = GetDatabaseEncoding();

	InitMaterializedSRF(fcinfo, 0);
	tg = tagger_get(fcinfo, name);
	utf8 = rnn_text_to_utf8(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), &ulen);
	norm = palloc(Max(ulen, 1));
	spans = palloc(sizeof(RnnTokSpan) * Max(ulen, 1));
	st = rnn_tokenize(utf8, ulen, RNN_TOK_WORD, norm, spans, Max(ulen, 1), &n, NULL, &err_offset);
	rnn_raise_tok_status(st, err_offset, "could not tokenize the text");
	tagger_reserve(tg, name, (int) n);
	tokens = palloc(sizeof(char *) * Max(n, 1));
	for (size_t i = 0; i < n; i++)
	{
		const char *tok = norm + spans[i].off;

		tg->ids[i] = spans[i].len > RNN_TOKEN_MAX_BYTES ? RNN_VOCAB_UNK :
			rnn_vocab_lookup(tg->vocab, tok, spans[i].len);
		tokens[i] = enc != PG_UTF8 && enc != PG_SQL_ASCII ?
			pg_any_to_server(tok, spans[i].len, PG_UTF8) : pnstrdup(tok, spans[i].len);
	}
	emit_tags(fcinfo, tg, name, (int) n, tokens);
	return (Datum) 0;
}
