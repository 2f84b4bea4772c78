/*
 * model_cache.c -- decoded models, cached per backend.
 *
 * Decoding a weight blob (checksum, copy, bind) costs as much as scoring a
 * few thousand rows, so scoring functions never decode per row.  Two levels:
 *
 *  1. Per backend: a hash table keyed by (id, xmin) of the rnn.models row.
 *     Any rewrite of the row (a new version is a new id; an UPDATE gives a
 *     new xmin) misses the cache, so a retrained model is picked up by the
 *     next statement.  When a name resolves to a new (id, xmin), entries of
 *     the same id with an older xmin are dropped, and beyond
 *     RNN_CACHE_MAX_MODELS entries the least recently used one goes.  Each
 *     entry owns a memory context under CacheMemoryContext.
 *
 *  2. Per call site: fn_extra remembers (name, version) -> (id, xmin) for
 *     the rest of the statement (same transaction and command id), so
 *     scoring a million rows does one SPI lookup, not a million.
 *
 * Example: SELECT rnn.sentiment('review_gru', body) FROM reviews
 *   row 1: fn_extra empty -> SPI lookup -> (42, 1234) -> miss -> decode
 *   row 2..N: fn_extra matches -> hash hit on (42, 1234), no SPI
 *   next statement: SPI lookup -> (42, 1234) -> hit, no decode
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "rnn_ext.h"

#define RNN_CACHE_MAX_MODELS 16

static HTAB *model_cache = NULL;
static uint64 cache_clock = 0;

/* Counters for rnn.model_cache_stats() */
static int64 stat_calls = 0;	/* rnn_cache_get calls */
static int64 stat_lookups = 0;	/* SPI lookups by name */
static int64 stat_decodes = 0;	/* blobs decoded (cache misses) */

/* fn_extra of a call site */
typedef struct CallSiteCache
{
	char	   *name;			/* in fn_mcxt */
	int32		version;
	LocalTransactionId lxid;
	CommandId	cid;
	RnnModelKey key;
} CallSiteCache;

static void
init_cache(void)
{
	HASHCTL		ctl;

	StaticAssertStmt(sizeof(RnnModelKey) == sizeof(int64) + 2 * sizeof(uint32),
					 "RnnModelKey must have no padding");
	if (model_cache != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RnnModelKey);
	ctl.entrysize = sizeof(RnnCachedModel);
	ctl.hcxt = CacheMemoryContext;
	model_cache = hash_create("rnn_ext model cache", RNN_CACHE_MAX_MODELS * 2,
							  &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static RnnModelKey
make_key(int64 id, TransactionId xmin)
{
	RnnModelKey key;

	key.id = id;
	key.xmin = xmin;
	key.pad = 0;				/* HASH_BLOBS hashes every byte */
	return key;
}

static void
remove_entry(RnnCachedModel *entry)
{
	MemoryContext cxt = entry->cxt;
	RnnModelKey key = entry->key;

	hash_search(model_cache, &key, HASH_REMOVE, NULL);
	MemoryContextDelete(cxt);
}

/* Drop stale versions of row 'id' and the least recently used entries. */
static void
make_room(int64 id)
{
	HASH_SEQ_STATUS seq;
	RnnCachedModel *entry;
	RnnCachedModel *victims[RNN_CACHE_MAX_MODELS * 2];
	int			nvictims = 0;

	hash_seq_init(&seq, model_cache);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (entry->key.id == id && nvictims < lengthof(victims))
			victims[nvictims++] = entry;
	}
	for (int i = 0; i < nvictims; i++)
		remove_entry(victims[i]);

	while (hash_get_num_entries(model_cache) >= RNN_CACHE_MAX_MODELS)
	{
		RnnCachedModel *oldest = NULL;

		hash_seq_init(&seq, model_cache);
		while ((entry = hash_seq_search(&seq)) != NULL)
			if (oldest == NULL || entry->last_used < oldest->last_used)
				oldest = entry;
		remove_entry(oldest);
	}
}

static void *
copy_datum(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : PG_DETOAST_DATUM_COPY(d);
}

/*
 * Decode row 'row' of model 'name' into a new cache entry.  The entry's
 * context hangs under the caller's context until everything succeeded, so
 * an error (corrupted blob, out of memory) frees it with the statement.
 */
static RnnCachedModel *
load_entry(const char *name, const RnnModelRow *row)
{
	MemoryContext cxt;
	MemoryContext old;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	RnnModel   *model;
	RnnCachedModel tmp;
	RnnCachedModel *entry;
	bool		found;
	int			ret;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn_ext cached model",
								ALLOCSET_DEFAULT_SIZES);
	memset(&tmp, 0, sizeof(tmp));
	tmp.key = make_key(row->key.id, row->key.xmin);
	tmp.cxt = cxt;
	tmp.version = row->version;
	strlcpy(tmp.kind, row->kind, sizeof(tmp.kind));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(row->key.id);
	ret = SPI_execute_with_args(psprintf("SELECT weights, hyperparams, normalization, vocabulary, labels "
										 "FROM %s WHERE id = $1", rnn_models_read_relation()),
								1, types, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" version %d disappeared while it was being loaded",
						name, row->version),
				 errdetail("It was dropped by a concurrent transaction.")));
	else
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bytea	   *weights;
		char	   *what;

		weights = DatumGetByteaPP(SPI_getbinval(tup, desc, 1, &isnull));
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("model \"%s\" version %d has no weights", name, row->version)));

		old = MemoryContextSwitchTo(cxt);
		what = psprintf("could not decode the weights of model \"%s\" version %d",
						name, row->version);
		model = rnn_decode_weights_or_raise(weights, what, &tmp.ngram);
		tmp.model = model;
		tmp.weights_bytes = VARSIZE_ANY_EXHDR(weights);
		tmp.name = pstrdup(name);
		tmp.hyperparams = copy_datum(tup, desc, 2);
		tmp.normalization = copy_datum(tup, desc, 3);
		tmp.vocabulary = copy_datum(tup, desc, 4);
		tmp.labels = copy_datum(tup, desc, 5);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	/* Success: the entry now lives as long as the backend (or the cache). */
	make_room(row->key.id);
	MemoryContextSetParent(cxt, CacheMemoryContext);
	entry = hash_search(model_cache, &tmp.key, HASH_ENTER, &found);
	Assert(!found);
	*entry = tmp;
	stat_decodes++;
	return entry;
}

RnnCachedModel *
rnn_cache_get(FunctionCallInfo fcinfo, const char *name, int32 version)
{
	CallSiteCache *site = NULL;
	RnnCachedModel *entry;
	RnnModelRow row;
	LocalTransactionId lxid = MyProc->lxid;
	CommandId	cid = GetCurrentCommandId(false);

	init_cache();
	stat_calls++;
	if (version < 0)
		version = 0;

	/* Same call site, same statement, same model: no SPI at all. */
	if (fcinfo != NULL && fcinfo->flinfo != NULL)
	{
		site = (CallSiteCache *) fcinfo->flinfo->fn_extra;
		if (site != NULL && site->lxid == lxid && site->cid == cid &&
			site->version == version && strcmp(site->name, name) == 0)
		{
			entry = hash_search(model_cache, &site->key, HASH_FIND, NULL);
			if (entry != NULL)
			{
				entry->last_used = ++cache_clock;
				return entry;
			}
		}
	}

	stat_lookups++;
	rnn_lookup_model(name, version, false, &row);
	row.key = make_key(row.key.id, row.key.xmin);
	entry = hash_search(model_cache, &row.key, HASH_FIND, NULL);
	if (entry == NULL)
		entry = load_entry(name, &row);
	entry->last_used = ++cache_clock;

	if (fcinfo != NULL && fcinfo->flinfo != NULL)
	{
		MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

		if (site == NULL)
		{
			site = MemoryContextAllocZero(mcxt, sizeof(CallSiteCache));
			fcinfo->flinfo->fn_extra = site;
		}
		if (site->name == NULL || strcmp(site->name, name) != 0)
		{
			if (site->name)
				pfree(site->name);
			site->name = MemoryContextStrdup(mcxt, name);
		}
		site->version = version;
		site->lxid = lxid;
		site->cid = cid;
		site->key = row.key;
	}
	return entry;
}

/* ---------------------------------------------------------------------------
 * rnn.model_cache_stats()
 *
 *   SELECT * FROM rnn.model_cache_stats();
 *    models | bytes  | calls | lookups | decodes
 *   --------+--------+-------+---------+---------
 *         1 | 262144 |  1000 |       1 |       1
 *
 * calls: model uses by scoring functions in this backend; lookups: the ones
 * that needed an SPI lookup by name; decodes: cache misses.
 */
PG_FUNCTION_INFO_V1(rnn_model_cache_stats);
Datum
rnn_model_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	int64		bytes = 0;
	int32		models = 0;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (model_cache != NULL)
	{
		HASH_SEQ_STATUS seq;
		RnnCachedModel *entry;

		hash_seq_init(&seq, model_cache);
		while ((entry = hash_seq_search(&seq)) != NULL)
		{
			models++;
			bytes += MemoryContextMemAllocated(entry->cxt, true);
		}
	}
	values[0] = Int32GetDatum(models);
	values[1] = Int64GetDatum(bytes);
	values[2] = Int64GetDatum(stat_calls);
	values[3] = Int64GetDatum(stat_lookups);
	values[4] = Int64GetDatum(stat_decodes);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
