/*
 * tag_train.c -- rnn.train_tagger: a sequence tagger (one tag per token)
 * trained on rows of text[] tokens and text[] tags, in one SQL call.
 *
 *   SELECT * FROM rnn.train_tagger('pos', 'sentences'::regclass,
 *                                  tokens_column => 'tokens', tags_column => 'tags');
 *   NOTICE:  pos: epoch 1/20: train loss 1.2204, validation loss 0.8110, accuracy 0.764, 3.0 s
 *    version | train_accuracy | validation_accuracy | ... | tag_count
 *
 * Steps:
 *  1. Check the arguments and the columns (arrays); read (tokens, tags)
 *     through SPI with the caller's rights (text_data.c).  A row with a NULL
 *     array or no tokens is skipped and counted; arrays of different lengths,
 *     NULL elements or arrays of more than one dimension are an error that
 *     names the row.  The tag set is every distinct tag, in byte order.
 *  2. A seeded validation_fraction of the rows is held out.
 *  3. The vocabulary of the training rows' tokens (each array element one
 *     token, normalized as a whole: rnn_token_normalize), vocab_size and
 *     min_count; other tokens are <unk>.  Rows longer than max_length
 *     tokens are cut into pieces of max_length.
 *  4. rnn_fit with the per-step head: a (bidirectional by default) recurrent
 *     layer, a softmax over the tags at every token, batches of similar
 *     length, word dropout, early stopping on the validation loss; a NOTICE
 *     per epoch with the validation accuracy.
 *  5. Token accuracy of both parts; a new version of kind 'tagger' (labels
 *     = the tags, vocabulary = the tokens).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "classify.h"
#include "jsonb_util.h"
#include "text_data.h"
#include "text_model.h"

/* ---------------------------------------------------------------------------
 * Arguments
 */
typedef struct TagArgs
{
	char	   *model_name;
	Oid			relid;
	char	   *tokens_column;
	char	   *tags_column;
	RnnCellKind cell;
	bool		bidirectional;
	int			num_layers;
	int			embedding_dim;
	int			hidden_size;
	double		dropout;
	int			vocab_size;
	int			min_count;
	int			max_length;
	int			epochs;
	int			batch_size;
	double		learning_rate;
	double		validation_fraction;
	int			patience;
	int64		seed;
	double		word_dropout;
	double		clip_norm;
} TagArgs;

static const char *const arg_names[] = {
	"model_name", "relation", "tokens_column", "tags_column", "cell", "bidirectional",
	"num_layers", "embedding_dim", "hidden_size", "dropout", "vocab_size", "min_count",
	"max_length", "epochs", "batch_size", "learning_rate", "validation_fraction", "patience",
	"seed", "word_dropout", "clip_norm"
};

static void
parse_args(FunctionCallInfo fcinfo, TagArgs *a)
{
	rnn_require_args(fcinfo, "rnn.train_tagger", arg_names, lengthof(arg_names));
	a->model_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rnn_check_model_name(a->model_name);
	a->relid = PG_GETARG_OID(1);
	a->tokens_column = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	a->tags_column = pstrdup(NameStr(*PG_GETARG_NAME(3)));
	a->cell = rnn_parse_cell(text_to_cstring(PG_GETARG_TEXT_PP(4)));
	a->bidirectional = PG_GETARG_BOOL(5);
	a->num_layers = PG_GETARG_INT32(6);
	rnn_check_int_arg("num_layers", a->num_layers, 1, RNN_MAX_LAYERS);
	a->embedding_dim = PG_GETARG_INT32(7);
	rnn_check_int_arg("embedding_dim", a->embedding_dim, 1, 4096);
	a->hidden_size = PG_GETARG_INT32(8);
	rnn_check_int_arg("hidden_size", a->hidden_size, 1, RNN_MAX_HIDDEN);
	a->dropout = PG_GETARG_FLOAT8(9);
	rnn_check_real_arg("dropout", a->dropout, 0, 1, true);
	a->vocab_size = PG_GETARG_INT32(10);
	rnn_check_int_arg("vocab_size", a->vocab_size, 3, RNN_MAX_VOCAB);
	a->min_count = PG_GETARG_INT32(11);
	rnn_check_int_arg("min_count", a->min_count, 1, INT_MAX);
	a->max_length = PG_GETARG_INT32(12);
	rnn_check_int_arg("max_length", a->max_length, 1, 100000);
	a->epochs = PG_GETARG_INT32(13);
	rnn_check_int_arg("epochs", a->epochs, 1, 100000);
	a->batch_size = PG_GETARG_INT32(14);
	rnn_check_int_arg("batch_size", a->batch_size, 1, 100000);
	a->learning_rate = PG_GETARG_FLOAT8(15);
	rnn_check_real_arg("learning_rate", a->learning_rate, 1e-9, 10, false);
	a->validation_fraction = PG_GETARG_FLOAT8(16);
	rnn_check_real_arg("validation_fraction", a->validation_fraction, 0, 0.9, false);
	a->patience = PG_GETARG_INT32(17);
	rnn_check_int_arg("patience", a->patience, 0, 100000);
	a->seed = PG_GETARG_INT64(18);
	a->word_dropout = PG_GETARG_FLOAT8(19);
	rnn_check_real_arg("word_dropout", a->word_dropout, 0, 1, true);
	a->clip_norm = PG_GETARG_FLOAT8(20);
	rnn_check_real_arg("clip_norm", a->clip_norm, 0, 1e6, false);
}

/* ---------------------------------------------------------------------------
 * 1. Reading: tokens (UTF-8, normalized) and tag indices, row after row
 */
typedef struct TagRows
{
	const char *relname;
	int			n_rows;			/* usable rows */
	int64		skipped_null;
	int64		skipped_empty;
	/* all tokens of all rows, back to back, as (offset, length) into text */
	StringInfoData text;
	Size	   *tok_off;		/* (n_tok_cap + 1) */
	int32	   *tok_tag;		/* (n_tok_cap) tag of each token (index into tags) */
	Size		n_tok;
	Size		n_tok_cap;
	Size	   *row_first;		/* (row_cap + 1) first token of each row */
	int			row_cap;
	/* tags as read: a hash from text to index, then sorted */
	HTAB	   *tag_hash;
	int			n_tags;
	char	  **tags;			/* (n_tags) server encoding */
} TagRows;

typedef struct TagEntry
{
	char		key[NAMEDATALEN * 4];	/* tags longer than this are refused */
	int			idx;
} TagEntry;

static int64
row_number(const TagRows *r)
{
	return r->n_rows + r->skipped_null + r->skipped_empty + 1;
}

/* The array's elements as texts; raises on NULLs and extra dimensions. */
static int
array_texts(TagRows *r, Datum d, const char *what, Datum **elems)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("row %lld of %s has a %d-dimensional %s array",
						(long long) row_number(r), r->relname, ARR_NDIM(arr), what),
				 errhint("Give one flat array of %s per row.", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("row %lld of %s has a NULL in its %s at position %d",
							(long long) row_number(r), r->relname, what, i + 1),
					 errhint("Every token needs a tag and every tag a token: remove or fill "
							 "NULL elements.")));
	return n;
}

static int
tag_index(TagRows *r, Datum d)
{
	char	   *s = TextDatumGetCString(d);
	TagEntry   *e;
	bool		found;

	if (strlen(s) >= sizeof(((TagEntry *) NULL)->key))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row %lld of %s has a tag of %zu bytes", (long long) row_number(r),
						r->relname, strlen(s)),
				 errdetail("Tags may have at most %d bytes.", (int) sizeof(e->key) - 1)));
	e = hash_search(r->tag_hash, s, HASH_ENTER, &found);
	if (!found)
	{
		if (r->n_tags >= RNN_MAX_CLASSES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("tags column has more than %d distinct tags", RNN_MAX_CLASSES)));
		e->idx = r->n_tags++;
	}
	return e->idx;
}

static void
tag_row(void *ctx, HeapTuple tup, TupleDesc desc, MemoryContext data_cxt)
{
	TagRows    *r = ctx;
	bool		tnull,
				gnull;
	Datum		td = SPI_getbinval(tup, desc, 1, &tnull);
	Datum		gd = SPI_getbinval(tup, desc, 2, &gnull);
	Datum	   *toks,
			   *tags;
	int			nt,
				ng;

	if (tnull || gnull)
	{
		r->skipped_null++;
		return;
	}
	nt = array_texts(r, td, "tokens", &toks);
	ng = array_texts(r, gd, "tags", &tags);
	if (nt != ng)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("row %lld of %s has %d tokens but %d tags",
						(long long) row_number(r), r->relname, nt, ng),
				 errdetail("Its tokens start with %s.",
						   nt > 0 ? quote_literal_cstr(TextDatumGetCString(toks[0])) : "nothing"),
				 errhint("Every token needs exactly one tag.")));
	if (nt == 0)
	{
		r->skipped_empty++;
		return;
	}

	/* the arrays grow with repalloc, which keeps them in data_cxt */
	if (r->n_rows + 1 >= r->row_cap)
	{
		r->row_cap *= 2;
		r->row_first = repalloc_huge(r->row_first, sizeof(Size) * (r->row_cap + 1));
	}
	while (r->n_tok + nt > r->n_tok_cap)
	{
		r->n_tok_cap *= 2;
		r->tok_off = repalloc_huge(r->tok_off, sizeof(Size) * (r->n_tok_cap + 1));
		r->tok_tag = repalloc_huge(r->tok_tag, sizeof(int32) * r->n_tok_cap);
	}
	for (int i = 0; i < nt; i++)
	{
		text	   *t = DatumGetTextPP(toks[i]);
		const char *utf8;
		int			ulen;
		char		buf[RNN_TOKEN_MAX_BYTES];
		size_t		n = 0,
					err_offset = 0;
		RnnTokStatus st;

		utf8 = rnn_text_to_utf8(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &ulen);
		st = rnn_token_normalize(utf8, ulen, buf, sizeof(buf), &n, &err_offset);
		if (st == RNN_TOK_TOO_LONG)
			n = 0;				/* too long for any vocabulary: <unk> */
		else if (st != RNN_TOK_OK)
			rnn_raise_tok_status(st, err_offset,
								 psprintf("could not read token %d of row %lld of %s", i + 1,
										  (long long) row_number(r), r->relname));
		appendBinaryStringInfo(&r->text, buf, n);
		r->tok_tag[r->n_tok] = tag_index(r, tags[i]);
		r->n_tok++;
		r->tok_off[r->n_tok] = r->text.len;
	}
	r->n_rows++;
	r->row_first[r->n_rows] = r->n_tok;
}

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
read_rows(const TagArgs *a, const char *relname, MemoryContext data_cxt, TagRows *r)
{
	HASHCTL		ctl;
	StringInfoData sql;
	const char *cols[2] = {a->tokens_column, a->tags_column};
	int		   *remap;
	HASH_SEQ_STATUS hs;
	TagEntry   *e;

	for (int c = 0; c < 2; c++)
	{
		AttrNumber	att;
		Oid			type;

		rnn_text_column(a->relid, relname, cols[c], &att, &type);
		if (!OidIsValid(get_element_type(getBaseType(type))))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s column \"%s\" is of type %s, not an array",
							c == 0 ? "tokens" : "tags", cols[c], format_type_be(type)),
					 errhint("Store each sentence's tokens and tags as text[] of equal length.")));
	}
	memset(r, 0, sizeof(*r));
	r->relname = relname;
	initStringInfo(&r->text);
	r->row_cap = 1024;
	r->row_first = palloc(sizeof(Size) * (r->row_cap + 1));
	r->row_first[0] = 0;
	r->n_tok_cap = 16384;
	r->tok_off = palloc(sizeof(Size) * (r->n_tok_cap + 1));
	r->tok_off[0] = 0;
	r->tok_tag = palloc(sizeof(int32) * r->n_tok_cap);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(((TagEntry *) NULL)->key);
	ctl.entrysize = sizeof(TagEntry);
	ctl.hcxt = data_cxt;
	r->tag_hash = hash_create("rnn_ext tags", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s::pg_catalog.text[], %s::pg_catalog.text[] FROM %s",
					 quote_identifier(a->tokens_column), quote_identifier(a->tags_column), relname);
	rnn_text_scan(sql.data, tag_row, r, data_cxt);
	SPI_finish();

	if (r->skipped_null > 0 || r->skipped_empty > 0)
		ereport(NOTICE,
				(errmsg("skipped %lld rows with NULL tokens or tags and %lld rows without tokens",
						(long long) r->skipped_null, (long long) r->skipped_empty)));
	if (r->n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation %s has no rows to train on", relname),
				 errdetail("Rows need non-NULL tokens and tags arrays with at least one token.")));
	if (r->n_tags < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot train a tagger on one tag"),
				 errhint("A tagger needs at least two distinct tags.")));

	/* tags in byte order, indices remapped */
	r->tags = palloc(sizeof(char *) * r->n_tags);
	remap = palloc(sizeof(int) * r->n_tags);
	hash_seq_init(&hs, r->tag_hash);
	while ((e = hash_seq_search(&hs)) != NULL)
		r->tags[e->idx] = pstrdup(e->key);
	qsort(r->tags, r->n_tags, sizeof(char *), cmp_cstr);
	hash_seq_init(&hs, r->tag_hash);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		char	   *k = e->key;
		char	  **pos = bsearch(&k, r->tags, r->n_tags, sizeof(char *), cmp_cstr);

		remap[e->idx] = (int) (pos - r->tags);
	}
	for (Size i = 0; i < r->n_tok; i++)
		r->tok_tag[i] = remap[r->tok_tag[i]];
}

/* ---------------------------------------------------------------------------
 * 2-3. Split, vocabulary, sequences
 */
typedef struct TagData
{
	int			n_train;		/* sequences 0 .. n_train-1 */
	int			n_valid;
	RnnSeqs		seqs;
	int32	   *tags;			/* (seqs.n_ids) aligned with seqs.ids */
	float		word_dropout;
	RnnRng		rng;
	int		   *bs;				/* (max_steps) */
	int		   *offs;			/* (max_steps) */
} TagData;

static RnnVocab *
build_vocab(const TagArgs *a, const TagRows *r, const int *order, int n_train_rows)
{
	RnnVocabBuilder *b;
	RnnVocab   *vocab;
	RnnTokStatus st = rnn_vocab_builder_create(&b, RNN_TOK_WORD);

	rnn_raise_tok_status(st, 0, "could not create the vocabulary");
	for (int k = 0; k < n_train_rows; k++)
	{
		int			row = order[k];

		CHECK_FOR_INTERRUPTS();
		for (Size i = r->row_first[row]; i < r->row_first[row + 1]; i++)
		{
			size_t		len = r->tok_off[i + 1] - r->tok_off[i];

			st = rnn_vocab_builder_add_token(b, r->text.data + r->tok_off[i], len, NULL);
			rnn_raise_tok_status(st, 0, "could not count the tokens");
		}
	}
	st = rnn_vocab_builder_finish(b, a->min_count, a->vocab_size, &vocab);
	rnn_raise_tok_status(st, 0, "could not build the vocabulary");
	rnn_vocab_builder_free(b);
	return vocab;
}

/* Rows order[0..n) as sequences of at most max_length tokens; returns the count. */
static int
append_sequences(const TagArgs *a, const TagRows *r, const RnnVocab *vocab, const int *order,
				 int n, TagData *d, int first_seq)
{
	int			k = first_seq;

	for (int j = 0; j < n; j++)
	{
		int			row = order[j];

		for (Size s = r->row_first[row]; s < r->row_first[row + 1]; s += a->max_length)
		{
			Size		e = Min(s + a->max_length, r->row_first[row + 1]);
			Size		o = d->seqs.off[k];

			for (Size i = s; i < e; i++)
			{
				size_t		len = r->tok_off[i + 1] - r->tok_off[i];

				d->seqs.ids[o + (i - s)] = len == 0 ? RNN_VOCAB_UNK :
					rnn_vocab_lookup(vocab, r->text.data + r->tok_off[i], len);
				d->tags[o + (i - s)] = r->tok_tag[i];
			}
			d->seqs.len[k] = (int) (e - s);
			d->seqs.off[k + 1] = o + (e - s);
			d->seqs.max_steps = Max(d->seqs.max_steps, (int) (e - s));
			k++;
		}
	}
	return k - first_seq;
}

static void
build_data(const TagArgs *a, const TagRows *r, const RnnVocab *vocab, const int *order,
		   int n_valid_rows, TagData *d)
{
	int			n_seq = 0;

	for (int row = 0; row < r->n_rows; row++)
	{
		Size		len = r->row_first[row + 1] - r->row_first[row];

		n_seq += (int) ((len + a->max_length - 1) / a->max_length);
	}
	memset(d, 0, sizeof(*d));
	d->seqs.n = n_seq;
	d->seqs.n_ids = r->n_tok;
	d->seqs.ids = palloc_extended(sizeof(int32) * r->n_tok, MCXT_ALLOC_HUGE);
	d->seqs.off = palloc_extended(sizeof(Size) * (n_seq + 1), MCXT_ALLOC_HUGE);
	d->seqs.len = palloc_extended(sizeof(int) * n_seq, MCXT_ALLOC_HUGE);
	d->tags = palloc_extended(sizeof(int32) * r->n_tok, MCXT_ALLOC_HUGE);
	d->seqs.off[0] = 0;
	d->n_train = append_sequences(a, r, vocab, order, r->n_rows - n_valid_rows, d, 0);
	d->n_valid = append_sequences(a, r, vocab, order + (r->n_rows - n_valid_rows), n_valid_rows,
								  d, d->n_train);
	d->word_dropout = (float) a->word_dropout;
	rnn_rng_seed(&d->rng, (uint64_t) a->seed ^ 0x776f7264ULL);
	d->bs = palloc(sizeof(int) * d->seqs.max_steps);
	d->offs = palloc(sizeof(int) * d->seqs.max_steps);
}

static int
tag_length(void *ctx, int i)
{
	return ((TagData *) ctx)->seqs.len[i];
}

static RnnStatus
tag_load(void *ctx, const int *idx, int count, RnnBatchBuf *buf)
{
	TagData    *d = ctx;
	RnnStatus	st = rnn_seqs_pack(&d->seqs, idx, count, buf->lengths, buf->tokens, d->bs,
								   d->offs, d->word_dropout, d->n_train, &d->rng);

	if (st != RNN_OK)
		return st;
	for (int b = 0; b < count; b++)
	{
		const int32 *tags = d->tags + d->seqs.off[idx[b]];

		for (int t = 0; t < d->seqs.len[idx[b]]; t++)
			buf->labels[d->offs[t] + b] = tags[t];
	}
	return RNN_OK;
}

/* ---------------------------------------------------------------------------
 * 4-5. Fitting and accuracy
 */
typedef struct Tagging
{
	RnnInfer   *inf;
	int			max_batch;
	int			n_tags;
	int32	   *tokens;			/* (max_batch * max_steps) */
	int		   *lengths;		/* (max_batch) */
	float	   *logits;			/* (max_batch * max_steps, n_tags) */
	RnnLenIdx  *order;			/* (n) */
	int		   *idx;			/* (max_batch) */
} Tagging;

/* Token accuracy of sequences first..first+count-1. */
static double
accuracy(Tagging *tg, TagData *d, int first, int count)
{
	int64		right = 0,
				total = 0;

	rnn_seqs_by_length(&d->seqs, first, count, tg->order);
	for (int s = 0; s < count; s += tg->max_batch)
	{
		int			B = Min(tg->max_batch, count - s);
		RnnBatch	batch;

		CHECK_FOR_INTERRUPTS();
		for (int b = 0; b < B; b++)
			tg->idx[b] = tg->order[s + b].idx;
		rnn_check_status(rnn_seqs_pack(&d->seqs, tg->idx, B, tg->lengths, tg->tokens, d->bs,
									   d->offs, 0, 0, NULL), "could not batch the data");
		memset(&batch, 0, sizeof(batch));
		batch.B = B;
		batch.T = tg->lengths[0];
		batch.lengths = tg->lengths;
		batch.tokens = tg->tokens;
		rnn_check_status(rnn_infer(tg->inf, &batch, tg->logits), "could not tag the data");
		for (int b = 0; b < B; b++)
		{
			const int32 *tags = d->tags + d->seqs.off[tg->idx[b]];

			for (int t = 0; t < tg->lengths[b]; t++)
			{
				const float *z = tg->logits + (size_t) (d->offs[t] + b) * tg->n_tags;
				int			best = 0;

				for (int c = 1; c < tg->n_tags; c++)
					if (z[c] > z[best])
						best = c;
				right += best == tags[t];
				total++;
			}
		}
	}
	return total > 0 ? (double) right / total : NAN;
}

typedef struct TagProgress
{
	const char *model_name;
	int			epochs;
	TagData    *data;
	Tagging    *tg;
	StringInfo	curve;
	double	   *train_loss;		/* (epochs) */
} TagProgress;

static void
on_batch(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

static int
on_epoch(void *ctx, const RnnEpochReport *r)
{
	TagProgress *pr = ctx;
	TagData    *d = pr->data;
	double		acc = d->n_valid > 0 ? accuracy(pr->tg, d, d->n_train, d->n_valid) : NAN;

	pr->train_loss[r->epoch - 1] = r->train_loss;
	if (rnn_progress_guc)
		ereport(NOTICE,
				(errmsg("%s: epoch %d/%d: train loss %.4f, validation loss %.4f, accuracy %.3f, %.1f s",
						pr->model_name, r->epoch, pr->epochs, r->train_loss, r->valid_loss, acc,
						r->seconds)));
	rnn_report_progress("rnn.train_tagger('%s'): epoch %d/%d, train loss %.4f, validation loss %.4f, accuracy %.3f",
						pr->model_name, r->epoch, pr->epochs, r->train_loss, r->valid_loss, acc);
	appendStringInfo(pr->curve, "%s{\"epoch\": %d, \"train_loss\": ", r->epoch > 1 ? ", " : "",
					 r->epoch);
	rnn_json_append_number(pr->curve, r->train_loss);
	appendStringInfoString(pr->curve, ", \"validation_loss\": ");
	rnn_json_append_number(pr->curve, r->valid_loss);
	appendStringInfoString(pr->curve, ", \"validation_accuracy\": ");
	rnn_json_append_number(pr->curve, acc);
	appendStringInfoString(pr->curve, ", \"seconds\": ");
	rnn_json_append_number(pr->curve, r->seconds);
	appendStringInfoChar(pr->curve, '}');
	return 0;
}

static RnnModel *
create_model(const TagArgs *a, int V, int n_tags, const TagData *d)
{
	RnnConfig	cfg;
	RnnModel   *model;
	const char *why = NULL;
	Size		need;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = a->cell;
	cfg.num_layers = a->num_layers;
	cfg.bidirectional = a->bidirectional ? 1 : 0;
	cfg.vocab_size = V;
	cfg.embedding_dim = a->embedding_dim;
	cfg.hidden_size = a->hidden_size;
	cfg.output_size = n_tags;
	cfg.head = RNN_HEAD_STEPS;
	cfg.pooling = RNN_POOL_LAST;
	cfg.dropout = (float) a->dropout;
	if (rnn_config_validate(&cfg, &why) != RNN_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model configuration: %s is out of range", why ? why : "a value")));
	need = rnn_fit_memory(&cfg, a->batch_size, d->seqs.max_steps);
	if (need != SIZE_MAX)
		need += rnn_param_count(&cfg) * sizeof(float) +
			rnn_trainer_memory(&cfg, a->batch_size, d->seqs.max_steps) / 2 +
			2 * sizeof(int32) * d->seqs.n_ids;
	rnn_check_train_memory(need, psprintf("training model \"%s\"", a->model_name));
	rnn_check_status(rnn_model_create(&model, &cfg), "could not create the model");
	rnn_model_init(model, (uint64_t) a->seed);
	return model;
}

static void
tagging_init(Tagging *tg, RnnModel *model, int max_batch, int n_tags, const TagData *d)
{
	memset(tg, 0, sizeof(*tg));
	tg->max_batch = max_batch;
	tg->n_tags = n_tags;
	rnn_check_status(rnn_infer_create(&tg->inf, model, max_batch, d->seqs.max_steps),
					 "could not prepare the model for validation");
	tg->tokens = palloc_extended(sizeof(int32) * (Size) max_batch * d->seqs.max_steps,
								 MCXT_ALLOC_HUGE);
	tg->lengths = palloc(sizeof(int) * max_batch);
	tg->logits = palloc_extended(sizeof(float) * (Size) max_batch * d->seqs.max_steps * n_tags,
								 MCXT_ALLOC_HUGE);
	tg->order = palloc_extended(sizeof(RnnLenIdx) * Max(d->seqs.n, 1), MCXT_ALLOC_HUGE);
	tg->idx = palloc(sizeof(int) * max_batch);
}

static RnnFitResult
fit_model(const TagArgs *a, RnnModel *model, TagData *d, TagProgress *pr)
{
	RnnDataset	ds;
	RnnFitOptions fo;
	RnnFitResult fr;

	memset(&ds, 0, sizeof(ds));
	ds.ctx = d;
	ds.n_train = d->n_train;
	ds.n_valid = d->n_valid;
	ds.max_steps = d->seqs.max_steps;
	ds.length = tag_length;
	ds.load = tag_load;
	rnn_fit_defaults(&fo);
	fo.epochs = a->epochs;
	fo.batch_size = a->batch_size;
	fo.patience = a->patience;
	fo.length_buckets = 1;
	fo.seed = (uint64_t) a->seed;
	fo.optim.learning_rate = (float) a->learning_rate;
	fo.optim.clip_norm = (float) a->clip_norm;
	fo.cb_ctx = pr;
	fo.on_batch = on_batch;
	fo.on_epoch = on_epoch;
	memset(&fr, 0, sizeof(fr));
	appendStringInfoChar(pr->curve, '[');
	rnn_check_status(rnn_fit(model, &ds, &fo, &fr),
					 psprintf("could not train model \"%s\"", a->model_name));
	appendStringInfoChar(pr->curve, ']');
	rnn_progress_done();
	return fr;
}

static int32
store_tagger(const TagArgs *a, const char *relname, RnnModel *model, const RnnVocab *vocab,
			 const TagRows *r, const TagData *d, double acc_train, double acc_valid,
			 const RnnFitResult *fr, double train_loss, StringInfo curve)
{
	RnnStoreRequest req;
	uint8_t    *blob;
	size_t		blob_len;
	bytea	   *weights;
	StringInfoData js;

	rnn_check_status(rnn_model_encode(model, &blob, &blob_len), "could not encode the model");
	weights = (bytea *) palloc_extended(blob_len + VARHDRSZ, MCXT_ALLOC_HUGE);
	SET_VARSIZE(weights, blob_len + VARHDRSZ);
	memcpy(VARDATA(weights), blob, blob_len);
	rnn_free(blob);

	memset(&req, 0, sizeof(req));
	req.name = a->model_name;
	req.kind = RNN_KIND_TAGGER;
	req.cell = rnn_cell_name(a->cell);
	req.source_relation = relname;
	req.source_rows = r->n_rows;
	req.weights = weights;
	req.vocabulary = rnn_vocab_array(vocab);
	req.labels = rnn_text_array((const char *const *) r->tags, NULL, r->n_tags, false);

	initStringInfo(&js);
	appendStringInfoString(&js, "{\"tokens_column\": ");
	escape_json(&js, a->tokens_column);
	appendStringInfoString(&js, ", \"tags_column\": ");
	escape_json(&js, a->tags_column);
	appendStringInfo(&js,
					 ", \"tokens\": \"word\", \"cell\": \"%s\", \"bidirectional\": %s, "
					 "\"num_layers\": %d, \"embedding_dim\": %d, \"hidden_size\": %d, "
					 "\"dropout\": %g, \"vocab_size\": %d, \"min_count\": %d, \"max_length\": %d, "
					 "\"max_tokens\": %d, \"epochs\": %d, \"batch_size\": %d, "
					 "\"learning_rate\": %g, \"validation_fraction\": %g, \"patience\": %d, "
					 "\"seed\": " INT64_FORMAT ", \"word_dropout\": %g, \"clip_norm\": %g}",
					 rnn_cell_name(a->cell), a->bidirectional ? "true" : "false", a->num_layers,
					 a->embedding_dim, a->hidden_size, a->dropout, a->vocab_size, a->min_count,
					 a->max_length, a->max_length, a->epochs, a->batch_size, a->learning_rate,
					 a->validation_fraction, a->patience, a->seed, a->word_dropout, a->clip_norm);
	req.hyperparams = rnn_jsonb_from_text(js.data);

	resetStringInfo(&js);
	appendStringInfo(&js, "{\"train\": {\"sequences\": %d, \"accuracy\": ", d->n_train);
	rnn_json_append_number(&js, acc_train);
	appendStringInfoString(&js, ", \"loss\": ");
	rnn_json_append_number(&js, train_loss);
	appendStringInfoString(&js, "}, \"validation\": ");
	if (d->n_valid > 0)
	{
		appendStringInfo(&js, "{\"sequences\": %d, \"accuracy\": ", d->n_valid);
		rnn_json_append_number(&js, acc_valid);
		appendStringInfoString(&js, ", \"loss\": ");
		rnn_json_append_number(&js, fr->best_valid_loss);
		appendStringInfoChar(&js, '}');
	}
	else
		appendStringInfoString(&js, "null");
	appendStringInfo(&js, ", \"epochs\": %d, \"best_epoch\": %d, \"seconds\": %.3f, "
					 "\"vocabulary_size\": %d, \"tags\": %d, \"tokens\": %zu, \"skipped_rows\": %lld}",
					 fr->epochs_run, fr->best_epoch, fr->seconds, rnn_vocab_size(vocab),
					 r->n_tags, (size_t) r->n_tok,
					 (long long) (r->skipped_null + r->skipped_empty));
	req.metrics = rnn_jsonb_from_text(js.data);
	req.loss_curve = rnn_jsonb_from_text(curve->data);
	return rnn_store_model(&req, NULL);
}

/* Rows compared by their tokens' bytes, then their tags: a total order on contents. */
static int
row_cmp(const void *a, const void *b, void *arg)
{
	const TagRows *r = arg;
	int			i = *(const int *) a,
				j = *(const int *) b;
	Size		ni = r->row_first[i + 1] - r->row_first[i],
				nj = r->row_first[j + 1] - r->row_first[j];

	for (Size k = 0; k < Min(ni, nj); k++)
	{
		Size		ti = r->row_first[i] + k,
					tj = r->row_first[j] + k;
		Size		li = r->tok_off[ti + 1] - r->tok_off[ti],
					lj = r->tok_off[tj + 1] - r->tok_off[tj];
		int			c = memcmp(r->text.data + r->tok_off[ti], r->text.data + r->tok_off[tj],
							   Min(li, lj));

		if (c != 0)
			return c;
		if (li != lj)
			return li < lj ? -1 : 1;
		if (r->tok_tag[ti] != r->tok_tag[tj])
			return r->tok_tag[ti] < r->tok_tag[tj] ? -1 : 1;
	}
	return ni < nj ? -1 : ni > nj ? 1 : 0;
}

/*
 * A seeded random order of the rows: training rows, then validation rows.
 * The rows are sorted by content before the shuffle, so the split, and with
 * it the model, is the same whatever order the scan read them in.
 */
static int
split_rows(const TagRows *r, double fraction, int64 seed, int *order)
{
	RnnRng		rng;
	int			n = r->n_rows;
	int			n_valid = (int) floor(n * fraction + 0.5);

	if (n_valid >= n)
		n_valid = n - 1;
	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort_arg(order, n, sizeof(int), row_cmp, (void *) r);
	rnn_rng_seed(&rng, (uint64_t) seed);
	rnn_rng_shuffle(&rng, order, n);
	return n_valid;
}

/* ---------------------------------------------------------------------------
 * rnn.train_tagger(...)
 */
PG_FUNCTION_INFO_V1(rnn_train_tagger);
Datum
rnn_train_tagger(PG_FUNCTION_ARGS)
{
	TagArgs		a;
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext train_cxt;
	TupleDesc	result_desc;
	char	   *relname;
	TagRows		r;
	int		   *order;
	int			n_valid_rows;
	RnnVocab   *vocab;
	TagData		d;
	RnnModel   *model;
	Tagging		tg;
	TagProgress pr;
	StringInfoData curve;
	RnnFitResult fr;
	double		acc_train,
				acc_valid,
				train_loss;
	int32		version;
	Datum		values[10];
	bool		nulls[10];
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	result_desc = BlessTupleDesc(result_desc);

	parse_args(fcinfo, &a);
	relname = rnn_text_relation(a.relid);
	rnn_require_blas();
	train_cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn_ext train_tagger",
									  ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(train_cxt);

	/* 1. rows; 2. split; 3. vocabulary of the training rows, sequences */
	read_rows(&a, relname, train_cxt, &r);
	order = palloc(sizeof(int) * r.n_rows);
	n_valid_rows = split_rows(&r, a.validation_fraction, a.seed, order);
	vocab = build_vocab(&a, &r, order, r.n_rows - n_valid_rows);
	build_data(&a, &r, vocab, order, n_valid_rows, &d);

	/* 4. model, fit */
	model = create_model(&a, rnn_vocab_size(vocab), r.n_tags, &d);
	tagging_init(&tg, model, a.batch_size, r.n_tags, &d);
	initStringInfo(&curve);
	memset(&pr, 0, sizeof(pr));
	pr.model_name = a.model_name;
	pr.epochs = a.epochs;
	pr.data = &d;
	pr.tg = &tg;
	pr.curve = &curve;
	pr.train_loss = palloc0(sizeof(double) * a.epochs);
	fr = fit_model(&a, model, &d, &pr);
	train_loss = fr.best_epoch > 0 ? pr.train_loss[fr.best_epoch - 1] : NAN;

	/* 5. accuracy with the best epoch's weights, stored */
	acc_train = accuracy(&tg, &d, 0, d.n_train);
	acc_valid = d.n_valid > 0 ? accuracy(&tg, &d, d.n_train, d.n_valid) : NAN;
	version = store_tagger(&a, relname, model, vocab, &r, &d, acc_train, acc_valid, &fr,
						   train_loss, &curve);

	MemoryContextSwitchTo(caller_cxt);
	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(version);
	values[1] = Float8GetDatum(acc_train);
	values[2] = Float8GetDatum(acc_valid);
	values[3] = Float8GetDatum(train_loss);
	values[4] = Float8GetDatum(fr.best_valid_loss);
	nulls[2] = nulls[4] = d.n_valid == 0;
	nulls[3] = !isfinite(train_loss);
	values[5] = Int32GetDatum(fr.epochs_run);
	values[6] = Int32GetDatum(fr.best_epoch);
	values[7] = Float8GetDatum(fr.seconds);
	values[8] = Int32GetDatum(rnn_vocab_size(vocab));
	values[9] = Int32GetDatum(r.n_tags);
	tup = heap_form_tuple(result_desc, values, nulls);
	MemoryContextDelete(train_cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}
