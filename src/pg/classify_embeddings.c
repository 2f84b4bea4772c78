/*
 * classify_embeddings.c -- pretrained word vectors from a table for a
 * classifier's embedding (rnn.train_classifier(..., embeddings => 'glove_100d')).
 *
 *   CREATE TABLE glove_100d (word text, vector real[]);
 *   -- load a GloVe text file: see README.md (COPY, then split each line)
 *   SELECT * FROM rnn.train_classifier('review_gru', 'reviews', 'body', 'positive',
 *                                      embeddings => 'glove_100d');
 *
 * Notes:
 *  1. The relation has a column word (text, varchar or char) and a column
 *     vector (real[] or float8[]); every row is read (with the caller's
 *     rights) and checked: no NULL word or vector, one-dimensional vectors
 *     without NULL, NaN or infinite elements, all of the same dimension
 *     (at most 4096).  Each error names the word.
 *  2. A vocabulary token found as a word (byte for byte, after conversion to
 *     UTF-8: GloVe's words are lower case, as the tokenizer's) starts from its
 *     vector; the others keep their random start.  A word that matches a
 *     vocabulary token twice is an error (which vector would it be?).
 *  3. The vectors' dimension becomes embedding_dim.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "classify.h"
#include "text_data.h"

#define MAX_DIM 4096

typedef struct VectorScan
{
	const char *relname;
	const RnnVocab *vocab;
	RnnWordVectors *wv;
	int64		rows;
	char	   *first_word;		/* the word that set the dimension */
} VectorScan;

static void
check_columns(Oid relid, const char *relname)
{
	AttrNumber	att;
	Oid			type;
	Oid			base;

	if (get_attnum(relid, "word") == InvalidAttrNumber ||
		get_attnum(relid, "vector") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("embeddings relation %s has no column \"%s\"", relname,
						get_attnum(relid, "word") == InvalidAttrNumber ? "word" : "vector"),
				 errhint("An embeddings relation has columns word (text) and vector (real[] or "
						 "float8[]), as a GloVe or fastText text file loads with COPY.")));
	rnn_text_column(relid, relname, "word", &att, &type);
	base = getBaseType(type);
	if (base != TEXTOID && base != VARCHAROID && base != BPCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"word\" of embeddings relation %s is of type %s, not text",
						relname, format_type_be(type))));
	rnn_text_column(relid, relname, "vector", &att, &type);
	base = getBaseType(type);
	if (base != FLOAT4ARRAYOID && base != FLOAT8ARRAYOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"vector\" of embeddings relation %s is of type %s, not real[] or float8[]",
						relname, format_type_be(type))));
}

static void
vector_row(void *ctx, HeapTuple tup, TupleDesc desc, MemoryContext data_cxt)
{
	VectorScan *vs = ctx;
	RnnWordVectors *wv = vs->wv;
	bool		wnull,
				vnull;
	Datum		wd = SPI_getbinval(tup, desc, 1, &wnull);
	Datum		vd = SPI_getbinval(tup, desc, 2, &vnull);
	char	   *word;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	const char *utf8;
	int			ulen;
	int32		id;

	vs->rows++;
	if (wnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("embeddings relation %s has a NULL word (row %lld)",
						vs->relname, (long long) vs->rows)));
	word = TextDatumGetCString(wd);
	if (vnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("word \"%s\" of embeddings relation %s has a NULL vector", word, vs->relname)));
	arr = DatumGetArrayTypeP(vd);
	if (ARR_NDIM(arr) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("word \"%s\" of embeddings relation %s has a vector of %d dimensions",
						word, vs->relname, ARR_NDIM(arr)),
				 errdetail("A vector is a one-dimensional array of numbers.")));
	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (wv->dim == 0)
	{
		if (n > MAX_DIM)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("word \"%s\" of embeddings relation %s has %d numbers, more than %d",
							word, vs->relname, n, MAX_DIM)));
		wv->dim = n;
		vs->first_word = MemoryContextStrdup(data_cxt, word);
		wv->rows = MemoryContextAllocHuge(data_cxt, sizeof(float) *
										  (Size) rnn_vocab_size(vs->vocab) * n);
	}
	else if (n != wv->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("word \"%s\" of embeddings relation %s has %d numbers, not %d",
						word, vs->relname, n, wv->dim),
				 errdetail("The first word, \"%s\", set the dimension to %d.", vs->first_word, wv->dim),
				 errhint("Every vector of an embeddings relation has the same dimension.")));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("word \"%s\" of embeddings relation %s has a NULL in its vector",
							word, vs->relname)));
		if (!isfinite(DatumGetFloat8(elems[i])) || fabs(DatumGetFloat8(elems[i])) > FLT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("word \"%s\" of embeddings relation %s has %s in its vector",
							word, vs->relname,
							isnan(DatumGetFloat8(elems[i])) ? "NaN" : "a value out of float range")));
	}

	utf8 = rnn_text_to_utf8(word, strlen(word), &ulen);
	id = rnn_vocab_lookup(vs->vocab, utf8, ulen);
	if (id == RNN_VOCAB_PAD || id == RNN_VOCAB_UNK)
		return;					/* not a word of the vocabulary */
	if (wv->have[id])
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("word \"%s\" appears twice in embeddings relation %s", word, vs->relname),
				 errhint("Keep one vector per word, e.g. with SELECT DISTINCT ON (word).")));
	wv->have[id] = true;
	wv->found++;
	for (int i = 0; i < n; i++)
		wv->rows[(Size) id * n + i] = (float) DatumGetFloat8(elems[i]);
}

void
rnn_read_word_vectors(Oid relid, const RnnVocab *vocab, RnnWordVectors *wv)
{
	char	   *relname = rnn_text_relation(relid);
	MemoryContext data_cxt = CurrentMemoryContext;	/* SPI_connect switches */
	VectorScan	vs;
	StringInfoData sql;

	check_columns(relid, relname);
	memset(wv, 0, sizeof(*wv));
	wv->relname = relname;
	wv->have = palloc0(sizeof(bool) * rnn_vocab_size(vocab));
	memset(&vs, 0, sizeof(vs));
	vs.relname = relname;
	vs.vocab = vocab;
	vs.wv = wv;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT word::pg_catalog.text, vector::pg_catalog.float8[] FROM %s", relname);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rnn_text_scan(sql.data, vector_row, &vs, data_cxt);
	SPI_finish();
	if (vs.rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("embeddings relation %s has no rows", relname),
				 errhint("Load the word vectors first, or train without embeddings.")));
}

void
rnn_word_vectors_apply(const RnnWordVectors *wv, RnnModel *model)
{
	int			V = model->cfg.vocab_size;
	int			E = model->cfg.embedding_dim;

	Assert(E == wv->dim);
	for (int id = 0; id < V; id++)
		if (wv->have[id])
			memcpy(model->p.embedding + (Size) id * E, wv->rows + (Size) id * E, sizeof(float) * E);
}
