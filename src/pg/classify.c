/*
 * classify.c -- scoring texts with a classifier: rnn.sentiment,
 * rnn.classify, rnn.class_probs, and the per-model scoring state they share
 * with stream.c.
 *
 *   SELECT body, rnn.sentiment('review_gru', body) FROM reviews;
 *      body                         | sentiment
 *     ------------------------------+-----------
 *      a moving , funny film        |     0.97
 *      dull and far too long        |     0.04
 *
 *   SELECT rnn.classify('topic_gru', body) FROM tickets;   -- 'billing'
 *   SELECT * FROM rnn.class_probs('topic_gru', 'refund please');
 *      label   | probability
 *     ---------+-------------
 *      billing |        0.91
 *      login   |        0.06
 *      other   |        0.03
 *
 * Notes:
 *  1. The model is decoded once per backend (model_cache.c) and its scoring
 *     state -- the vocabulary's hash table, an inference buffer for one
 *     text of max_tokens steps -- is built once per cached model, in
 *     RnnCachedModel.aux.  Scoring a row then tokenizes into that buffer and
 *     runs the network: nothing is allocated per row except the detoasted
 *     argument and the model name (in the executor's per-row context).
 *     The inference state is prepared for one text at a time
 *     (rnn_infer_prepare): W_hh transposed for a matrix-vector product per
 *     step, and the first layer's embedding . W_ih^T folded into a table of
 *     one row per token (filled on first use of the token), while the
 *     tables of all cached classifiers of the backend take at most
 *     RNN_FOLD_MAX_BYTES (256 MB; V * dirs * G*H * 4 bytes each: 64 MB for
 *     21,000 words and a bidirectional GRU of 128); beyond that a model
 *     scores unfolded, with the same results to float rounding.
 *  2. The positive class of rnn.sentiment is the second of the model's two
 *     classes, in the sorted order rnn.train_classifier stores them: true
 *     (false < true), 1 (0 < 1), 'pos' ('neg' < 'pos'), 'positive'
 *     ('negative' < 'positive').  Labels are kept in rnn.models.labels.
 *  3. A text without tokens (empty, whitespace only) gets the training
 *     class frequencies; a text of unknown words only is scored as that
 *     many <unk> tokens.  Texts longer than max_tokens tokens are cut as
 *     tokenizer.h says (first quarter + last three quarters).
 *  4. A model with an n-gram path (ngram.h) adds its weights, summed over
 *     the text's unigrams and bigrams of token ids, to the network's logits.
 *     When the stored head reads nothing (the network was dropped, see
 *     head_reads_nothing), the network's logits are its bias and it is not run.
 *  5. The functions are STABLE (a new version of the model changes their
 *     results), STRICT and PARALLEL SAFE.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "classify.h"
#include "jsonb_util.h"

/* ---------------------------------------------------------------------------
 * Encodings and tokenizer errors
 */
const char *
rnn_text_to_utf8(const char *text, int len, int *out_len)
{
	int			enc = GetDatabaseEncoding();
	char	   *conv;

	if (enc == PG_UTF8 || enc == PG_SQL_ASCII)
	{
		*out_len = len;
		return text;
	}
	conv = pg_server_to_any(text, len, PG_UTF8);
	*out_len = (conv == text) ? len : (int) strlen(conv);
	return conv;
}

void
rnn_raise_tok_status(RnnTokStatus st, size_t err_offset, const char *what)
{
	switch (st)
	{
		case RNN_TOK_OK:
			return;
		case RNN_TOK_INVALID_UTF8:
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("%s: invalid UTF-8 at byte %zu", what, err_offset),
					 errdetail("rnn_ext tokenizes UTF-8 text; a SQL_ASCII database can hold bytes that are not UTF-8."),
					 errhint("Store the text in a UTF-8 database, or fix its encoding with convert_from().")));
			break;
		case RNN_TOK_TOO_LONG:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s: text is longer than %zu bytes", what,
							(size_t) RNN_TOKENIZER_MAX_BYTES)));
			break;
		case RNN_TOK_NOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("%s: out of memory", what)));
			break;
		case RNN_TOK_BAD_VOCAB:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("%s: invalid vocabulary entry at index %zu", what, err_offset),
					 errdetail("Entries 0 and 1 must be <pad> and <unk>; every entry must be "
							   "non-empty, unique and at most %d bytes.", RNN_TOKEN_MAX_BYTES)));
			break;
		case RNN_TOK_INVALID_ARG:
			elog(ERROR, "%s: %s", what, rnn_tok_status_message(st));
			break;
	}
}

/* ---------------------------------------------------------------------------
 * Building the scoring state of a cached model
 */

static void
broken_model(const char *name, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("model \"%s\" cannot classify text", name),
			 errdetail("%s", detail),
			 errhint("Train it with rnn.train_classifier(), or import it with its vocabulary, "
					 "labels and hyperparams.")));
}

/*
 * Folded first-layer tables of the classifiers in this backend's model
 * cache, in bytes: together they stay within RNN_FOLD_MAX_BYTES (a cache
 * of many large-vocabulary models scores the later ones unfolded rather
 * than holding a table each).  Returned by a reset callback on the
 * classifier's memory context, which goes with its cache entry.
 */
static size_t fold_bytes_live = 0;

typedef struct FoldRelease
{
	MemoryContextCallback cb;
	size_t		bytes;
} FoldRelease;

static void
fold_release(void *arg)
{
	FoldRelease *rel = (FoldRelease *) arg;

	fold_bytes_live -= Min(rel->bytes, fold_bytes_live);
}

/*
 * True when the head's weights are all zero: train_classifier stores that
 * when validation could not tell the network's share of the logits from
 * noise (classify_train.c, fit_network_share).  Then the network's logits
 * are exactly the head bias (0 * a finite feature is 0), and one-shot
 * scoring can skip the recurrent layers: the n-gram path's cost, not the
 * network's.
 */
static bool
head_reads_nothing(const RnnModel *model)
{
	size_t		n = (size_t) model->cfg.output_size * rnn_feature_size(&model->cfg);

	for (size_t i = 0; i < n; i++)
		if (model->p.head_w[i] != 0.0f)
			return false;
	return true;
}

static RnnClassifier *
build_classifier(RnnCachedModel *entry)
{
	const RnnConfig *cfg = &entry->model->cfg;
	const char *name = entry->name;
	MemoryContext cxt;
	MemoryContext old;
	RnnClassifier *clf;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	const char **tokens;
	size_t	   *lens;
	size_t		err_index = 0;
	RnnTokStatus tst;

	if (cfg->head != RNN_HEAD_CLASSIFIER || cfg->vocab_size <= 0)
		broken_model(name, "Its weights are not a token classifier (a classifier head over an embedding).");
	if (entry->vocabulary == NULL)
		broken_model(name, "It has no vocabulary.");
	if (entry->labels == NULL)
		broken_model(name, "It has no class labels.");

	rnn_require_blas();

	/* Built aside; attached to the entry only when complete. */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn_ext classifier",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	clf = palloc0(sizeof(RnnClassifier));
	clf->magic = RNN_CLASSIFIER_MAGIC;
	clf->model = entry->model;
	clf->ngram = entry->ngram;
	clf->n_classes = cfg->output_size;
	clf->streamable = !cfg->bidirectional && cfg->pooling == RNN_POOL_LAST;

	/* tokens mode and cut from hyperparams */
	clf->mode = RNN_TOK_WORD;
	{
		char	   *s = rnn_jsonb_text(entry->hyperparams, "tokens");
		int64		max_tokens = rnn_jsonb_int(entry->hyperparams, "max_tokens", 256);

		if (s != NULL)
		{
			int			m = rnn_tok_mode_from_name(s);

			if (m < 0)
				broken_model(name, psprintf("Its hyperparams name an unknown tokens mode \"%s\".", s));
			clf->mode = (RnnTokMode) m;
		}
		if (max_tokens < 1 || max_tokens > 100000)
			broken_model(name, "Its hyperparams hold a max_tokens outside 1..100000.");
		clf->max_tokens = (int) max_tokens;
	}

	/* labels */
	deconstruct_array(entry->labels, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n != clf->n_classes)
		broken_model(name, psprintf("It has %d labels for %d classes.", n, clf->n_classes));
	clf->labels = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			broken_model(name, "One of its labels is NULL.");
		clf->labels[i] = TextDatumGetCString(elems[i]);
	}

	/* class prior: training frequencies, uniform when not stored */
	{
		int			np = 0;
		double	   *prior = rnn_jsonb_doubles(entry->normalization, "class_prior", &np);

		if (prior != NULL && np != clf->n_classes)
			broken_model(name, psprintf("Its class_prior has %d entries for %d classes.",
										np, clf->n_classes));
		clf->prior = palloc(sizeof(double) * clf->n_classes);
		for (int i = 0; i < clf->n_classes; i++)
			clf->prior[i] = prior ? prior[i] : 1.0 / clf->n_classes;
	}

	/* vocabulary: text[] index = id, UTF-8 for the tokenizer */
	deconstruct_array(entry->vocabulary, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n != cfg->vocab_size)
		broken_model(name, psprintf("Its vocabulary has %d entries but its embedding %d rows.",
									n, cfg->vocab_size));
	tokens = palloc(sizeof(char *) * n);
	lens = palloc(sizeof(size_t) * n);
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		int			len;

		if (nulls[i])
			broken_model(name, psprintf("Its vocabulary entry %d is NULL.", i));
		t = DatumGetTextPP(elems[i]);
		tokens[i] = rnn_text_to_utf8(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &len);
		lens[i] = len;
	}
	tst = rnn_vocab_from_strings(&clf->vocab, clf->mode, tokens, lens, n, &err_index);
	rnn_raise_tok_status(tst, err_index,
						 psprintf("could not load the vocabulary of model \"%s\"", name));
	clf->space_id = rnn_vocab_lookup(clf->vocab, " ", 1);

	clf->head_only = head_reads_nothing(entry->model);
	rnn_check_status(rnn_infer_create(&clf->inf, entry->model, 1, clf->max_tokens),
					 psprintf("could not prepare model \"%s\" for scoring", name));
	/* a head-only model runs its network only when streamed: no folding */
	if (!clf->head_only)
	{
		int			folded = 0;
		size_t		want = (size_t) cfg->vocab_size * (cfg->bidirectional ? 2 : 1) *
			rnn_cell_gates(cfg->cell) * cfg->hidden_size * sizeof(float);
		size_t		room = fold_bytes_live < RNN_FOLD_MAX_BYTES ?
			RNN_FOLD_MAX_BYTES - fold_bytes_live : 0;

		rnn_check_status(rnn_infer_prepare(clf->inf, room, &folded),
						 psprintf("could not prepare model \"%s\" for scoring", name));
		clf->folded = folded != 0;
		if (clf->folded)
		{
			/* give the bytes back when the cache entry (our parent) goes */
			FoldRelease *rel = palloc(sizeof(FoldRelease));

			rel->bytes = want;
			rel->cb.func = fold_release;
			rel->cb.arg = rel;
			MemoryContextRegisterResetCallback(cxt, &rel->cb);
			fold_bytes_live += want;
		}
	}
	clf->ids = palloc(sizeof(int32) * clf->max_tokens);
	clf->logits = palloc(sizeof(float) * clf->n_classes);
	clf->ngram_sum = palloc(sizeof(float) * clf->n_classes);

	/* The temporary arrays (tokens, lens, elems) go with cxt's lifetime:
	 * small, and freed with the entry. */
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(cxt, entry->cxt);
	return clf;
}

void
rnn_classifier_check(RnnCachedModel *entry)
{
	build_classifier(entry);	/* in a context under entry->cxt */
}

RnnClassifier *
rnn_classifier_get(FunctionCallInfo fcinfo, const char *name, RnnCachedModel **entry_out)
{
	RnnCachedModel *entry = rnn_cache_get(fcinfo, name, 0);

	if (strcmp(entry->kind, RNN_KIND_CLASSIFIER) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s, not a classifier", name, entry->kind),
				 errhint("%s", strcmp(entry->kind, RNN_KIND_FORECASTER) == 0 ?
						 "Score forecasters with rnn.forecast() or rnn.predict_next()." :
						 strcmp(entry->kind, "tagger") == 0 ? "Tag texts with rnn.tag()." :
						 "Score language models with rnn.perplexity() or rnn.generate().")));
	if (entry->aux == NULL)
		entry->aux = build_classifier(entry);
	else if (((RnnClassifier *) entry->aux)->magic != RNN_CLASSIFIER_MAGIC)
		elog(ERROR, "model cache entry of \"%s\" holds foreign scoring state", name);
	if (entry_out)
		*entry_out = entry;
	return (RnnClassifier *) entry->aux;
}

/* ---------------------------------------------------------------------------
 * Scoring
 */
void
rnn_softmax(const float *logits, int n, double *probs)
{
	double		max = logits[0];
	double		sum = 0.0;

	for (int i = 1; i < n; i++)
		if (logits[i] > max)
			max = logits[i];
	for (int i = 0; i < n; i++)
	{
		probs[i] = exp((double) logits[i] - max);
		sum += probs[i];
	}
	for (int i = 0; i < n; i++)
		probs[i] /= sum;
}

int
rnn_classifier_probs(RnnClassifier *clf, const char *name, const char *text, int len,
					 double *probs)
{
	const char *utf8;
	int			ulen;
	size_t		n_ids = 0;
	size_t		err_offset = 0;
	RnnTokStatus tst;
	RnnBatch	batch;
	int			length;

	utf8 = rnn_text_to_utf8(text, len, &ulen);
	tst = rnn_vocab_encode(clf->vocab, utf8, ulen, clf->ids, clf->max_tokens, &n_ids,
						   NULL, NULL, &err_offset);
	if (utf8 != text)
		pfree((char *) utf8);
	rnn_raise_tok_status(tst, err_offset, "could not tokenize the text");

	if (n_ids == 0)
	{
		memcpy(probs, clf->prior, sizeof(double) * clf->n_classes);
		return 0;
	}
	length = (int) n_ids;
	memset(&batch, 0, sizeof(batch));
	batch.B = 1;
	batch.T = length;
	batch.lengths = &length;
	batch.tokens = clf->ids;
	rnn_infer_set_state(clf->inf, NULL, NULL);	/* stream.c may have set one */
	if (clf->head_only)
		memcpy(clf->logits, clf->model->p.head_b, sizeof(float) * clf->n_classes);
	else
	{
		RnnStatus	st = rnn_infer(clf->inf, &batch, clf->logits);

		/* the message is only formatted on failure: nothing per row */
		if (st != RNN_OK)
			rnn_check_status(st, psprintf("could not score a text with model \"%s\"", name));
	}
	if (clf->ngram)
	{
		/* summed apart, then added: as stream.c adds its running sum */
		memset(clf->ngram_sum, 0, sizeof(float) * clf->n_classes);
		rnn_ngram_accumulate(clf->ngram, clf->ids, n_ids, -1, clf->ngram_sum);
		for (int c = 0; c < clf->n_classes; c++)
			clf->logits[c] += clf->ngram_sum[c];
	}
	rnn_softmax(clf->logits, clf->n_classes, probs);
	return length;
}

void
rnn_classifier_require_binary(const RnnClassifier *clf, const char *name, const char *func)
{
	if (clf->n_classes != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs a two-class model, but model \"%s\" has %d classes",
						func, name, clf->n_classes),
				 errhint("Use rnn.class_probs() for the probability of every class, or "
						 "rnn.classify() for the most likely one.")));
}

/* Probabilities of argument 1 under model argument 0, in a stack buffer. */
static RnnClassifier *
score_args(FunctionCallInfo fcinfo, char **name_out, double **probs_out)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *body = PG_GETARG_TEXT_PP(1);
	RnnClassifier *clf = rnn_classifier_get(fcinfo, name, NULL);
	double	   *probs = palloc(sizeof(double) * clf->n_classes);

	rnn_classifier_probs(clf, name, VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), probs);
	*name_out = name;
	*probs_out = probs;
	return clf;
}

/* ---------------------------------------------------------------------------
 * rnn.sentiment(model text, body text) -> float8
 *
 * P(positive class) of a two-class model: the second class in sorted order.
 */
PG_FUNCTION_INFO_V1(rnn_sentiment);
Datum
rnn_sentiment(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *body = PG_GETARG_TEXT_PP(1);
	RnnClassifier *clf = rnn_classifier_get(fcinfo, name, NULL);
	double		probs[2];

	rnn_classifier_require_binary(clf, name, "rnn.sentiment()");
	rnn_classifier_probs(clf, name, VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), probs);
	PG_RETURN_FLOAT8(probs[1]);
}

/* ---------------------------------------------------------------------------
 * rnn.classify(model text, body text) -> text
 *
 * The most probable label (the first in class order on a tie).
 */
PG_FUNCTION_INFO_V1(rnn_classify);
Datum
rnn_classify(PG_FUNCTION_ARGS)
{
	char	   *name;
	double	   *probs;
	RnnClassifier *clf = score_args(fcinfo, &name, &probs);
	int			best = 0;

	for (int i = 1; i < clf->n_classes; i++)
		if (probs[i] > probs[best])
			best = i;
	PG_RETURN_TEXT_P(cstring_to_text(clf->labels[best]));
}

/* ---------------------------------------------------------------------------
 * rnn.class_probs(model text, body text) -> SETOF (label text, probability float8)
 *
 * One row per class, in the model's class order; probabilities sum to 1.
 */
PG_FUNCTION_INFO_V1(rnn_class_probs);
Datum
rnn_class_probs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	double	   *probs;
	RnnClassifier *clf;

	InitMaterializedSRF(fcinfo, 0);
	clf = score_args(fcinfo, &name, &probs);
	for (int i = 0; i < clf->n_classes; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(clf->labels[i]);
		values[1] = Float8GetDatum(probs[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
