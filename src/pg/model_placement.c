/*
 * model_placement.c -- which relation holds this node's rows of rnn.models.
 *
 * On one PostgreSQL that is rnn.models itself.  On Citus, rnn.models can be
 * a reference table (SELECT create_reference_table('rnn.models')): every
 * node then holds a full copy of its rows, a placement, in the shard
 * relation rnn.models_<shardid>, written by the coordinator with two-phase
 * commit, while rnn.models becomes an empty shell whose queries Citus plans
 * as distributed queries.  A scoring function pushed down to a worker runs
 * inside a query on a shard, where Citus refuses any distributed query
 * ("cannot execute a distributed query from a query on a shard"), so the
 * lookups of the model cache read the local placement directly instead.
 *
 * Why the placement and not citus.allow_nested_distributed_execution: a
 * read of the local placement is plain PostgreSQL in the task's own
 * backend, transaction and snapshot; it never opens a connection to
 * another node (a nested distributed query may, and Citus documents it as
 * possibly incorrect), and it needs no setting on every worker.  The shard
 * carries the table's row-level security policies (Citus creates them on
 * every placement) and the task runs as the calling role, so a role scores
 * on a worker exactly the models it may read on the coordinator.  A row
 * written on the coordinator is seen by a worker's next statement once
 * that worker has committed it, and its xmin there is the worker's own, so
 * the model cache's (id, xmin) key works per node as it does on one.
 *
 * Writes (training, import, deploy, drop, sharing) keep going through
 * rnn.models, so Citus applies them to every placement.
 */
#include "postgres.h"

#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "rnn_ext.h"

#define RNN_MODELS_RELATION "rnn.models"

/*
 * The shard of rnn.models placed on this node, when rnn.models is a Citus
 * table with one shard (a reference table, or a Citus local table on the
 * coordinator).  shard_name() is Citus's own spelling of a shard's name.
 */
static const char *const local_placement_query =
"SELECT pg_catalog.to_regclass(pg_catalog.shard_name(p.logicalrelid, s.shardid))::pg_catalog.oid "
"  FROM pg_catalog.pg_dist_partition p "
"  JOIN pg_catalog.pg_dist_shard s ON s.logicalrelid = p.logicalrelid "
"  JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid "
" WHERE p.logicalrelid = 'rnn.models'::pg_catalog.regclass AND p.partmethod = 'n' "
"   AND pl.groupid = (SELECT lg.groupid FROM pg_catalog.pg_dist_local_group lg)";

const char *
rnn_models_read_relation(void)
{
	Oid			shard = InvalidOid;
	int			ret;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return RNN_MODELS_RELATION;

	ret = SPI_execute(local_placement_query, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not find the placement of rnn.models: SPI error %d", ret);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			shard = DatumGetObjectId(d);
	}

	/*
	 * Not a Citus table, or no placement here: rnn.models, which Citus
	 * routes (and refuses inside a query on a shard, with its own hint).
	 */
	if (!OidIsValid(shard))
		return RNN_MODELS_RELATION;
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(shard)),
									  get_rel_name(shard));
}
