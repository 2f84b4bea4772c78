/*
 * classify_train.c -- rnn.train_classifier: a many-to-one text classifier
 * trained on the rows of a table, in one SQL call.
 *
 *   SELECT * FROM rnn.train_classifier('review_gru', 'reviews'::regclass,
 *                                      text_column => 'body',
 *                                      label_column => 'positive');
 *   NOTICE:  epoch 1/20: train loss 0.6612, validation loss 0.5875, accuracy 0.712, 3.1s
 *   ...
 *    version | train_accuracy | validation_accuracy | ... | vocabulary_size
 *   ---------+----------------+---------------------+-----+-----------------
 *          1 |           0.93 |                0.78 | ... |            9127
 *
 * Steps:
 *  1. Check the arguments, the columns (the text column must be text,
 *     varchar or char) and read the class list: the distinct labels in the
 *     label type's own order (false < true, 1 < 2 < 10; text in byte order,
 *     COLLATE "C", so the order does not depend on the database's locale).
 *  2. Read (text, label) through SPI with the caller's rights, a cursor
 *     fetching 1000 rows at a time.  Rows with a NULL text or label, and
 *     texts without any token (empty, whitespace only), are skipped and
 *     counted in a NOTICE: they carry nothing to learn from.
 *  3. Stratified, seeded split: validation_fraction of each class (rounded,
 *     leaving each class at least one training row) is held out.
 *  4. The vocabulary is built from the training part only (min_count,
 *     vocab_size), so validation measures unseen-word handling honestly.
 *     Texts are cut to max_tokens tokens (tokenizer.h: head + tail).
 *     With ngram_order 1 or 2, the n-gram linear path (naive Bayes over
 *     unigrams and bigrams of token ids, src/core/ngram.h) is fitted on
 *     the training part; the network starts as that path alone and learns
 *     what to add to its logits.
 *  5. rnn_fit: length-grouped shuffled batches, Adam, dropout, optional word
 *     dropout (training tokens replaced by <unk> with that probability, so
 *     the <unk> embedding is learned and the model leans less on single
 *     words), early stopping on the validation loss (or, with
 *     early_stopping => 'accuracy', the validation accuracy) with the best
 *     epoch's weights restored.  Each epoch: a NOTICE and pg_stat_activity.query
 *     show progress; every batch checks for interrupts.
 *  6. Metrics on both parts, then a new version in rnn.models: weights,
 *     vocabulary (text[], index = token id), labels, hyperparams, the class
 *     prior (normalization), metrics and the loss curve.  It becomes visible
 *     when the transaction commits; an error stores nothing.
 *
 * Memory: everything -- rows, token ids, the engine's model, trainer and
 * batches (rnn_alloc is palloc in CurrentMemoryContext) -- lives in one
 * context deleted at the end, and freed with the transaction if an error or
 * a cancel unwinds through the engine.  The engine's part is checked
 * against rnn.max_train_memory before anything is allocated.
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "classify.h"
#include "jsonb_util.h"
#include "text_data.h"

/* ---------------------------------------------------------------------------
 * Arguments
 */
typedef struct TrainArgs
{
	char	   *model_name;
	Oid			relid;
	char	   *text_column;
	char	   *label_column;
	RnnCellKind cell;
	bool		bidirectional;
	int			num_layers;
	int			embedding_dim;
	int			hidden_size;
	double		dropout;
	RnnPooling	pooling;
	RnnTokMode	tokens;
	int			vocab_size;
	int			min_count;
	int			max_tokens;
	int			epochs;
	int			batch_size;
	double		learning_rate;
	double		validation_fraction;
	int			patience;
	int64		seed;
	double		word_dropout;
	double		weight_decay;
	double		clip_norm;
	bool		balance_classes;
	bool		stop_on_accuracy;	/* early_stopping => 'accuracy' */
	int			ngram_order;	/* n-gram linear path: 0 none, 1, 2 */
	Oid			embeddings;		/* relation of word vectors, or InvalidOid */
	bool		freeze_embeddings;
	Oid			pretrain_relid;	/* relation of unlabelled texts, or InvalidOid */
	char	   *pretrain_text_column;
	int			pretrain_epochs;	/* -1: auto */
} TrainArgs;

static const char *const arg_names[] = {
	"model_name", "relation", "text_column", "label_column", "cell", "bidirectional",
	"num_layers", "embedding_dim", "hidden_size", "dropout", "pooling", "tokens",
	"vocab_size", "min_count", "max_tokens", "epochs", "batch_size", "learning_rate",
	"validation_fraction", "patience", "seed", "word_dropout", "weight_decay",
	"clip_norm", "balance_classes", "early_stopping", "ngram_order", "embeddings",
	"freeze_embeddings", "pretrain_relation", "pretrain_text_column", "pretrain_epochs"
};

/* the arguments that may be NULL */
#define ARG_EMBEDDINGS 27
#define ARG_PRETRAIN_RELATION 29
#define ARG_PRETRAIN_TEXT_COLUMN 30
#define ARG_PRETRAIN_EPOCHS 31
#define ARG_NULLABLE(i) ((i) == ARG_EMBEDDINGS || (i) >= ARG_PRETRAIN_RELATION)

static const char *
pooling_name(RnnPooling p)
{
	return p == RNN_POOL_LAST ? "last" : p == RNN_POOL_MAX ? "max" : "mean";
}

static void
freeze_needs_embeddings(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("freeze_embeddings needs embeddings or pretraining"),
			 errhint("Name a relation of word vectors with embeddings => '...', or texts to "
					 "pretrain on.")));
}

static void
parse_args(FunctionCallInfo fcinfo, TrainArgs *a)
{
	char	   *s;

	/* the 0.1 and 0.2 declarations end before ngram_order, 0.3's before
	 * pretrain_relation */
	if (PG_NARGS() != lengthof(arg_names) && PG_NARGS() != 26 && PG_NARGS() != 29)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rnn.train_classifier was declared with %d arguments, the library expects %d",
						PG_NARGS(), (int) lengthof(arg_names)),
				 errhint("Run ALTER EXTENSION rnn_ext UPDATE, or reinstall the extension.")));
	for (int i = 0; i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i) && !ARG_NULLABLE(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", arg_names[i])));

	a->model_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rnn_check_model_name(a->model_name);
	a->relid = PG_GETARG_OID(1);
	a->text_column = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	a->label_column = pstrdup(NameStr(*PG_GETARG_NAME(3)));

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

	s = text_to_cstring(PG_GETARG_TEXT_PP(10));
	if (strcmp(s, "last") == 0)
		a->pooling = RNN_POOL_LAST;
	else if (strcmp(s, "max") == 0)
		a->pooling = RNN_POOL_MAX;
	else if (strcmp(s, "mean") == 0)
		a->pooling = RNN_POOL_MEAN;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pooling \"%s\"", s),
				 errhint("Use max (over time), mean, or last (the final state; needed for "
						 "rnn.sentiment_running).")));

	s = text_to_cstring(PG_GETARG_TEXT_PP(11));
	if (rnn_tok_mode_from_name(s) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tokens mode \"%s\"", s),
				 errhint("Use word or char.")));
	a->tokens = (RnnTokMode) rnn_tok_mode_from_name(s);

	a->vocab_size = PG_GETARG_INT32(12);
	rnn_check_int_arg("vocab_size", a->vocab_size, 3, RNN_MAX_VOCAB);
	a->min_count = PG_GETARG_INT32(13);
	rnn_check_int_arg("min_count", a->min_count, 1, INT_MAX);
	a->max_tokens = PG_GETARG_INT32(14);
	rnn_check_int_arg("max_tokens", a->max_tokens, 1, 100000);
	a->epochs = PG_GETARG_INT32(15);
	rnn_check_int_arg("epochs", a->epochs, 1, 100000);
	a->batch_size = PG_GETARG_INT32(16);
	rnn_check_int_arg("batch_size", a->batch_size, 1, 100000);
	a->learning_rate = PG_GETARG_FLOAT8(17);
	rnn_check_real_arg("learning_rate", a->learning_rate, 1e-9, 10, false);
	a->validation_fraction = PG_GETARG_FLOAT8(18);
	rnn_check_real_arg("validation_fraction", a->validation_fraction, 0, 0.9, false);
	a->patience = PG_GETARG_INT32(19);
	rnn_check_int_arg("patience", a->patience, 0, 100000);
	a->seed = PG_GETARG_INT64(20);
	a->word_dropout = PG_GETARG_FLOAT8(21);
	rnn_check_real_arg("word_dropout", a->word_dropout, 0, 1, true);
	a->weight_decay = PG_GETARG_FLOAT8(22);
	rnn_check_real_arg("weight_decay", a->weight_decay, 0, 1, false);
	a->clip_norm = PG_GETARG_FLOAT8(23);
	rnn_check_real_arg("clip_norm", a->clip_norm, 0, 1e6, false);
	a->balance_classes = PG_GETARG_BOOL(24);

	s = text_to_cstring(PG_GETARG_TEXT_PP(25));
	if (strcmp(s, "loss") == 0)
		a->stop_on_accuracy = false;
	else if (strcmp(s, "accuracy") == 0)
		a->stop_on_accuracy = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid early_stopping \"%s\"", s),
				 errhint("Use loss (validation log loss) or accuracy (validation accuracy).")));
	a->ngram_order = PG_NARGS() > 26 ? PG_GETARG_INT32(26) : 2;
	rnn_check_int_arg("ngram_order", a->ngram_order, 0, RNN_NGRAM_MAX_ORDER);
	a->embeddings = PG_NARGS() > ARG_EMBEDDINGS && !PG_ARGISNULL(ARG_EMBEDDINGS) ?
		PG_GETARG_OID(ARG_EMBEDDINGS) : InvalidOid;
	a->freeze_embeddings = PG_NARGS() > ARG_EMBEDDINGS + 1 && PG_GETARG_BOOL(ARG_EMBEDDINGS + 1);
	a->pretrain_relid = PG_NARGS() > ARG_PRETRAIN_RELATION && !PG_ARGISNULL(ARG_PRETRAIN_RELATION) ?
		PG_GETARG_OID(ARG_PRETRAIN_RELATION) : InvalidOid;
	a->pretrain_text_column = PG_NARGS() > ARG_PRETRAIN_TEXT_COLUMN &&
		!PG_ARGISNULL(ARG_PRETRAIN_TEXT_COLUMN) ?
		pstrdup(NameStr(*PG_GETARG_NAME(ARG_PRETRAIN_TEXT_COLUMN))) : NULL;
	a->pretrain_epochs = -1;
	if (PG_NARGS() > ARG_PRETRAIN_EPOCHS && !PG_ARGISNULL(ARG_PRETRAIN_EPOCHS))
	{
		a->pretrain_epochs = PG_GETARG_INT32(ARG_PRETRAIN_EPOCHS);
		rnn_check_int_arg("pretrain_epochs", a->pretrain_epochs, 0, 1000);
	}
	if (a->pretrain_text_column && !OidIsValid(a->pretrain_relid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pretrain_text_column needs pretrain_relation"),
				 errhint("Name the relation of unlabelled texts with pretrain_relation => '...'.")));
	if (OidIsValid(a->pretrain_relid) && a->pretrain_epochs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pretrain_relation needs pretrain_epochs above 0, not 0"),
				 errhint("Leave pretrain_epochs NULL (chosen on the validation texts) or give a "
						 "number of epochs.")));
	if (a->pretrain_text_column == NULL)
		a->pretrain_text_column = a->text_column;
	/* without vectors, frozen embeddings are those pretraining learnt */
	if (a->freeze_embeddings && !OidIsValid(a->embeddings) &&
		!OidIsValid(a->pretrain_relid) && a->pretrain_epochs <= 0)
		freeze_needs_embeddings();
}

/* ---------------------------------------------------------------------------
 * Reading the rows
 */
typedef struct Examples
{
	RnnTexts	texts;			/* usable rows' texts */
	int		   *label;			/* (label_cap) class index of each text */
	int			label_cap;
	/* classes */
	int			n_classes;
	char	  **labels;			/* (n_classes), server encoding, type order */
	/* label text -> class, by binary search (row callback) */
	char	  **by_text;		/* (n_classes) sorted by strcmp */
	int		   *by_text_idx;	/* (n_classes) */
	RnnTokMode	mode;
	const char *relname;
	/* unlabelled texts (NULL labels, pretrain_relation), for pretraining */
	bool		keep_unlabelled;
	RnnTexts	unlab;
	int64		unlab_rows;		/* of them, rows of relation with a NULL label */
} Examples;

/* Index of label s among the classes. */
static int
find_class(const Examples *ex, const char *s)
{
	int			lo = 0,
				hi = ex->n_classes - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(ex->by_text[mid], s);

		if (c == 0)
			return ex->by_text_idx[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

typedef struct LabelSort
{
	char	   *s;
	int			idx;
} LabelSort;

static int
cmp_label_sort(const void *a, const void *b)
{
	return strcmp(((const LabelSort *) a)->s, ((const LabelSort *) b)->s);
}

/*
 * Classes: distinct labels of usable rows, in the label type's order.
 * Text-like labels compare in byte order; a type without an ordering
 * (json, point) is ordered by its text form.  Connected to SPI.
 */
static void
read_classes(const TrainArgs *a, const char *relname, Oid label_type, MemoryContext data_cxt,
			 Examples *ex)
{
	TypeCacheEntry *tce = lookup_type_cache(label_type, TYPECACHE_LT_OPR);
	const char *qlabel = quote_identifier(a->label_column);
	StringInfoData sql;
	LabelSort  *sorted;
	int			ret;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT s.l::pg_catalog.text AS label FROM (SELECT DISTINCT %s AS l FROM %s "
					 "WHERE %s IS NOT NULL AND %s IS NOT NULL) s ORDER BY %s LIMIT %d",
					 qlabel, relname, quote_identifier(a->text_column), qlabel,
					 !OidIsValid(tce->lt_opr) ? "s.l::pg_catalog.text COLLATE \"C\"" :
					 OidIsValid(get_typcollation(label_type)) ? "s.l COLLATE \"C\"" : "s.l",
					 RNN_MAX_CLASSES + 1);
	ret = SPI_execute(sql.data, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the labels: SPI error %d", ret);
	if (SPI_processed > RNN_MAX_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("label column \"%s\" has more than %d distinct values",
						a->label_column, RNN_MAX_CLASSES),
				 errhint("A label column holds classes, such as a boolean, a rating or a category.")));
	ex->n_classes = (int) SPI_processed;
	ex->labels = MemoryContextAlloc(data_cxt, sizeof(char *) * Max(ex->n_classes, 1));
	for (int i = 0; i < ex->n_classes; i++)
		ex->labels[i] = MemoryContextStrdup(data_cxt,
											SPI_getvalue(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1));
	SPI_freetuptable(SPI_tuptable);

	sorted = MemoryContextAlloc(data_cxt, sizeof(LabelSort) * Max(ex->n_classes, 1));
	for (int i = 0; i < ex->n_classes; i++)
	{
		sorted[i].s = ex->labels[i];
		sorted[i].idx = i;
	}
	qsort(sorted, ex->n_classes, sizeof(LabelSort), cmp_label_sort);
	ex->by_text = MemoryContextAlloc(data_cxt, sizeof(char *) * Max(ex->n_classes, 1));
	ex->by_text_idx = MemoryContextAlloc(data_cxt, sizeof(int) * Max(ex->n_classes, 1));
	for (int i = 0; i < ex->n_classes; i++)
	{
		ex->by_text[i] = sorted[i].s;
		ex->by_text_idx[i] = sorted[i].idx;
	}
}

/* One (text, label) row: kept when both are non-NULL and the text has tokens. */
static void
example_row(void *ctx, HeapTuple tup, TupleDesc desc, MemoryContext data_cxt)
{
	Examples   *ex = ctx;
	bool		tnull,
				lnull;
	Datum		td = SPI_getbinval(tup, desc, 1, &tnull);
	Datum		ld = SPI_getbinval(tup, desc, 2, &lnull);
	char	   *label;
	int			cls;

	if (!tnull && lnull && ex->keep_unlabelled)
	{
		if (rnn_texts_add(&ex->unlab, td, ex->mode, ex->relname, data_cxt))
			ex->unlab_rows++;
		return;
	}
	if (tnull || lnull)
	{
		ex->texts.skipped_null++;
		return;
	}
	if (!rnn_texts_add(&ex->texts, td, ex->mode, ex->relname, data_cxt))
		return;
	label = TextDatumGetCString(ld);
	cls = find_class(ex, label);
	if (cls < 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("label %s appeared while %s was being read",
						quote_literal_cstr(label), ex->relname)));
	if (ex->label_cap < ex->texts.cap)
	{
		ex->label_cap = ex->texts.cap;
		ex->label = ex->label == NULL ?
			MemoryContextAllocHuge(data_cxt, sizeof(int) * ex->label_cap) :
			repalloc_huge(ex->label, sizeof(int) * ex->label_cap);
	}
	ex->label[ex->texts.n - 1] = cls;
}

/* 1-2: the class list, then (text, label) rows, in one snapshot (read-only);
 * texts without a label and those of pretrain_relation go to ex->unlab. */
static void
read_examples(const TrainArgs *a, const char *relname, MemoryContext data_cxt, Examples *ex)
{
	AttrNumber	label_att;
	Oid			label_type;
	StringInfoData sql;
	char	   *pre_relname = NULL;

	rnn_text_column_require_text(a->relid, relname, a->text_column);
	rnn_text_column(a->relid, relname, a->label_column, &label_att, &label_type);
	if (OidIsValid(a->pretrain_relid))
	{
		pre_relname = rnn_text_relation(a->pretrain_relid);
		rnn_text_column_require_text(a->pretrain_relid, pre_relname, a->pretrain_text_column);
	}

	memset(ex, 0, sizeof(*ex));
	ex->mode = a->tokens;
	ex->relname = relname;
	/* pretraining is asked for: epochs, or a relation of texts */
	ex->keep_unlabelled = a->pretrain_epochs > 0 ||
		(a->pretrain_epochs < 0 && OidIsValid(a->pretrain_relid));
	rnn_texts_init(&ex->texts);
	rnn_texts_init(&ex->unlab);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	read_classes(a, relname, label_type, data_cxt, ex);

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s::pg_catalog.text, %s::pg_catalog.text FROM %s",
					 quote_identifier(a->text_column), quote_identifier(a->label_column),
					 relname);
	rnn_text_scan(sql.data, example_row, ex, data_cxt);
	if (pre_relname)
	{
		int			before = ex->unlab.n;
		int64		null_before = ex->unlab.skipped_null,
					empty_before = ex->unlab.skipped_empty;

		rnn_texts_read_column(&ex->unlab, pre_relname, a->pretrain_text_column, ex->mode,
							  data_cxt);
		if (ex->unlab.n == before)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("pretraining relation %s has no text", pre_relname),
					 errdetail("Column \"%s\" has no non-NULL text with at least one token "
							   "(%lld NULL, %lld without tokens).", a->pretrain_text_column,
							   (long long) (ex->unlab.skipped_null - null_before),
							   (long long) (ex->unlab.skipped_empty - empty_before)),
					 errhint("Name a relation of texts, or leave pretrain_relation NULL.")));
	}
	SPI_finish();

	if (ex->texts.skipped_null > 0 || ex->texts.skipped_empty > 0)
		ereport(NOTICE,
				(errmsg("skipped %lld rows with a NULL text or label and %lld texts without tokens",
						(long long) ex->texts.skipped_null, (long long) ex->texts.skipped_empty)));
}

/*
 * Keep the classes that kept at least one row, renumbered in order, and
 * count them (class_count: (n_classes)); at least one row and two classes.
 */
static void
keep_present_classes(Examples *ex, const TrainArgs *a, const char *relname, int *class_count)
{
	int		   *class_map = palloc(sizeof(int) * Max(ex->n_classes, 1));
	int			n = ex->texts.n;
	int			C = 0;

	memset(class_count, 0, sizeof(int) * Max(ex->n_classes, 1));
	for (int i = 0; i < n; i++)
		class_count[ex->label[i]]++;
	for (int c = 0; c < ex->n_classes; c++)
	{
		class_map[c] = class_count[c] > 0 ? C : -1;
		if (class_count[c] > 0)
		{
			ex->labels[C] = ex->labels[c];
			class_count[C] = class_count[c];
			C++;
		}
	}
	for (int i = 0; i < n; i++)
		ex->label[i] = class_map[ex->label[i]];
	ex->n_classes = C;
	if (n == 0 && ex->unlab_rows > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation %s has no rows to train on", relname),
				 errdetail("Rows need a non-NULL label and a text with at least one token; "
						   "the %lld rows with a NULL label can only pretrain the network.",
						   (long long) ex->unlab_rows),
				 errhint("Label some rows of column \"%s\".", a->label_column)));
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation %s has no rows to train on", relname),
				 errdetail("Rows need a non-NULL label and a text with at least one token.")));
	if (C < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot train a classifier on one class"),
				 errdetail("Every usable row of %s has label %s in column \"%s\".",
						   relname, quote_literal_cstr(ex->labels[0]), a->label_column),
				 errhint("A classifier needs at least two distinct labels.")));
}

/*
 * 3: stratified, seeded split.  order (n) gets the training rows, then the
 * validation rows; returns the number of validation rows.  Each class's
 * rows are sorted by text before the seeded shuffle, so the split, and with
 * it the model, is the same whatever order the scan read the rows in.
 */
static int
split_stratified(const Examples *ex, const int *class_count, double fraction, int64 seed,
				 int *order)
{
	int			n = ex->texts.n;
	int			C = ex->n_classes;
	int		  **members = palloc(sizeof(int *) * C);
	int		   *fill = palloc0(sizeof(int) * C);
	int			nt = 0,
				nv = 0,
				n_valid = 0;
	RnnRng		rng;

	rnn_rng_seed(&rng, (uint64_t) seed);
	for (int c = 0; c < C; c++)
	{
		int			nvc = (int) floor(class_count[c] * fraction + 0.5);

		members[c] = palloc(sizeof(int) * class_count[c]);
		n_valid += Min(nvc, class_count[c] - 1);
	}
	for (int i = 0; i < n; i++)
		members[ex->label[i]][fill[ex->label[i]]++] = i;
	for (int c = 0; c < C; c++)
	{
		int			nvc = Min((int) floor(class_count[c] * fraction + 0.5), class_count[c] - 1);

		rnn_texts_sort(&ex->texts, members[c], class_count[c]);
		rnn_rng_shuffle(&rng, members[c], class_count[c]);
		for (int k = 0; k < class_count[c]; k++)
		{
			if (k < nvc)
				order[n - n_valid + nv++] = members[c][k];
			else
				order[nt++] = members[c][k];
		}
	}
	Assert(nt == n - n_valid && nv == n_valid);
	return n_valid;
}

/* ---------------------------------------------------------------------------
 * The data set handed to rnn_fit
 */
typedef struct ClfData
{
	int			n_train;
	int			n_valid;
	RnnSeqs		seqs;			/* training rows, then validation rows */
	int		   *label;			/* (n) */
	int			n_classes;
	float	   *offsets;		/* (n, n_classes) the n-gram path's logits, or NULL */
	float	   *class_weight;	/* (n_classes) */
	float		word_dropout;
	RnnRng		rng;			/* word dropout */
	int		   *bs;				/* (max_steps) pack layout scratch */
	int		   *offs;			/* (max_steps) */
} ClfData;

/* 4: token ids and labels in split order, with the batching state. */
static void
encode_examples(const Examples *ex, const RnnVocab *vocab, const int *order, int n_valid,
				const TrainArgs *a, ClfData *d)
{
	int			n = ex->texts.n;
	int			C = ex->n_classes;

	memset(d, 0, sizeof(*d));
	d->n_train = n - n_valid;
	d->n_valid = n_valid;
	rnn_texts_encode(&ex->texts, vocab, order, n, a->max_tokens, &d->seqs);
	rnn_seqs_notice_truncated(&d->seqs, a->max_tokens);
	d->label = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
	d->n_classes = C;
	for (int k = 0; k < n; k++)
		d->label[k] = ex->label[order[k]];

	if (a->balance_classes)
	{
		d->class_weight = palloc(sizeof(float) * C);
		for (int c = 0; c < C; c++)
		{
			int			nc = 0;

			for (int k = 0; k < d->n_train; k++)
				nc += d->label[k] == c;
			d->class_weight[c] = nc > 0 ? (float) d->n_train / (C * nc) : 1.0f;
		}
	}
	d->word_dropout = (float) a->word_dropout;
	rnn_rng_seed(&d->rng, (uint64_t) a->seed ^ 0x776f7264ULL);
	d->bs = palloc(sizeof(int) * d->seqs.max_steps);
	d->offs = palloc(sizeof(int) * d->seqs.max_steps);
}

/*
 * 4b: the n-gram linear path (classify_ngram.c, src/core/ngram.h), fitted
 * on the training part.  d->offsets gets out-of-fold logits for the
 * training rows -- the network learns to complement a model that has not
 * seen the text, not one that memorised it -- and the fitted path's for
 * the validation rows; nfr->bias the class biases.
 */
static void
ngram_logits(const RnnNgram *ng, ClfData *d, int k)
{
	float	   *row = d->offsets + (size_t) k * d->n_classes;

	memset(row, 0, sizeof(float) * d->n_classes);
	rnn_ngram_accumulate(ng, d->seqs.ids + d->seqs.off[k], d->seqs.len[k], -1, row);
}

static RnnNgram *
fit_ngram_path(const TrainArgs *a, ClfData *d, int V, RnnNgramFitResult *nfr)
{
	RnnNgramData nd;
	RnnNgram   *ng;
	int			C = d->n_classes;

	d->offsets = palloc_extended(sizeof(float) * (Size) (d->n_train + d->n_valid) * C,
								 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	memset(nfr, 0, sizeof(*nfr));
	nfr->bias = palloc0(sizeof(float) * C);
	nfr->oof_logits = d->offsets;
	memset(&nd, 0, sizeof(nd));
	nd.ids = d->seqs.ids;
	nd.off = d->seqs.off;
	nd.label = d->label;
	nd.n = d->n_train;
	nd.vocab_size = V;
	nd.n_classes = C;
	ng = rnn_fit_ngram_or_raise(&nd, a->ngram_order, (uint64) a->seed, nfr, a->model_name);
	for (int k = d->n_train; k < d->n_train + d->n_valid; k++)
		ngram_logits(ng, d, k);
	return ng;
}

/*
 * The untrained model is the n-gram path alone: the head reads nothing yet
 * and its bias is the path's class bias.  Training, with this start
 * competing as epoch 0 (as in the forecaster), adds what the network
 * learns on top.
 */
static void
start_from_ngram_path(RnnModel *model, const RnnNgramFitResult *nfr)
{
	int			C = model->cfg.output_size;

	memset(model->p.head_w, 0, sizeof(float) * C * rnn_feature_size(&model->cfg));
	memcpy(model->p.head_b, nfr->bias, sizeof(float) * C);
}

static int
clf_length(void *ctx, int i)
{
	return ((ClfData *) ctx)->seqs.len[i];
}

static RnnStatus
clf_load(void *ctx, const int *idx, int count, RnnBatchBuf *buf)
{
	ClfData    *d = ctx;
	RnnStatus	st;

	st = rnn_seqs_pack(&d->seqs, idx, count, buf->lengths, buf->tokens, d->bs, d->offs,
					   d->word_dropout, d->n_train, &d->rng);
	if (st != RNN_OK)
		return st;
	for (int b = 0; b < count; b++)
	{
		buf->labels[b] = d->label[idx[b]];
		buf->weights[b] = d->class_weight ? d->class_weight[d->label[idx[b]]] : 1.0f;
		if (d->offsets)
			memcpy(buf->offsets + (size_t) b * d->n_classes,
				   d->offsets + (size_t) idx[b] * d->n_classes, sizeof(float) * d->n_classes);
	}
	return RNN_OK;
}

/*
 * Class probabilities (count, C) of examples first..first+count-1, with the
 * current weights and no dropout.
 */
typedef struct Predictor
{
	RnnInfer   *inf;
	int			max_batch;
	int			n_classes;
	int32	   *tokens;			/* (max_batch * max_steps) */
	int		   *lengths;		/* (max_batch) */
	float	   *logits;			/* (max_batch, C) */
	RnnLenIdx  *order;			/* (n) */
	int		   *idx;			/* (max_batch) */
} Predictor;

static void
predictor_init(Predictor *p, RnnModel *model, int max_batch, int n_classes, const RnnSeqs *seqs)
{
	memset(p, 0, sizeof(*p));
	p->max_batch = max_batch;
	p->n_classes = n_classes;
	rnn_check_status(rnn_infer_create(&p->inf, model, max_batch, seqs->max_steps),
					 "could not prepare the model for validation");
	p->tokens = palloc_extended(sizeof(int32) * (Size) max_batch * seqs->max_steps, MCXT_ALLOC_HUGE);
	p->lengths = palloc(sizeof(int) * max_batch);
	p->logits = palloc(sizeof(float) * (Size) max_batch * n_classes);
	p->order = palloc_extended(sizeof(RnnLenIdx) * seqs->n, MCXT_ALLOC_HUGE);
	p->idx = palloc(sizeof(int) * max_batch);
}

/* With raw non-NULL: the network's logits (count, C), without the n-gram
 * path's, instead of probabilities. */
static void
predict_logits(Predictor *p, ClfData *d, int first, int count, double *probs, float *raw)
{
	int			C = p->n_classes;

	rnn_seqs_by_length(&d->seqs, first, count, p->order);
	for (int s = 0; s < count; s += p->max_batch)
	{
		int			B = Min(p->max_batch, count - s);
		RnnBatch	batch;

		CHECK_FOR_INTERRUPTS();
		for (int b = 0; b < B; b++)
			p->idx[b] = p->order[s + b].idx;
		rnn_check_status(rnn_seqs_pack(&d->seqs, p->idx, B, p->lengths, p->tokens, d->bs,
									   d->offs, 0, 0, NULL),
						 "could not batch the training data");
		memset(&batch, 0, sizeof(batch));
		batch.B = B;
		batch.T = p->lengths[0];
		batch.lengths = p->lengths;
		batch.tokens = p->tokens;
		rnn_check_status(rnn_infer(p->inf, &batch, p->logits), "could not score the training data");
		if (raw)
		{
			for (int b = 0; b < B; b++)
				memcpy(raw + (size_t) (p->idx[b] - first) * C, p->logits + (size_t) b * C,
					   sizeof(float) * C);
			continue;
		}
		if (d->offsets)
			for (int b = 0; b < B; b++)
				for (int c = 0; c < C; c++)
					p->logits[(size_t) b * C + c] += d->offsets[(size_t) p->idx[b] * C + c];
		for (int b = 0; b < B; b++)
			rnn_softmax(p->logits + (size_t) b * C, C,
						probs + (size_t) (p->idx[b] - first) * C);
	}
}

static void
predict(Predictor *p, ClfData *d, int first, int count, double *probs)
{
	predict_logits(p, d, first, count, probs, NULL);
}

/*
 * 5b: the network's share of the logits.  The network trained beside
 * out-of-fold n-gram logits, from fits on part of the training texts,
 * while the stored path is fitted on all of them: at full weight, the
 * network's logits count some of the path's evidence twice.  The share a
 * in [0, 1] (steps of 0.05, the smaller on ties) that minimises the
 * validation log loss of path + a * network scales the head: w *= a,
 * b = b0 + a (b - b0), b0 the path's class bias the head started from.
 * a = 0 leaves the path alone, and so does a gain that validation cannot
 * tell from noise: the network is kept only when its mean gain in log loss
 * per validation text is more than SHARE_MIN_Z standard errors of the
 * per-text gains (a paired test; the epoch was already chosen on these
 * texts, so a small gain is mostly selection).  On MR's held-out parts of
 * the training folds, the network at full weight scored 78.50 against
 * 78.58 for the path alone (5 folds), and on the test folds 78.80 against
 * 79.17: an ungated network made the default worse than its own path.  Not with early_stopping => 'accuracy',
 * whose choice of epoch by validation accuracy a log-loss fit could undo.
 * Returns a.
 */
#define SHARE_STEPS 20
#define SHARE_MIN_Z 2.0

/* Log loss of validation text k at share a (z: (C) scratch). */
static double
share_loss(const ClfData *d, const float *net, const float *b0, int k, double a, double *z)
{
	int			C = d->n_classes;
	const float *off = d->offsets + (size_t) (d->n_train + k) * C;
	double		max = -INFINITY,
				sum = 0;

	for (int c = 0; c < C; c++)
	{
		z[c] = off[c] + b0[c] + a * (net[(size_t) k * C + c] - b0[c]);
		max = Max(max, z[c]);
	}
	for (int c = 0; c < C; c++)
		sum += exp(z[c] - max);
	return -(z[d->label[d->n_train + k]] - max - log(sum));
}

static double
fit_network_share(RnnModel *model, ClfData *d, Predictor *pred, const float *b0, double *z_out)
{
	int			C = d->n_classes;
	int			nv = d->n_valid;
	int			F = rnn_feature_size(&model->cfg);
	float	   *net = palloc_extended(sizeof(float) * (Size) nv * C, MCXT_ALLOC_HUGE);
	double	   *z = palloc(sizeof(double) * C);
	double		best_loss = INFINITY,
				best_a = 1;

	Assert(nv > 0);

	predict_logits(pred, d, d->n_train, nv, NULL, net);
	for (int step = 0; step <= SHARE_STEPS; step++)
	{
		double		a = (double) step / SHARE_STEPS,
					loss = 0;

		for (int k = 0; k < nv; k++)
			loss += share_loss(d, net, b0, k, a, z);
		if (loss < best_loss)
		{
			best_loss = loss;
			best_a = a;
		}
	}
	/* the paired gain over the path alone, in standard errors */
	*z_out = 0;
	if (best_a > 0 && nv > 1)
	{
		double		sum = 0,
					sq = 0,
					mean,
					sd;

		for (int k = 0; k < nv; k++)
		{
			double		g = share_loss(d, net, b0, k, 0, z) - share_loss(d, net, b0, k, best_a, z);

			sum += g;
			sq += g * g;
		}
		mean = sum / nv;
		sd = sqrt(Max(sq / nv - mean * mean, 0) * nv / (nv - 1));
		*z_out = sd > 0 ? mean / (sd / sqrt(nv)) : (mean > 0 ? INFINITY : 0);
		if (!(*z_out > SHARE_MIN_Z))
			best_a = 0;
	}
	for (size_t i = 0; i < (size_t) C * F; i++)
		model->p.head_w[i] *= (float) best_a;
	for (int c = 0; c < C; c++)
		model->p.head_b[c] = (float) (b0[c] + best_a * (model->p.head_b[c] - b0[c]));
	pfree(net);
	pfree(z);
	return best_a;
}

typedef struct Metrics
{
	double		accuracy;
	double		macro_f1;
	double		log_loss;
} Metrics;

static Metrics
compute_metrics(const double *probs, const int *labels, int n, int C)
{
	Metrics		m;
	int64	   *tp = palloc0(sizeof(int64) * C);
	int64	   *fp = palloc0(sizeof(int64) * C);
	int64	   *fn = palloc0(sizeof(int64) * C);
	int64		correct = 0;
	double		ll = 0.0,
				f1 = 0.0;
	int			present = 0;

	for (int i = 0; i < n; i++)
	{
		const double *p = probs + (size_t) i * C;
		int			best = 0;

		for (int c = 1; c < C; c++)
			if (p[c] > p[best])
				best = c;
		if (best == labels[i])
		{
			correct++;
			tp[best]++;
		}
		else
		{
			fp[best]++;
			fn[labels[i]]++;
		}
		ll -= log(Max(p[labels[i]], 1e-15));
	}
	/* macro-F1 over the classes present in the labels or predictions */
	for (int c = 0; c < C; c++)
	{
		if (tp[c] + fp[c] + fn[c] == 0)
			continue;
		present++;
		f1 += 2.0 * tp[c] / (2.0 * tp[c] + fp[c] + fn[c]);
	}
	m.accuracy = n > 0 ? (double) correct / n : NAN;
	m.log_loss = n > 0 ? ll / n : NAN;
	m.macro_f1 = present > 0 ? f1 / present : NAN;
	pfree(tp);
	pfree(fp);
	pfree(fn);
	return m;
}

/* ---------------------------------------------------------------------------
 * The model
 */

/* 5: the configuration, checked, and the memory it needs, checked. */
static RnnModel *
create_model(const TrainArgs *a, int V, int C, const ClfData *d)
{
	RnnConfig	cfg;
	RnnModel   *model;
	Size		need;
	int			max_steps = d->seqs.max_steps;
	const char *why = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = a->cell;
	cfg.num_layers = a->num_layers;
	cfg.bidirectional = a->bidirectional ? 1 : 0;
	cfg.vocab_size = V;
	cfg.embedding_dim = a->embedding_dim;
	cfg.hidden_size = a->hidden_size;
	cfg.output_size = C;
	cfg.head = RNN_HEAD_CLASSIFIER;
	cfg.pooling = a->pooling;
	cfg.dropout = (float) a->dropout;
	if (rnn_config_validate(&cfg, &why) != RNN_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model configuration: %s is out of range", why ? why : "a value")));

	need = rnn_fit_memory(&cfg, a->batch_size, max_steps);
	if (need != SIZE_MAX)
		need += rnn_param_count(&cfg) * sizeof(float) +
			rnn_trainer_memory(&cfg, a->batch_size, max_steps) / 2 +
			(a->stop_on_accuracy ? rnn_param_count(&cfg) * sizeof(float) : 0) +
			sizeof(int32) * d->seqs.n_ids + (sizeof(Size) + 2 * sizeof(int)) * (Size) d->seqs.n;
	rnn_check_train_memory(need, psprintf("training model \"%s\"", a->model_name));

	rnn_check_status(rnn_model_create(&model, &cfg), "could not create the model");
	rnn_model_init(model, (uint64_t) a->seed);
	return model;
}

/* ---------------------------------------------------------------------------
 * Progress
 */
typedef struct Progress
{
	const char *model_name;
	int			epochs;
	ClfData    *data;
	Predictor  *pred;
	double	   *probs;			/* (n_valid, C) */
	int			n_classes;
	StringInfo	curve;			/* JSON array being built */
	/* early_stopping => 'accuracy': the best epoch by validation accuracy */
	bool		on_accuracy;
	int			patience;
	RnnModel   *model;
	float	   *best_params;	/* (n_params) */
	double		best_accuracy;
	int			best_epoch;
	int			since_best;
	bool		have_best;		/* best_* hold an epoch (0: the start) */
} Progress;

static void
on_batch(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

static int
on_epoch(void *ctx, const RnnEpochReport *r)
{
	Progress   *pr = ctx;
	ClfData    *d = pr->data;
	double		acc = NAN;

	if (d->n_valid > 0)
	{
		Metrics		m;

		predict(pr->pred, d, d->n_train, d->n_valid, pr->probs);
		m = compute_metrics(pr->probs, d->label + d->n_train, d->n_valid, pr->n_classes);
		acc = m.accuracy;
		if (rnn_progress_guc)
			ereport(NOTICE,
				(errmsg("%s: epoch %d/%d: train loss %.4f, validation loss %.4f, accuracy %.3f, %.1f s",
						pr->model_name, r->epoch, pr->epochs, r->train_loss, r->valid_loss, acc,
						r->seconds)));
	}
	else if (rnn_progress_guc)
		ereport(NOTICE,
				(errmsg("%s: epoch %d/%d: train loss %.4f, %.1f s",
						pr->model_name, r->epoch, pr->epochs, r->train_loss, r->seconds)));

	rnn_report_progress("rnn.train_classifier('%s'): epoch %d/%d, train loss %.4f, validation loss %.4f, accuracy %.3f",
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
	appendStringInfoString(pr->curve, "}");

	if (pr->on_accuracy && d->n_valid > 0)
	{
		if (!pr->have_best || acc > pr->best_accuracy)
		{
			pr->have_best = true;
			pr->best_accuracy = acc;
			pr->best_epoch = r->epoch;
			pr->since_best = 0;
			memcpy(pr->best_params, pr->model->params, sizeof(float) * pr->model->n_params);
		}
		else if (pr->patience > 0 && ++pr->since_best >= pr->patience)
			return 1;
	}
	return 0;
}

/*
 * 5: rnn_fit with progress; the loss curve goes to curve.  With
 * early_stopping => 'accuracy' the best epoch by validation accuracy wins,
 * the start (epoch 0) included.  *start_accuracy gets the start's
 * validation accuracy (NaN without a validation part).
 */
static RnnFitResult
fit_model(const TrainArgs *a, RnnModel *model, ClfData *d, Predictor *pred, double *probs,
		  StringInfo curve, double *start_accuracy)
{
	Progress	pr;
	RnnDataset	ds;
	RnnFitOptions fo;
	RnnFitResult fr;

	initStringInfo(curve);
	appendStringInfoChar(curve, '[');
	memset(&pr, 0, sizeof(pr));
	pr.model_name = a->model_name;
	pr.epochs = a->epochs;
	pr.data = d;
	pr.pred = pred;
	pr.probs = probs;
	pr.n_classes = pred->n_classes;
	pr.curve = curve;
	pr.on_accuracy = a->stop_on_accuracy && d->n_valid > 0;
	pr.patience = a->patience;
	pr.model = model;
	if (pr.on_accuracy)
		pr.best_params = palloc_extended(sizeof(float) * model->n_params, MCXT_ALLOC_HUGE);
	*start_accuracy = NAN;
	if (d->n_valid > 0)
	{
		predict(pred, d, d->n_train, d->n_valid, probs);
		*start_accuracy = compute_metrics(probs, d->label + d->n_train, d->n_valid,
										  pred->n_classes).accuracy;
		if (d->offsets && rnn_progress_guc)
			ereport(NOTICE,
					(errmsg("%s: n-gram path alone: validation accuracy %.3f",
							a->model_name, *start_accuracy)));
	}
	if (pr.on_accuracy)
	{
		pr.have_best = true;
		pr.best_accuracy = *start_accuracy;
		memcpy(pr.best_params, model->params, sizeof(float) * model->n_params);
	}

	memset(&ds, 0, sizeof(ds));
	ds.ctx = d;
	ds.n_train = d->n_train;
	ds.n_valid = d->n_valid;
	ds.max_steps = d->seqs.max_steps;
	ds.use_weights = a->balance_classes ? 1 : 0;
	ds.use_offsets = d->offsets != NULL;
	ds.length = clf_length;
	ds.load = clf_load;

	rnn_fit_defaults(&fo);
	fo.epochs = a->epochs;
	fo.batch_size = a->batch_size;
	fo.patience = pr.on_accuracy ? 0 : a->patience;	/* on_epoch stops */
	fo.length_buckets = 1;
	fo.seed = (uint64_t) a->seed;
	fo.optim.learning_rate = (float) a->learning_rate;
	fo.optim.weight_decay = (float) a->weight_decay;
	fo.optim.clip_norm = (float) a->clip_norm;
	if (a->freeze_embeddings)
		fo.optim.frozen_prefix = (size_t) model->cfg.vocab_size * model->cfg.embedding_dim;
	fo.cb_ctx = &pr;
	fo.on_batch = on_batch;
	fo.on_epoch = on_epoch;
	memset(&fr, 0, sizeof(fr));
	rnn_check_status(rnn_fit(model, &ds, &fo, &fr),
					 psprintf("could not train model \"%s\"", a->model_name));
	appendStringInfoChar(curve, ']');
	if (pr.on_accuracy)
	{
		/* rnn_fit restored its best epoch by loss; take the best by accuracy */
		memcpy(model->params, pr.best_params, sizeof(float) * model->n_params);
		fr.best_epoch = pr.best_epoch;
	}
	rnn_progress_done();
	return fr;
}

/* ---------------------------------------------------------------------------
 * Storing
 */
static void
append_metrics(StringInfo buf, const char *key, const Metrics *m, int rows)
{
	appendStringInfo(buf, "\"%s\": {\"rows\": %d, \"accuracy\": ", key, rows);
	rnn_json_append_number(buf, m->accuracy);
	appendStringInfoString(buf, ", \"macro_f1\": ");
	rnn_json_append_number(buf, m->macro_f1);
	appendStringInfoString(buf, ", \"log_loss\": ");
	rnn_json_append_number(buf, m->log_loss);
	appendStringInfoString(buf, "}");
}

static Jsonb *
hyperparams_json(const TrainArgs *a)
{
	StringInfoData js;

	initStringInfo(&js);
	appendStringInfoString(&js, "{\"text_column\": ");
	escape_json(&js, a->text_column);
	appendStringInfoString(&js, ", \"label_column\": ");
	escape_json(&js, a->label_column);
	appendStringInfo(&js,
					 ", \"tokens\": \"%s\", "
					 "\"max_tokens\": %d, \"vocab_size\": %d, \"min_count\": %d, "
					 "\"cell\": \"%s\", \"bidirectional\": %s, \"num_layers\": %d, "
					 "\"embedding_dim\": %d, \"hidden_size\": %d, \"dropout\": %g, "
					 "\"pooling\": \"%s\", \"epochs\": %d, \"batch_size\": %d, "
					 "\"learning_rate\": %g, \"validation_fraction\": %g, \"patience\": %d, "
					 "\"seed\": " INT64_FORMAT ", \"word_dropout\": %g, \"weight_decay\": %g, "
					 "\"clip_norm\": %g, \"balance_classes\": %s, \"early_stopping\": \"%s\", "
					 "\"ngram_order\": %d, \"freeze_embeddings\": %s, \"embeddings\": ",
					 rnn_tok_mode_name(a->tokens), a->max_tokens, a->vocab_size, a->min_count,
					 rnn_cell_name(a->cell), a->bidirectional ? "true" : "false", a->num_layers,
					 a->embedding_dim, a->hidden_size, a->dropout, pooling_name(a->pooling),
					 a->epochs, a->batch_size, a->learning_rate, a->validation_fraction,
					 a->patience, a->seed, a->word_dropout, a->weight_decay, a->clip_norm,
					 a->balance_classes ? "true" : "false",
					 a->stop_on_accuracy ? "accuracy" : "loss", a->ngram_order,
					 a->freeze_embeddings ? "true" : "false");
	if (OidIsValid(a->embeddings))
		escape_json(&js, rnn_text_relation(a->embeddings));
	else
		appendStringInfoString(&js, "null");
	appendStringInfoString(&js, ", \"pretrain_relation\": ");
	if (OidIsValid(a->pretrain_relid))
		escape_json(&js, rnn_text_relation(a->pretrain_relid));
	else
		appendStringInfoString(&js, "null");
	appendStringInfoString(&js, ", \"pretrain_text_column\": ");
	escape_json(&js, a->pretrain_text_column);
	if (a->pretrain_epochs >= 0)
		appendStringInfo(&js, ", \"pretrain_epochs\": %d", a->pretrain_epochs);
	else
		appendStringInfoString(&js, ", \"pretrain_epochs\": null");
	appendStringInfoChar(&js, '}');
	return rnn_jsonb_from_text(js.data);
}

/* class prior: training frequencies (the score of a text without tokens) */
static Jsonb *
class_prior_json(const ClfData *d, int C)
{
	StringInfoData js;

	initStringInfo(&js);
	appendStringInfoString(&js, "{\"class_prior\": [");
	for (int c = 0; c < C; c++)
	{
		int			nc = 0;

		for (int k = 0; k < d->n_train; k++)
			nc += d->label[k] == c;
		appendStringInfo(&js, "%s%.6g", c > 0 ? ", " : "", (double) nc / d->n_train);
	}
	appendStringInfoString(&js, "]}");
	return rnn_jsonb_from_text(js.data);
}

/* What the n-gram path alone does, and how it was fitted. */
typedef struct NgramReport
{
	const RnnNgram *ngram;		/* NULL: none */
	RnnNgramFitResult fit;
	double		validation_accuracy;
	double		network_share;	/* fit_network_share's a; -1: not fitted */
	double		network_gain_z; /* its validation gain in standard errors */
	int			pretrained_words;	/* tokens started from a vector; -1: no embeddings */
} NgramReport;

static Jsonb *
metrics_json(const Metrics *m_train, const Metrics *m_valid, const ClfData *d,
			 const RnnFitResult *fr, int V, const Examples *ex, const NgramReport *ng,
			 const RnnPretrainResult *pre)
{
	StringInfoData js;

	initStringInfo(&js);
	appendStringInfoChar(&js, '{');
	append_metrics(&js, "train", m_train, d->n_train);
	appendStringInfoString(&js, ", ");
	if (d->n_valid > 0)
		append_metrics(&js, "validation", m_valid, d->n_valid);
	else
		appendStringInfoString(&js, "\"validation\": null");
	appendStringInfo(&js, ", \"epochs\": %d, \"best_epoch\": %d, \"seconds\": %.3f, "
					 "\"vocabulary_size\": %d, \"skipped_rows\": %lld, \"truncated_texts\": %lld",
					 fr->epochs_run, fr->best_epoch, fr->seconds, V,
					 (long long) (ex->texts.skipped_null + ex->texts.skipped_empty),
					 (long long) d->seqs.truncated);
	if (ng->pretrained_words >= 0)
		appendStringInfo(&js, ", \"pretrained_words\": %d", ng->pretrained_words);
	if (ng->ngram)
	{
		appendStringInfo(&js, ", \"ngram\": {\"order\": %d, \"bigrams\": %zu, \"fit\": \"%s\", "
						 "\"alpha\": %g, \"scale\": [%.6g, %.6g], ",
						 ng->ngram->order, ng->ngram->n_bigrams,
						 ng->fit.fit == RNN_NGRAM_FIT_NBSVM ? "nbsvm" : "naive_bayes",
						 ng->fit.alpha, ng->fit.scale[0], ng->fit.scale[1]);
		if (ng->fit.fit == RNN_NGRAM_FIT_NBSVM)
			appendStringInfo(&js, "\"svm_c\": %g, ", ng->fit.svm_c);
		appendStringInfoString(&js, "\"out_of_fold_log_loss\": ");
		rnn_json_append_number(&js, ng->fit.oof_log_loss);
		appendStringInfoString(&js, ", \"naive_bayes_out_of_fold_log_loss\": ");
		rnn_json_append_number(&js, ng->fit.nb_oof_log_loss);
		appendStringInfoString(&js, ", \"out_of_fold_accuracy\": ");
		rnn_json_append_number(&js, ng->fit.oof_accuracy);
		appendStringInfoString(&js, ", \"validation_accuracy\": ");
		rnn_json_append_number(&js, ng->validation_accuracy);
		if (ng->network_share >= 0)
		{
			appendStringInfo(&js, ", \"network_share\": %g, \"network_gain_z\": ", ng->network_share);
			rnn_json_append_number(&js, ng->network_gain_z);
		}
		appendStringInfoChar(&js, '}');
	}
	if (pre->epochs_run > 0)
	{
		appendStringInfo(&js, ", \"pretraining\": {\"unlabelled_texts\": %d, \"tokens\": %zu, "
						 "\"epochs\": %d, \"best_epoch\": %d, \"seconds\": %.3f, "
						 "\"validation_loss\": ",
						 ex->unlab.n, (size_t) pre->tokens, pre->epochs_run, pre->best_epoch,
						 pre->seconds);
		rnn_json_append_number(&js, pre->valid_loss);
		appendStringInfoChar(&js, '}');
	}
	appendStringInfoChar(&js, '}');
	return rnn_jsonb_from_text(js.data);
}

/* 6: a new version in rnn.models; returns it. */
static int32
store_classifier(const TrainArgs *a, const char *relname, RnnModel *model, const RnnVocab *vocab,
				 const Examples *ex, const ClfData *d, const Metrics *m_train,
				 const Metrics *m_valid, const RnnFitResult *fr, const StringInfo curve,
				 const NgramReport *ng, const RnnPretrainResult *pre)
{
	RnnStoreRequest req;
	bytea	   *weights = rnn_classifier_weights(model, ng->ngram);

	memset(&req, 0, sizeof(req));
	req.name = a->model_name;
	req.kind = RNN_KIND_CLASSIFIER;
	req.cell = rnn_cell_name(a->cell);
	req.source_relation = relname;
	req.source_rows = ex->texts.n;
	req.weights = weights;
	req.vocabulary = rnn_vocab_array(vocab);
	req.labels = rnn_text_array((const char *const *) ex->labels, NULL, ex->n_classes, false);
	req.hyperparams = hyperparams_json(a);
	req.normalization = class_prior_json(d, ex->n_classes);
	req.metrics = metrics_json(m_train, m_valid, d, fr, rnn_vocab_size(vocab), ex, ng, pre);
	req.loss_curve = rnn_jsonb_from_text(curve->data);
	return rnn_store_model(&req, NULL);
}

/* ---------------------------------------------------------------------------
 * rnn.train_classifier(...)
 */
PG_FUNCTION_INFO_V1(rnn_train_classifier);
Datum
rnn_train_classifier(PG_FUNCTION_ARGS)
{
	TrainArgs	a;
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext train_cxt;
	TupleDesc	result_desc;
	char	   *relname;
	Examples	ex;
	int		   *class_count;
	int		   *order;
	int			n_valid;
	RnnVocab   *vocab;
	ClfData		d;
	RnnModel   *model;
	Predictor	pred;
	double	   *probs;
	StringInfoData curve;
	RnnFitResult fr;
	Metrics		m_train,
				m_valid;
	NgramReport ngr;
	RnnWordVectors wv;
	RnnSeqs		unlab;
	RnnPretrainResult pre;
	bool		pretrain;
	double		start_accuracy;
	int			n,
				C;
	int32		version;
	Datum		values[11];
	bool		nulls[11];
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	result_desc = BlessTupleDesc(result_desc);

	parse_args(fcinfo, &a);
	relname = rnn_text_relation(a.relid);
	rnn_require_blas();
	train_cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn_ext train_classifier",
									  ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(train_cxt);

	/* 1-2. classes and rows */
	read_examples(&a, relname, train_cxt, &ex);
	class_count = palloc(sizeof(int) * Max(ex.n_classes, 1));
	keep_present_classes(&ex, &a, relname, class_count);
	n = ex.texts.n;
	C = ex.n_classes;

	/*
	 * 3. split; 4. vocabulary from the training part and the unlabelled
	 * texts (the words pretraining teaches the network must have ids), token
	 * ids; the validation texts stay out of both
	 */
	order = palloc(sizeof(int) * n);
	n_valid = split_stratified(&ex, class_count, a.validation_fraction, a.seed, order);
	vocab = rnn_texts_vocab_more(&ex.texts, order, n - n_valid, ex.unlab.n > 0 ? &ex.unlab : NULL,
								 a.tokens, a.min_count, a.vocab_size);
	encode_examples(&ex, vocab, order, n_valid, &a, &d);
	pfree(ex.texts.text);
	ex.texts.text = NULL;
	pretrain = a.pretrain_epochs > 0 || (a.pretrain_epochs < 0 && ex.unlab.n > 0);
	if (a.freeze_embeddings && !OidIsValid(a.embeddings) && !pretrain)
		freeze_needs_embeddings();
	memset(&unlab, 0, sizeof(unlab));
	if (ex.unlab.n > 0)
	{
		int		   *ident = palloc(sizeof(int) * ex.unlab.n);

		for (int k = 0; k < ex.unlab.n; k++)
			ident[k] = k;
		rnn_texts_encode(&ex.unlab, vocab, ident, ex.unlab.n, a.max_tokens, &unlab);
		pfree(ident);
		pfree(ex.unlab.text);
		ex.unlab.text = NULL;
		if (rnn_progress_guc)
			ereport(NOTICE,
					(errmsg("%s: %d unlabelled texts (%lld rows with a NULL label, %lld of the "
							"pretraining relation) pretrain the network",
							a.model_name, ex.unlab.n, (long long) ex.unlab_rows,
							(long long) (ex.unlab.n - ex.unlab_rows))));
	}

	/* 4b. the n-gram path; 4c. word vectors, which set embedding_dim */
	memset(&ngr, 0, sizeof(ngr));
	if (a.ngram_order > 0)
		ngr.ngram = fit_ngram_path(&a, &d, rnn_vocab_size(vocab), &ngr.fit);
	ngr.pretrained_words = -1;
	if (OidIsValid(a.embeddings))
	{
		rnn_read_word_vectors(a.embeddings, vocab, &wv);
		if (wv.dim != a.embedding_dim && rnn_progress_guc)
			ereport(NOTICE,
					(errmsg("embedding_dim is %d, the dimension of the vectors in %s",
							wv.dim, wv.relname)));
		a.embedding_dim = wv.dim;
		ngr.pretrained_words = wv.found;
	}

	/* 5. model (starting as the n-gram path, with the vectors), fit */
	model = create_model(&a, rnn_vocab_size(vocab), C, &d);
	if (ngr.ngram)
		start_from_ngram_path(model, &ngr.fit);
	if (OidIsValid(a.embeddings))
		rnn_word_vectors_apply(&wv, model);
	memset(&pre, 0, sizeof(pre));
	if (pretrain)
	{
		RnnPretrainOptions po;

		memset(&po, 0, sizeof(po));
		po.model_name = a.model_name;
		po.epochs = a.pretrain_epochs;
		po.learning_rate = a.learning_rate;
		po.clip_norm = a.clip_norm;
		/* vectors stay as loaded when frozen; else pretraining learns the
		 * embedding, which the labelled training then keeps when frozen */
		po.freeze_embeddings = a.freeze_embeddings && OidIsValid(a.embeddings);
		po.seed = (uint64) a.seed;
		rnn_classifier_pretrain(model, &d.seqs, d.n_train, d.n_valid,
								ex.unlab.n > 0 ? &unlab : NULL, &po, &pre);
	}
	predictor_init(&pred, model, a.batch_size, C, &d.seqs);
	probs = palloc_extended(sizeof(double) * (Size) n * C, MCXT_ALLOC_HUGE);
	fr = fit_model(&a, model, &d, &pred, probs, &curve, &start_accuracy);
	ngr.validation_accuracy = start_accuracy;
	ngr.network_share = -1;
	if (ngr.ngram && d.n_valid > 0 && fr.best_epoch > 0 && !a.stop_on_accuracy)
		ngr.network_share = fit_network_share(model, &d, &pred, ngr.fit.bias,
											  &ngr.network_gain_z);

	/* 6. metrics with the best epoch's weights and the stored n-gram path
	 * (not the out-of-fold one the network trained beside), stored */
	if (ngr.ngram)
		for (int k = 0; k < d.n_train; k++)
			ngram_logits(ngr.ngram, &d, k);
	predict(&pred, &d, 0, n, probs);
	m_train = compute_metrics(probs, d.label, d.n_train, C);
	m_valid = compute_metrics(probs + (size_t) d.n_train * C, d.label + d.n_train, d.n_valid, C);
	version = store_classifier(&a, relname, model, vocab, &ex, &d, &m_train, &m_valid, &fr, &curve,
							   &ngr, &pre);

	/* the result row, in the caller's context */
	MemoryContextSwitchTo(caller_cxt);
	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(version);
	values[1] = Float8GetDatum(m_train.accuracy);
	values[2] = Float8GetDatum(m_valid.accuracy);
	values[3] = Float8GetDatum(m_train.macro_f1);
	values[4] = Float8GetDatum(m_valid.macro_f1);
	values[5] = Float8GetDatum(m_train.log_loss);
	values[6] = Float8GetDatum(m_valid.log_loss);
	if (d.n_valid == 0)
		nulls[2] = nulls[4] = nulls[6] = true;
	values[7] = Int32GetDatum(fr.epochs_run);
	values[8] = Int32GetDatum(fr.best_epoch);
	values[9] = Float8GetDatum(fr.seconds);
	values[10] = Int32GetDatum(rnn_vocab_size(vocab));
	tup = heap_form_tuple(result_desc, values, nulls);
	MemoryContextDelete(train_cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}
