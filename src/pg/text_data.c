/*
 * text_data.c -- the text pipeline shared by the classifier, the language
 * model and the tagger: relation and columns, reading texts through SPI,
 * the vocabulary, token ids, batches packed by length (text_data.h).
 *
 * Memory: texts are copied into the caller's data context; everything a
 * row needs only while it is read (detoasted values, UTF-8 conversions)
 * lives in a per-row context, or the whole table would pile up there.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "classify.h"
#include "text_data.h"

#define FETCH_ROWS 1000

/* ---------------------------------------------------------------------------
 * Arguments
 */
void
rnn_require_args(FunctionCallInfo fcinfo, const char *func, const char *const *names, int n)
{
	if (PG_NARGS() != n)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s was declared with %d arguments, the library expects %d",
						func, PG_NARGS(), n),
				 errhint("Run ALTER EXTENSION rnn_ext UPDATE, or reinstall the extension.")));
	for (int i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", names[i])));
}

/* ---------------------------------------------------------------------------
 * Relation and columns
 */
char *
rnn_text_relation(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);
}

void
rnn_text_column(Oid relid, const char *relname, const char *col, AttrNumber *attnum, Oid *type)
{
	*attnum = get_attnum(relid, col);
	if (*attnum == InvalidAttrNumber || *attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation %s does not exist", col, relname)));
	*type = get_atttype(relid, *attnum);
}

void
rnn_text_column_require_text(Oid relid, const char *relname, const char *col)
{
	AttrNumber	att;
	Oid			type;
	Oid			base;

	rnn_text_column(relid, relname, col, &att, &type);
	base = getBaseType(type);
	if (base != TEXTOID && base != VARCHAROID && base != BPCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("text column \"%s\" is of type %s, not text",
						col, format_type_be(type)),
				 errhint("Train on a view that casts the column to text.")));
}

/* ---------------------------------------------------------------------------
 * Reading
 */
void
rnn_texts_init(RnnTexts *texts)
{
	memset(texts, 0, sizeof(*texts));
	texts->cap = 1024;
	texts->off = palloc(sizeof(Size) * (texts->cap + 1));
	texts->text_cap = 64 * 1024;
	texts->text = palloc_extended(texts->text_cap, MCXT_ALLOC_HUGE);
	texts->off[0] = 0;
}

bool
rnn_texts_add(RnnTexts *texts, Datum text_datum, RnnTokMode mode, const char *relname,
			  MemoryContext data_cxt)
{
	text	   *t = DatumGetTextPP(text_datum);
	const char *utf8;
	int			ulen;
	size_t		n_total = 0,
				n_kept,
				err_offset = 0;
	RnnTokStatus tst;
	MemoryContext old;

	utf8 = rnn_text_to_utf8(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &ulen);
	/* count only: validates UTF-8, finds texts without tokens */
	tst = rnn_tokenize(utf8, ulen, mode, NULL, NULL, 0, &n_kept, &n_total, &err_offset);
	if (tst != RNN_TOK_OK)
		rnn_raise_tok_status(tst, err_offset,
							 psprintf("could not tokenize row %lld of %s",
									  (long long) rnn_texts_row_number(texts), relname));
	if (n_total == 0)
	{
		texts->skipped_empty++;
		return false;
	}

	old = MemoryContextSwitchTo(data_cxt);
	if (texts->n == texts->cap)
	{
		if (texts->cap >= INT_MAX / 4)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("relation %s has too many rows to train on", relname)));
		texts->cap *= 2;
		texts->off = repalloc_huge(texts->off, sizeof(Size) * (texts->cap + 1));
	}
	while (texts->text_used + ulen > texts->text_cap)
	{
		texts->text_cap *= 2;
		texts->text = repalloc_huge(texts->text, texts->text_cap);
	}
	MemoryContextSwitchTo(old);
	memcpy(texts->text + texts->text_used, utf8, ulen);
	texts->text_used += ulen;
	texts->n++;
	texts->off[texts->n] = texts->text_used;
	return true;
}

void
rnn_text_scan(const char *query, RnnTextRowFn row_fn, void *ctx, MemoryContext data_cxt)
{
	Portal		portal;
	MemoryContext row_cxt;

	portal = SPI_cursor_open_with_args(NULL, query, 0, NULL, NULL, NULL, true, 0);
	row_cxt = AllocSetContextCreate(data_cxt, "rnn_ext text row", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext old;

		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		CHECK_FOR_INTERRUPTS();
		if (SPI_processed == 0)
			break;
		old = MemoryContextSwitchTo(row_cxt);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			MemoryContextReset(row_cxt);
			row_fn(ctx, SPI_tuptable->vals[r], SPI_tuptable->tupdesc, data_cxt);
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
	}
	MemoryContextDelete(row_cxt);
	SPI_cursor_close(portal);
}

/* rnn_texts_read_column's row callback: the one column is a text */
typedef struct ColumnReader
{
	RnnTexts   *texts;
	RnnTokMode	mode;
	const char *relname;
} ColumnReader;

static void
column_text_row(void *ctx, HeapTuple tup, TupleDesc desc, MemoryContext data_cxt)
{
	ColumnReader *rd = ctx;
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, 1, &isnull);

	if (isnull)
		rd->texts->skipped_null++;
	else
		rnn_texts_add(rd->texts, d, rd->mode, rd->relname, data_cxt);
}

void
rnn_texts_read_column(RnnTexts *texts, const char *relname, const char *column,
					  RnnTokMode mode, MemoryContext data_cxt)
{
	ColumnReader rd = {texts, mode, relname};
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s::pg_catalog.text FROM %s", quote_identifier(column), relname);
	rnn_text_scan(sql.data, column_text_row, &rd, data_cxt);
	pfree(sql.data);
}

static int
text_cmp(const void *a, const void *b, void *arg)
{
	const RnnTexts *texts = arg;
	size_t		na,
				nb;
	const char *ta = rnn_texts_get(texts, *(const int *) a, &na);
	const char *tb = rnn_texts_get(texts, *(const int *) b, &nb);
	int			c = memcmp(ta, tb, Min(na, nb));

	if (c != 0)
		return c;
	return na < nb ? -1 : na > nb ? 1 : 0;
}

void
rnn_texts_sort(const RnnTexts *texts, int *idx, int n)
{
	qsort_arg(idx, n, sizeof(int), text_cmp, (void *) texts);
}

/* ---------------------------------------------------------------------------
 * Vocabulary and token ids
 */
RnnVocab *
rnn_texts_vocab(const RnnTexts *texts, const int *order, int count, RnnTokMode mode,
				int min_count, int max_size)
{
	return rnn_texts_vocab_more(texts, order, count, NULL, mode, min_count, max_size);
}

RnnVocab *
rnn_texts_vocab_more(const RnnTexts *texts, const int *order, int count, const RnnTexts *more,
					 RnnTokMode mode, int min_count, int max_size)
{
	RnnVocabBuilder *builder;
	RnnVocab   *vocab;
	RnnTokStatus tst;
	size_t		err_offset = 0;

	tst = rnn_vocab_builder_create(&builder, mode);
	rnn_raise_tok_status(tst, 0, "could not create the vocabulary");
	for (int k = 0; k < count; k++)
	{
		size_t		len;
		const char *s = rnn_texts_get(texts, order[k], &len);

		CHECK_FOR_INTERRUPTS();
		tst = rnn_vocab_builder_add(builder, s, len, &err_offset);
		rnn_raise_tok_status(tst, err_offset, "could not count the tokens of a text");
	}
	for (int k = 0; more && k < more->n; k++)
	{
		size_t		len;
		const char *s = rnn_texts_get(more, k, &len);

		CHECK_FOR_INTERRUPTS();
		tst = rnn_vocab_builder_add(builder, s, len, &err_offset);
		rnn_raise_tok_status(tst, err_offset, "could not count the tokens of a text");
	}
	tst = rnn_vocab_builder_finish(builder, min_count, max_size, &vocab);
	rnn_raise_tok_status(tst, 0, "could not build the vocabulary");
	rnn_vocab_builder_free(builder);
	return vocab;
}

void
rnn_texts_encode(const RnnTexts *texts, const RnnVocab *vocab, const int *order, int n,
				 int max_tokens, RnnSeqs *seqs)
{
	RnnTokMode	mode = rnn_vocab_mode(vocab);

	memset(seqs, 0, sizeof(*seqs));
	seqs->n = n;
	seqs->off = palloc_extended(sizeof(Size) * (n + 1), MCXT_ALLOC_HUGE);
	seqs->len = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);

	/* count first: one allocation for all ids */
	for (int k = 0; k < n; k++)
	{
		size_t		len;
		const char *s = rnn_texts_get(texts, order[k], &len);
		size_t		nt = 0;

		rnn_tokenize(s, len, mode, NULL, NULL, 0, &nt, &nt, NULL);
		seqs->n_ids += Min(nt, (size_t) max_tokens);
	}
	seqs->ids = palloc_extended(sizeof(int32) * Max(seqs->n_ids, 1), MCXT_ALLOC_HUGE);
	seqs->off[0] = 0;
	for (int k = 0; k < n; k++)
	{
		size_t		len;
		const char *s = rnn_texts_get(texts, order[k], &len);
		size_t		n_ids = 0,
					n_total = 0,
					err_offset = 0;
		RnnTokStatus tst;

		CHECK_FOR_INTERRUPTS();
		tst = rnn_vocab_encode(vocab, s, len, seqs->ids + seqs->off[k], max_tokens,
							   &n_ids, &n_total, NULL, &err_offset);
		rnn_raise_tok_status(tst, err_offset, "could not encode a text");
		Assert(n_ids >= 1 && seqs->off[k] + n_ids <= seqs->n_ids);
		if (n_total > n_ids)
			seqs->truncated++;
		seqs->len[k] = (int) n_ids;
		seqs->off[k + 1] = seqs->off[k] + n_ids;
		seqs->max_steps = Max(seqs->max_steps, (int) n_ids);
	}
}

void
rnn_seqs_notice_truncated(const RnnSeqs *seqs, int max_tokens)
{
	if (seqs->truncated > 0)
		ereport(NOTICE,
				(errmsg("%lld texts were cut to max_tokens = %d tokens",
						(long long) seqs->truncated, max_tokens),
				 errdetail("The first quarter and the last three quarters of their tokens are kept.")));
}

/* ---------------------------------------------------------------------------
 * Batches
 */
RnnStatus
rnn_seqs_pack(const RnnSeqs *seqs, const int *idx, int count, int *lengths, int32 *tokens,
			  int *bs, int *offs, float word_dropout, int dropout_below, RnnRng *rng)
{
	for (int b = 0; b < count; b++)
		lengths[b] = seqs->len[idx[b]];
	if (rnn_pack_layout(lengths, count, bs, offs) < 0)
		return RNN_ERR_INPUT;
	for (int b = 0; b < count; b++)
	{
		int			i = idx[b];
		const int32 *ids = seqs->ids + seqs->off[i];
		bool		drop = word_dropout > 0 && i < dropout_below;

		for (int t = 0; t < seqs->len[i]; t++)
		{
			int32		id = ids[t];

			if (drop && rnn_rng_uniform(rng) < word_dropout)
				id = RNN_VOCAB_UNK;
			tokens[offs[t] + b] = id;
		}
	}
	return RNN_OK;
}

void
rnn_seqs_by_length(const RnnSeqs *seqs, int first, int count, RnnLenIdx *order)
{
	for (int i = 0; i < count; i++)
	{
		order[i].len = seqs->len[first + i];
		order[i].idx = first + i;
	}
	rnn_sort_by_length(order, count);
}

/* ---------------------------------------------------------------------------
 * Storing
 */
ArrayType *
rnn_text_array(const char *const *items, const size_t *lens, int n, bool from_utf8)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			enc = GetDatabaseEncoding();

	for (int i = 0; i < n; i++)
	{
		const char *s = items[i];
		size_t		len = lens ? lens[i] : strlen(s);

		if (from_utf8 && enc != PG_UTF8 && enc != PG_SQL_ASCII)
		{
			s = pg_any_to_server(s, (int) len, PG_UTF8);
			len = strlen(s);
		}
		d[i] = PointerGetDatum(cstring_to_text_with_len(s, (int) len));
	}
	return construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
}

ArrayType *
rnn_vocab_array(const RnnVocab *vocab)
{
	int			V = rnn_vocab_size(vocab);
	const char **tok = palloc(sizeof(char *) * V);
	size_t	   *len = palloc(sizeof(size_t) * V);

	for (int i = 0; i < V; i++)
		tok[i] = rnn_vocab_token(vocab, i, &len[i]);
	return rnn_text_array(tok, len, V, true);
}

RnnVocab *
rnn_vocab_from_array(ArrayType *arr, RnnTokMode mode, int expected, const char *name,
					 void (*broken) (const char *name, const char *detail))
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	const char **tokens;
	size_t	   *lens;
	size_t		err_index = 0;
	RnnVocab   *vocab;
	RnnTokStatus tst;

	if (arr == NULL)
		broken(name, "It has no vocabulary.");
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n != expected)
		broken(name, psprintf("Its vocabulary has %d entries but its weights %d.", n, expected));
	tokens = palloc(sizeof(char *) * n);
	lens = palloc(sizeof(size_t) * n);
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		int			len;

		if (nulls[i])
			broken(name, psprintf("Its vocabulary entry %d is NULL.", i));
		t = DatumGetTextPP(elems[i]);
		tokens[i] = rnn_text_to_utf8(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &len);
		lens[i] = len;
	}
	tst = rnn_vocab_from_strings(&vocab, mode, tokens, lens, n, &err_index);
	rnn_raise_tok_status(tst, err_index,
						 psprintf("could not load the vocabulary of model \"%s\"", name));
	return vocab;
}

void
rnn_json_append_number(StringInfo buf, double v)
{
	if (isfinite(v))
		appendStringInfo(buf, "%.6g", v);
	else
		appendStringInfoString(buf, "null");
}
