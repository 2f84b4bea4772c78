/*
 * lm.c -- scoring and sampling language models (text_model.h):
 *
 *   rnn.generate(name, prompt, max_tokens, temperature, top_k, seed) -> text
 *   rnn.log_likelihood(name, body) -> float8   (nats)
 *   rnn.perplexity(name, body) -> float8
 *
 *   SELECT rnn.generate('shakespeare_lm', 'ROMEO:', max_tokens => 100, seed => 7);
 *   SELECT line FROM logs ORDER BY rnn.perplexity('logs_lm', line) DESC LIMIT 10;
 *
 * Notes:
 *  1. The model is decoded once per backend (model_cache.c); its scoring
 *     state (vocabulary, an RnnInfer for RNN_LM_CHUNK steps with W_hh
 *     transposed and the first layer folded per token) is built once and
 *     kept with the cache entry.
 *  2. A text is read from the boundary token in chunks of RNN_LM_CHUNK steps
 *     with the state carried, so any length costs one chunk of memory, and
 *     the result equals one forward over the whole text.
 *  3. Generation feeds the boundary and the prompt's tokens, then draws one
 *     token at a time from softmax(logits / temperature), restricted to the
 *     top_k most likely when top_k > 0, never <unk>, until the boundary is
 *     drawn or max_tokens tokens are out.  The result is the prompt followed
 *     by the generated tokens (word models: separated by spaces).  A seed
 *     gives the same text every time; seed NULL draws a fresh one.
 *  4. Interrupts are checked every chunk and every generated token.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "classify.h"
#include "jsonb_util.h"
#include "text_data.h"
#include "text_model.h"

typedef struct RnnLm
{
	uint32		magic;			/* RNN_LM_MAGIC */
	const RnnModel *model;
	RnnVocab   *vocab;
	RnnTokMode	mode;
	int			V;
	RnnInfer   *inf;			/* batch 1, RNN_LM_CHUNK steps */
	float	   *logits;			/* (RNN_LM_CHUNK, V) */
	double	   *probs;			/* (V) */
	int32	   *order;			/* (V) top-k heap (kth_ranked) */
	float	   *h;				/* (L, 1, H) carried state */
	float	   *c;				/* (L, 1, H) LSTM */
	size_t		state_floats;
} RnnLm;

#define RNN_LM_MAGIC 0x4c4d4f44	/* "LMOD" */

static void
broken_lm(const char *name, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("model \"%s\" cannot be used as a language model", name),
			 errdetail("%s", detail),
			 errhint("Train it with rnn.train_language_model(), or import it with its "
					 "vocabulary and hyperparams.")));
}

static RnnLm *
build_lm(RnnCachedModel *entry)
{
	const RnnConfig *cfg = &entry->model->cfg;
	const char *name = entry->name;
	MemoryContext cxt,
				old;
	RnnLm	   *lm;
	char	   *tokens;
	bool		ok;

	if (cfg->head != RNN_HEAD_STEPS || cfg->vocab_size <= 0 || cfg->bidirectional ||
		cfg->output_size != cfg->vocab_size)
		broken_lm(name, "Its weights are not a language model (a unidirectional per-step "
				  "head over its own vocabulary).");
	rnn_require_blas();
	cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn_ext language model",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	lm = palloc0(sizeof(RnnLm));
	lm->magic = RNN_LM_MAGIC;
	lm->model = entry->model;
	lm->V = cfg->vocab_size;
	tokens = rnn_jsonb_text(entry->hyperparams, "tokens");
	lm->mode = rnn_lm_tok_mode(tokens ? tokens : "word", &ok);
	if (!ok)
		broken_lm(name, psprintf("Its hyperparams name an unknown tokens mode \"%s\".", tokens));
	lm->vocab = rnn_vocab_from_array(entry->vocabulary, lm->mode, lm->V, name, broken_lm);
	rnn_check_status(rnn_infer_create(&lm->inf, entry->model, 1, RNN_LM_CHUNK),
					 psprintf("could not prepare model \"%s\" for scoring", name));
	rnn_check_status(rnn_infer_prepare(lm->inf, RNN_FOLD_MAX_BYTES / 4, NULL),
					 psprintf("could not prepare model \"%s\" for scoring", name));
	lm->logits = palloc(sizeof(float) * (Size) RNN_LM_CHUNK * lm->V);
	lm->probs = palloc(sizeof(double) * lm->V);
	lm->order = palloc(sizeof(int32) * lm->V);
	lm->state_floats = (size_t) cfg->num_layers * cfg->hidden_size;
	lm->h = palloc0(sizeof(float) * lm->state_floats);
	lm->c = cfg->cell == RNN_CELL_LSTM ? palloc0(sizeof(float) * lm->state_floats) : NULL;
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(cxt, entry->cxt);
	return lm;
}

void
rnn_lm_check(RnnCachedModel *entry)
{
	build_lm(entry);
}

static RnnLm *
lm_get(FunctionCallInfo fcinfo, const char *name)
{
	RnnCachedModel *entry = rnn_cache_get(fcinfo, name, 0);

	if (strcmp(entry->kind, RNN_KIND_LANGUAGE_MODEL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s, not a language model", name, entry->kind),
				 errhint("%s", strcmp(entry->kind, RNN_KIND_TAGGER) == 0 ?
						 "Tag token arrays with rnn.tag()." :
						 "Train a language model with rnn.train_language_model().")));
	if (entry->aux == NULL)
		entry->aux = build_lm(entry);
	else if (((RnnLm *) entry->aux)->magic != RNN_LM_MAGIC)
		elog(ERROR, "model cache entry of \"%s\" holds foreign scoring state", name);
	return (RnnLm *) entry->aux;
}

/* ---------------------------------------------------------------------------
 * Reading a token sequence with the state carried
 */
static void
lm_reset(RnnLm *lm)
{
	memset(lm->h, 0, sizeof(float) * lm->state_floats);
	if (lm->c)
		memset(lm->c, 0, sizeof(float) * lm->state_floats);
}

/*
 * Feed ids[0..n) from the carried state; afterwards lm->logits holds the
 * logits of the last chunk's steps and the state has moved on.  Returns the
 * number of steps of the last chunk.  With nll != NULL, adds -log p(next)
 * for every step whose next token is ids[t + 1] or, at the end, *last_next
 * (when >= 0).
 */
static int
lm_feed(RnnLm *lm, const char *name, const int32 *ids, Size n, int32 last_next, double *nll)
{
	int			T = 0;

	for (Size s = 0; s < n; s += RNN_LM_CHUNK)
	{
		RnnBatch	batch;
		RnnStatus	st;

		CHECK_FOR_INTERRUPTS();
		T = (int) Min((Size) RNN_LM_CHUNK, n - s);
		memset(&batch, 0, sizeof(batch));
		batch.B = 1;
		batch.T = T;
		batch.lengths = &T;
		batch.tokens = ids + s;
		rnn_infer_set_state(lm->inf, lm->h, lm->c);
		st = rnn_infer(lm->inf, &batch, lm->logits);
		if (st != RNN_OK)
			rnn_check_status(st, psprintf("could not score a text with model \"%s\"", name));
		memcpy(lm->h, rnn_infer_h_n(lm->inf), sizeof(float) * lm->state_floats);
		if (lm->c)
			memcpy(lm->c, rnn_infer_c_n(lm->inf), sizeof(float) * lm->state_floats);
		if (nll)
		{
			for (int t = 0; t < T; t++)
			{
				Size		i = s + t;
				int32		next = i + 1 < n ? ids[i + 1] : last_next;
				const float *z = lm->logits + (size_t) t * lm->V;
				double		mx = z[0],
							se = 0;

				if (next < 0)
					continue;
				for (int v = 1; v < lm->V; v++)
					mx = Max(mx, z[v]);
				for (int v = 0; v < lm->V; v++)
					se += exp(z[v] - mx);
				*nll += mx + log(se) - z[next];
			}
		}
	}
	return T;
}

/* The boundary, then the text's tokens (UTF-8 conversion, no cut). */
static int32 *
lm_encode(RnnLm *lm, const char *text, int len, Size *n_out)
{
	const char *utf8;
	int			ulen;
	size_t		n_total = 0,
				n_ids = 0,
				err_offset = 0;
	int32	   *ids;
	RnnTokStatus tst;

	utf8 = rnn_text_to_utf8(text, len, &ulen);
	tst = rnn_tokenize(utf8, ulen, lm->mode, NULL, NULL, 0, &n_ids, &n_total, &err_offset);
	rnn_raise_tok_status(tst, err_offset, "could not tokenize the text");
	ids = palloc_extended(sizeof(int32) * (n_total + 1), MCXT_ALLOC_HUGE);
	ids[0] = RNN_LM_BOUNDARY;
	if (n_total > 0)
	{
		tst = rnn_vocab_encode(lm->vocab, utf8, ulen, ids + 1, n_total, &n_ids, NULL, NULL,
							   &err_offset);
		rnn_raise_tok_status(tst, err_offset, "could not tokenize the text");
	}
	*n_out = n_total + 1;
	return ids;
}

/* log p(text, end) under the model, in nats; *n_pred gets the predictions. */
static double
lm_log_likelihood(FunctionCallInfo fcinfo, Size *n_pred)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *body = PG_GETARG_TEXT_PP(1);
	RnnLm	   *lm = lm_get(fcinfo, name);
	Size		n;
	int32	   *ids = lm_encode(lm, VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), &n);
	double		nll = 0;

	lm_reset(lm);
	lm_feed(lm, name, ids, n, RNN_LM_BOUNDARY, &nll);
	pfree(ids);
	*n_pred = n;
	return -nll;
}

/* ---------------------------------------------------------------------------
 * rnn.log_likelihood(model text, body text) -> float8
 *
 * Natural log of the probability of body (its tokens and its end) under
 * the model: sum over its n tokens and the end of log p(next | before).
 */
PG_FUNCTION_INFO_V1(rnn_log_likelihood);
Datum
rnn_log_likelihood(PG_FUNCTION_ARGS)
{
	Size		n;

	PG_RETURN_FLOAT8(lm_log_likelihood(fcinfo, &n));
}

/* ---------------------------------------------------------------------------
 * rnn.perplexity(model text, body text) -> float8
 *
 * exp(-log_likelihood / (n + 1)): the model's average branching factor on
 * body, 1 for a text it predicts with certainty.
 */
PG_FUNCTION_INFO_V1(rnn_perplexity);
Datum
rnn_perplexity(PG_FUNCTION_ARGS)
{
	Size		n;
	double		ll = lm_log_likelihood(fcinfo, &n);

	PG_RETURN_FLOAT8(exp(-ll / (double) n));
}

/* ---------------------------------------------------------------------------
 * rnn.generate(model, prompt, max_tokens, temperature, top_k, seed) -> text
 */
typedef struct SampleArgs
{
	int			max_tokens;
	double		temperature;
	int			top_k;
} SampleArgs;

/*
 * Candidates rank by probability, ties by the lower id: a strict order, so
 * the top k are one well-defined set whatever the method that finds them.
 */
static inline bool
ranks_before(const double *p, int32 a, int32 b)
{
	return p[a] > p[b] || (p[a] == p[b] && a < b);
}

/*
 * The k-th ranked id of p (V), 1 <= k <= V: a heap of the k best seen so
 * far with the worst of them at its root, O(V log k) per token where sorting
 * the whole vocabulary was O(V log V) (a 20,000-word model samples with
 * top_k => 40 at every generated token).  heap has room for k ids.
 */
static int32
kth_ranked(const double *p, int V, int k, int32 *heap)
{
	int			n = 0;

	for (int32 v = 0; v < V; v++)
	{
		int			i;

		if (n < k)
		{
			/* sift up: parents rank after their children */
			for (i = n++; i > 0 && ranks_before(p, heap[(i - 1) / 2], v); i = (i - 1) / 2)
				heap[i] = heap[(i - 1) / 2];
			heap[i] = v;
			continue;
		}
		if (!ranks_before(p, v, heap[0]))
			continue;
		/* v replaces the root (the k-th best so far): sift down */
		for (i = 0;;)
		{
			int			c = 2 * i + 1;

			if (c >= n)
				break;
			if (c + 1 < n && ranks_before(p, heap[c], heap[c + 1]))
				c++;
			if (!ranks_before(p, v, heap[c]))
				break;
			heap[i] = heap[c];
			i = c;
		}
		heap[i] = v;
	}
	return heap[0];
}

/* Draw the next id from logits z (V) with temperature and top-k, never <unk>. */
static int32
lm_sample(RnnLm *lm, const float *z, const SampleArgs *sa, RnnRng *rng)
{
	int			V = lm->V;
	double		mx = -INFINITY,
				sum = 0,
				u;

	for (int v = 0; v < V; v++)
		if (v != RNN_VOCAB_UNK)
			mx = Max(mx, z[v] / sa->temperature);
	for (int v = 0; v < V; v++)
		lm->probs[v] = v == RNN_VOCAB_UNK ? 0.0 : exp(z[v] / sa->temperature - mx);
	if (sa->top_k > 0 && sa->top_k < V - 1)
	{
		/* keep exactly the top_k ids that rank at or before the k-th */
		int32		kth = kth_ranked(lm->probs, V, sa->top_k, lm->order);

		for (int32 v = 0; v < V; v++)
			if (ranks_before(lm->probs, kth, v))
				lm->probs[v] = 0.0;
	}
	for (int v = 0; v < V; v++)
		sum += lm->probs[v];
	u = rnn_rng_uniform(rng) * sum;
	for (int v = 0; v < V; v++)
	{
		if (lm->probs[v] <= 0.0)
			continue;
		u -= lm->probs[v];
		if (u < 0.0)
			return v;
	}
	/* rounding left u >= 0: the last candidate */
	for (int v = V - 1; v >= 0; v--)
		if (lm->probs[v] > 0.0)
			return v;
	return RNN_LM_BOUNDARY;
}

static void
parse_sample_args(FunctionCallInfo fcinfo, SampleArgs *sa)
{
	sa->max_tokens = PG_GETARG_INT32(2);
	if (sa->max_tokens < 0 || sa->max_tokens > RNN_GENERATE_MAX_TOKENS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens must be between 0 and %d, not %d",
						RNN_GENERATE_MAX_TOKENS, sa->max_tokens)));
	sa->temperature = PG_GETARG_FLOAT8(3);
	if (!(sa->temperature > 0) || !isfinite(sa->temperature))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("temperature must be a positive number, not %g", sa->temperature),
				 errhint("1 samples from the model as it is; lower values are more "
						 "conservative, higher ones more random.")));
	sa->top_k = PG_GETARG_INT32(4);
	if (sa->top_k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top_k must not be negative, not %d", sa->top_k),
				 errhint("0 samples from the whole vocabulary.")));
}

PG_FUNCTION_INFO_V1(rnn_generate);
Datum
rnn_generate(PG_FUNCTION_ARGS)
{
	char	   *name;
	text	   *prompt;
	SampleArgs	sa;
	RnnLm	   *lm;
	RnnRng		rng;
	uint64		seed;
	Size		n;
	int32	   *ids;
	int			T;
	StringInfoData out;
	const float *z;
	char	   *result;
	int			enc = GetDatabaseEncoding();
	const char *p_utf8;
	int			p_len;

	/* NULL model, prompt or knob: NULL (the function is not STRICT for seed) */
	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	prompt = PG_GETARG_TEXT_PP(1);
	parse_sample_args(fcinfo, &sa);
	if (PG_ARGISNULL(5))
		seed = pg_prng_uint64(&pg_global_prng_state);
	else
		seed = (uint64) (int64) PG_GETARG_INT32(5);
	rnn_rng_seed(&rng, seed);
	lm = lm_get(fcinfo, name);

	/* the prompt as given, then the generated tokens (UTF-8 until the end) */
	initStringInfo(&out);
	p_utf8 = rnn_text_to_utf8(VARDATA_ANY(prompt), VARSIZE_ANY_EXHDR(prompt), &p_len);
	appendBinaryStringInfo(&out, p_utf8, p_len);
	ids = lm_encode(lm, VARDATA_ANY(prompt), VARSIZE_ANY_EXHDR(prompt), &n);
	lm_reset(lm);
	T = lm_feed(lm, name, ids, n, -1, NULL);
	z = lm->logits + (size_t) (T - 1) * lm->V;
	for (int k = 0; k < sa.max_tokens; k++)
	{
		int32		next;
		size_t		len;
		const char *tok;

		CHECK_FOR_INTERRUPTS();
		next = lm_sample(lm, z, &sa, &rng);
		if (next == RNN_LM_BOUNDARY)
			break;
		tok = rnn_vocab_token(lm->vocab, next, &len);
		if (lm->mode == RNN_TOK_WORD && out.len > 0)
			appendStringInfoChar(&out, ' ');
		appendBinaryStringInfo(&out, tok, len);
		if (k + 1 < sa.max_tokens)
		{
			lm_feed(lm, name, &next, 1, -1, NULL);
			z = lm->logits;
		}
	}
	result = out.data;
	if (enc != PG_UTF8 && enc != PG_SQL_ASCII)
		result = pg_any_to_server(out.data, out.len, PG_UTF8);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
