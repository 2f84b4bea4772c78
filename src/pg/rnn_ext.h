/*
 * rnn_ext.h -- declarations shared by the PostgreSQL side of rnn_ext.
 *
 * src/pg turns the plain-C engine (src/core/rnn.h) into SQL: settings and
 * memory hooks (rnn_ext.c), RnnStatus -> ereport (errors.c), the model
 * store in rnn.models (model_store.c), the per-backend cache of decoded
 * models (model_cache.c) and the model SQL functions (model_sql.c).
 */
#ifndef RNN_EXT_H
#define RNN_EXT_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "rnn.h"

/* ---------------------------------------------------------------------------
 * Settings (rnn_ext.c)
 */
extern int	rnn_blas_threads_guc;	/* rnn.blas_threads */
extern int	rnn_max_train_memory_kb;	/* rnn.max_train_memory, in kB */
extern bool rnn_progress_guc;	/* rnn.progress: per-epoch NOTICEs */
extern int	rnn_isa_guc;		/* rnn.isa: -1 auto, else an RnnIsa */

/*
 * Training progress for other sessions: sets this backend's
 * pg_stat_activity.query to the formatted text (truncated to 255 bytes).
 * rnn_progress_done() puts the statement's own text back.
 */
void		rnn_report_progress(const char *fmt,...) pg_attribute_printf(1, 2);
void		rnn_progress_done(void);

/*
 * Raise PROGRAM_LIMIT_EXCEEDED when 'bytes' (needed for 'what', e.g.
 * "training") is more than rnn.max_train_memory.
 */
void		rnn_check_train_memory(Size bytes, const char *what);
void		rnn_check_memory(Size bytes, const char *what, const char *hint);

/* Load OpenBLAS (with signals blocked) or raise a clear error. */
void		rnn_require_blas(void);

/* ---------------------------------------------------------------------------
 * Errors (errors.c)
 */

/*
 * ereport(ERROR) for a failed engine call.  'what' says what was being done,
 * e.g. "could not decode the weights of model \"x\""; blob_len >= 0 adds
 * the blob size to the detail.  No-op for RNN_OK.
 */
void		rnn_raise_status(RnnStatus status, const char *what, int64 blob_len);

static inline void
rnn_check_status(RnnStatus status, const char *what)
{
	if (status != RNN_OK)
		rnn_raise_status(status, what, -1);
}

/* Decode a weight blob or raise the precise error for it. */
RnnModel   *rnn_decode_or_raise(const bytea *weights, const char *what);

/* The same, keeping a classifier's n-gram path (classify_ngram.c): *ngram
 * gets it, or NULL when the weights end with the network. */
struct RnnNgram;
RnnModel   *rnn_decode_weights_or_raise(const bytea *weights, const char *what,
										struct RnnNgram **ngram);

/* ---------------------------------------------------------------------------
 * Model store (model_store.c): rows of rnn.models through SPI.
 */
#define RNN_KIND_FORECASTER "forecaster"
#define RNN_KIND_CLASSIFIER "classifier"

/* What a new version of a model is stored with; NULL fields store NULL. */
typedef struct RnnStoreRequest
{
	const char *name;
	const char *kind;			/* "forecaster" or "classifier" */
	const char *cell;			/* "tanh", "gru", "lstm" */
	Jsonb	   *hyperparams;
	ArrayType  *vocabulary;		/* text[] */
	Jsonb	   *normalization;
	ArrayType  *labels;			/* text[] */
	Jsonb	   *metrics;
	Jsonb	   *loss_curve;
	const char *source_relation;
	int64		source_rows;	/* < 0: NULL */
	bytea	   *weights;		/* encoded blob (rnn_model_encode) */
} RnnStoreRequest;

/*
 * Insert the next version of req->name, owned by the current role; returns
 * the new version and sets *id.  Runs with the caller's rights: row-level
 * security and the ownership trigger decide whether the caller may add a
 * version under that name.  Safe to call inside or outside an SPI
 * connection.
 */
int32		rnn_store_model(const RnnStoreRequest *req, int64 *id);

/* Longest model name, in characters. */
#define RNN_MAX_MODEL_NAME 200

/*
 * Raise INVALID_PARAMETER_VALUE unless name has 1 to RNN_MAX_MODEL_NAME
 * characters.  Training calls it before it reads any data; the model store
 * and lookups call it too, so an over-long name is refused without being
 * echoed back (a 100 MB name would otherwise come back in the message).
 * rnn._raise_model_not_found raises the same error for the PL/pgSQL model
 * functions.
 */
void		rnn_check_model_name(const char *name);

/* Identity of one stored model version, as looked up by name. */
typedef struct RnnModelKey
{
	int64		id;
	TransactionId xmin;			/* of the row: changes whenever it is rewritten */
	uint32		pad;			/* always 0: the cache hashes keys as bytes,
								 * and struct copies need not copy padding */
} RnnModelKey;

typedef struct RnnModelRow
{
	RnnModelKey key;
	int32		version;
	char		kind[16];
} RnnModelRow;

/*
 * Find model 'name' (version <= 0: the deployed version, else the latest;
 * see rnn.deploy_model).  Returns false when there is
 * no such model and missing_ok, else raises UNDEFINED_OBJECT.
 */
bool		rnn_lookup_model(const char *name, int32 version, bool missing_ok,
							 RnnModelRow *row);

/*
 * The relation lookups read rnn.models rows from on this node, quoted:
 * "rnn.models", or on Citus the local placement of rnn.models as a
 * reference table (model_placement.c says why).  Call inside an SPI
 * connection; the string lives until SPI_finish.
 */
const char *rnn_models_read_relation(void);

/* Canonical spelling of a cell kind for the cell column. */
const char *rnn_cell_name(RnnCellKind cell);

/* ---------------------------------------------------------------------------
 * Model cache (model_cache.c): decoded models per backend, keyed by
 * (id, xmin), so a query scoring a million rows decodes the weights once.
 */
typedef struct RnnCachedModel
{
	RnnModelKey key;			/* hash key: must be first */
	char	   *name;			/* in cxt */
	int32		version;
	char		kind[16];
	MemoryContext cxt;			/* owns everything below */
	RnnModel   *model;			/* decoded weights */
	struct RnnNgram *ngram;		/* a classifier's n-gram path, or NULL */
	Size		weights_bytes;	/* size of the encoded blob */
	Jsonb	   *hyperparams;	/* NULL when the column is NULL */
	Jsonb	   *normalization;
	ArrayType  *vocabulary;
	ArrayType  *labels;
	void	   *aux;			/* state built by scoring code (e.g. a
								 * tokenizer), allocated in cxt */
	uint64		last_used;
} RnnCachedModel;

/*
 * The decoded model 'name' (version <= 0: deployed, else latest).  With fcinfo, the
 * (name, version) -> entry mapping is remembered in fn_extra for the rest
 * of the statement, so scoring many rows does one SPI lookup.  The entry
 * stays valid until the next rnn_cache_get call.
 */
RnnCachedModel *rnn_cache_get(FunctionCallInfo fcinfo, const char *name,
							  int32 version);

/* ---------------------------------------------------------------------------
 * JSON helpers (model_sql.c)
 */

/* Append the architecture of cfg as a JSON object. */
void		rnn_describe_config(StringInfo buf, const RnnConfig *cfg);

#endif							/* RNN_EXT_H */
