/*
 * model_store.c -- reading and writing rows of rnn.models through SPI.
 *
 * Everything runs with the caller's rights: row-level security on
 * rnn.models and its ownership trigger (see sql/rnn_ext.sql) decide who
 * may add a version under a name, so C code cannot bypass them.  Writes go
 * to rnn.models; lookups read rnn_models_read_relation(), which on a Citus
 * node is the local placement of rnn.models (model_placement.c).
 *
 * Versions: each store of a name inserts version max(version) + 1.  Two
 * sessions storing the same name at once are serialized by a transaction
 * advisory lock on the name, so they get consecutive versions instead of a
 * unique violation (under READ COMMITTED).  A model becomes visible only
 * when the storing transaction commits.
 *
 * Deployment: a lookup without a version returns the row marked deployed
 * (rnn.deploy_model; at most one per name), else the latest version.
 * Deploying rewrites the row, so its xmin, and so the model cache key,
 * changes: the next statement picks up the new choice.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "rnn_ext.h"

/* First key of the advisory locks taken on model names ("rnn" in ASCII). */
#define RNN_ADVISORY_LOCK_CLASS 0x726e6e

const char *
rnn_cell_name(RnnCellKind cell)
{
	switch (cell)
	{
		case RNN_CELL_TANH:
			return "tanh";
		case RNN_CELL_GRU:
			return "gru";
		case RNN_CELL_LSTM:
			return "lstm";
	}
	return "unknown";
}

void
rnn_check_model_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || (len > RNN_MAX_MODEL_NAME && pg_mbstrlen(name) > RNN_MAX_MODEL_NAME))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must be 1 to %d characters long", RNN_MAX_MODEL_NAME),
				 len > 0 ? errdetail("The name given is %d characters long.", pg_mbstrlen(name)) : 0));
}

static void
spi_connect_or_raise(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* ---------------------------------------------------------------------------
 * Insert a new version
 */
int32
rnn_store_model(const RnnStoreRequest *req, int64 *id)
{
	Oid			lock_types[1] = {TEXTOID};
	Datum		lock_values[1];
	Oid			types[12] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTARRAYOID,
	JSONBOID, TEXTARRAYOID, JSONBOID, JSONBOID, TEXTOID, INT8OID, BYTEAOID};
	Datum		values[12];
	char		nulls[12];
	int			ret;
	bool		isnull;
	int32		version;
	int64		new_id;

	Assert(req->name != NULL && req->kind != NULL && req->weights != NULL);
	rnn_check_model_name(req->name);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(req->name);
	values[1] = CStringGetTextDatum(req->kind);
#define OPTIONAL(i, ptr, conv) \
	do { if ((ptr) != NULL) values[i] = conv(ptr); else { values[i] = (Datum) 0; nulls[i] = 'n'; } } while (0)
	OPTIONAL(2, req->cell, CStringGetTextDatum);
	OPTIONAL(3, req->hyperparams, PointerGetDatum);
	OPTIONAL(4, req->vocabulary, PointerGetDatum);
	OPTIONAL(5, req->normalization, PointerGetDatum);
	OPTIONAL(6, req->labels, PointerGetDatum);
	OPTIONAL(7, req->metrics, PointerGetDatum);
	OPTIONAL(8, req->loss_curve, PointerGetDatum);
	OPTIONAL(9, req->source_relation, CStringGetTextDatum);
#undef OPTIONAL
	values[10] = Int64GetDatum(req->source_rows);
	if (req->source_rows < 0)
		nulls[10] = 'n';
	values[11] = PointerGetDatum(req->weights);

	spi_connect_or_raise();

	lock_values[0] = values[0];
	ret = SPI_execute_with_args(psprintf("SELECT pg_catalog.pg_advisory_xact_lock(%d, pg_catalog.hashtext($1))",
										 RNN_ADVISORY_LOCK_CLASS),
								1, lock_types, lock_values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not lock model name: SPI error %d", ret);

	/*
	 * INSERT ... SELECT rather than a VALUES list with a subquery: Citus
	 * refuses subqueries in INSERT ... VALUES on a reference table.
	 */
	ret = SPI_execute_with_args("INSERT INTO rnn.models "
								"(name, version, kind, cell, hyperparams, vocabulary, "
								" normalization, labels, metrics, loss_curve, "
								" source_relation, source_rows, weights) "
								"SELECT $1, coalesce(pg_catalog.max(m.version), 0) + 1, "
								"       $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 "
								"  FROM rnn.models m WHERE m.name = $1 "
								"RETURNING id, version",
								12, types, values, nulls, false, 1);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not store model \"%s\": SPI error %d", req->name, ret);

	new_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 1, &isnull));
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  2, &isnull));
	SPI_finish();

	if (id)
		*id = new_id;
	return version;
}

/* ---------------------------------------------------------------------------
 * Look up a model by name
 */
bool
rnn_lookup_model(const char *name, int32 version, bool missing_ok, RnnModelRow *row)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	int			ret;
	bool		found;

	rnn_check_model_name(name);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);

	spi_connect_or_raise();
	ret = SPI_execute_with_args(psprintf(version > 0 ?
										 "SELECT id, xmin, version, kind FROM %s "
										 "WHERE name = $1 AND version = $2" :
										 "SELECT id, xmin, version, kind FROM %s "
										 "WHERE name = $1 ORDER BY deployed DESC, version DESC LIMIT 1",
										 rnn_models_read_relation()),
								version > 0 ? 2 : 1, types, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up model \"%s\": SPI error %d", name, ret);

	found = SPI_processed > 0;
	if (found)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *kind;

		row->key.id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		row->key.xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 2, &isnull));
		row->version = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		kind = SPI_getvalue(tup, desc, 4);
		strlcpy(row->kind, kind ? kind : "", sizeof(row->kind));
	}
	SPI_finish();

	/*
	 * rnn._raise_model_not_found (sql/rnn_ext--0.2.sql) raises these same
	 * errors for the PL/pgSQL model functions: keep the two in step.
	 */
	if (!found && !missing_ok)
	{
		if (version > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" version %d does not exist", name, version),
					 errhint("SELECT version FROM rnn.models WHERE name = %s lists its versions.",
							 quote_literal_cstr(name))));
		else
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" does not exist", name),
					 errhint("SELECT name FROM rnn.model_list lists the stored models.")));
	}
	return found;
}
