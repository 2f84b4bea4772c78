/*
 * text_data.h -- the text pipeline shared by every text model: the
 * classifier (classify_train.c), the language model and the tagger.
 *
 *   1. rnn_text_relation / rnn_text_column: the relation's quoted name and
 *      its columns, checked (a text column must be text, varchar or char);
 *   2. rnn_text_scan: rows through an SPI cursor with the caller's rights,
 *      1000 at a time, each in a short-lived context, interrupts checked;
 *      rnn_texts_add keeps a row's text (as UTF-8) when it has tokens;
 *   3. rnn_texts_vocab: the vocabulary of some of the texts (the training
 *      part), so validation measures unseen-token handling honestly;
 *   4. rnn_texts_encode: token ids of texts in a given order, cut to
 *      max_tokens (tokenizer.h: head + tail);
 *   5. rnn_seqs_pack / rnn_seqs_by_length: batches packed by length for
 *      rnn_fit's load callback and for scoring.
 *
 * The models differ only in what a row carries besides its text (a label,
 * tags) and in their head and loss.
 */
#ifndef RNN_TEXT_DATA_H
#define RNN_TEXT_DATA_H

#include "rnn_ext.h"

#include <math.h>

#include "access/htup.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"

#include "tokenizer.h"

/* ---------------------------------------------------------------------------
 * Arguments of the training functions
 */
static inline void
rnn_check_int_arg(const char *name, int v, int lo, int hi)
{
	if (v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d, not %d", name, lo, hi, v)));
}

/* v in [lo, hi] (or [lo, hi) when hi_open); NaN is refused. */
static inline void
rnn_check_real_arg(const char *name, double v, double lo, double hi, bool hi_open)
{
	if (isnan(v) || v < lo || v > hi || (hi_open && v >= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be in [%g, %g%s, not %g", name, lo, hi, hi_open ? ")" : "]", v)));
}

/* gru, lstm, rnn (or tanh), else INVALID_PARAMETER_VALUE (forecast_train.c). */
RnnCellKind rnn_parse_cell(const char *cell);

/* Raise unless every one of the first n arguments is non-NULL. */
void		rnn_require_args(FunctionCallInfo fcinfo, const char *func,
							 const char *const *names, int n);

/* "schema"."relation" of relid, or UNDEFINED_TABLE. */
char	   *rnn_text_relation(Oid relid);

/* Column col of relid: its number and type, or UNDEFINED_COLUMN. */
void		rnn_text_column(Oid relid, const char *relname, const char *col,
							AttrNumber *attnum, Oid *type);

/* As rnn_text_column, and DATATYPE_MISMATCH unless text, varchar or char. */
void		rnn_text_column_require_text(Oid relid, const char *relname, const char *col);

/* ---------------------------------------------------------------------------
 * Texts kept from the rows, UTF-8, back to back.
 */
typedef struct RnnTexts
{
	char	   *text;			/* (text_used) bytes; freed once encoded */
	Size		text_used;
	Size		text_cap;
	int			n;
	int			cap;
	Size	   *off;			/* (n + 1) into text */
	int64		skipped_null;	/* rows with a NULL where a value is needed */
	int64		skipped_empty;	/* texts without any token */
} RnnTexts;

/* Empty set of texts, allocated in CurrentMemoryContext. */
void		rnn_texts_init(RnnTexts *texts);

/* The number of the row being read, from 1, for error messages. */
static inline int64
rnn_texts_row_number(const RnnTexts *texts)
{
	return texts->n + texts->skipped_null + texts->skipped_empty + 1;
}

/*
 * Convert the text datum to UTF-8, check it tokenizes (in mode) and keep it
 * as text number texts->n.  Returns false, counting it in skipped_empty,
 * for a text without tokens.  Allocates the conversion in
 * CurrentMemoryContext (a per-row context) and the copy in data_cxt.
 */
bool		rnn_texts_add(RnnTexts *texts, Datum text_datum, RnnTokMode mode,
						  const char *relname, MemoryContext data_cxt);

/* Bytes and length of text i. */
static inline const char *
rnn_texts_get(const RnnTexts *texts, int i, size_t *len)
{
	*len = texts->off[i + 1] - texts->off[i];
	return texts->text + texts->off[i];
}

/*
 * Sort idx (n indices of texts) by the texts' bytes, shorter first on a
 * common prefix.  A training split that shuffles rows sorted so depends on
 * the rows and the seed, not on the order a scan returned them in (after
 * VACUUM FULL, CLUSTER, a dump and restore, another plan or Citus shards):
 * equal texts are interchangeable.
 */
void		rnn_texts_sort(const RnnTexts *texts, int *idx, int n);

/*
 * Run query (read-only, through a cursor, with the caller's rights) and
 * call row_fn for each row, in a per-row context reset before every row;
 * data_cxt is the context the callback keeps things in.  The caller is
 * connected to SPI.
 */
typedef void (*RnnTextRowFn) (void *ctx, HeapTuple tup, TupleDesc desc,
							  MemoryContext data_cxt);
void		rnn_text_scan(const char *query, RnnTextRowFn row_fn, void *ctx,
						  MemoryContext data_cxt);

/*
 * Append every text of column of relname (a quoted name) to texts with
 * rnn_texts_add, counting NULLs in texts->skipped_null; through
 * rnn_text_scan, so the caller is connected to SPI.
 */
void		rnn_texts_read_column(RnnTexts *texts, const char *relname, const char *column,
								  RnnTokMode mode, MemoryContext data_cxt);

/* Vocabulary of texts order[0..count) (min_count, max_size as tokenizer.h). */
RnnVocab   *rnn_texts_vocab(const RnnTexts *texts, const int *order, int count,
							RnnTokMode mode, int min_count, int max_size);

/* The same over those texts and every text of more (may be NULL), counted together. */
RnnVocab   *rnn_texts_vocab_more(const RnnTexts *texts, const int *order, int count,
								 const RnnTexts *more, RnnTokMode mode, int min_count,
								 int max_size);

/* ---------------------------------------------------------------------------
 * Token id sequences, the input of the network.
 */
typedef struct RnnSeqs
{
	int			n;
	int			max_steps;		/* longest sequence */
	int32	   *ids;			/* all ids back to back */
	Size	   *off;			/* (n + 1) into ids */
	int		   *len;			/* (n), each >= 1 */
	int64		truncated;		/* texts cut to max_tokens */
	Size		n_ids;			/* ids in all */
} RnnSeqs;

/*
 * Encode texts order[0..n) as sequences 0..n-1, each cut to max_tokens.
 * Every text must have a token (rnn_texts_add skipped the others).
 */
void		rnn_texts_encode(const RnnTexts *texts, const RnnVocab *vocab,
							 const int *order, int n, int max_tokens, RnnSeqs *seqs);

/* NOTICE about texts cut to max_tokens, if any. */
void		rnn_seqs_notice_truncated(const RnnSeqs *seqs, int max_tokens);

/*
 * Pack sequences idx[0..count) (sorted by length, descending) into lengths
 * (count) and tokens (packed, row offsets[t] + b; rnn.h).  With
 * word_dropout > 0, each id of a sequence numbered below dropout_below
 * becomes <unk> with that probability (rng).  bs, offs: (max_steps) scratch.
 */
RnnStatus	rnn_seqs_pack(const RnnSeqs *seqs, const int *idx, int count,
						  int *lengths, int32 *tokens, int *bs, int *offs,
						  float word_dropout, int dropout_below, RnnRng *rng);

/* order (count) = sequences first..first+count-1 sorted by length, descending. */
void		rnn_seqs_by_length(const RnnSeqs *seqs, int first, int count, RnnLenIdx *order);

/* ---------------------------------------------------------------------------
 * Storing
 */

/* text[] of n strings (lens may be NULL); from_utf8 converts to the server encoding. */
ArrayType  *rnn_text_array(const char *const *items, const size_t *lens, int n, bool from_utf8);

/* The vocabulary as rnn.models.vocabulary (text[], index = id). */
ArrayType  *rnn_vocab_array(const RnnVocab *vocab);

/* The vocabulary of a stored model (rnn.models.vocabulary, server encoding)
 * in tokenizer mode, which must have expected entries; broken(detail) raises. */
RnnVocab   *rnn_vocab_from_array(ArrayType *arr, RnnTokMode mode, int expected,
								 const char *name, void (*broken) (const char *name,
																   const char *detail));

/* A JSON number, or null when not finite. */
void		rnn_json_append_number(StringInfo buf, double v);

#endif							/* RNN_TEXT_DATA_H */
