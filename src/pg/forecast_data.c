/*
 * forecast_data.c -- reading series from a table, checking them, and cutting
 * windows.
 *
 * Rows are read through an SPI cursor in batches of FETCH_ROWS, with the
 * caller's privileges (a role without SELECT on the table gets "permission
 * denied", not data), and packed into one float array: memory is
 * 4 * (1 + features) bytes a row, never one palloc per row.  Forecasting
 * reads only the newest window of each series (fc_read_tail), in one scan
 * without a sort.
 *
 * Rules, checked while reading:
 *   - a series' timestamps are strictly increasing and evenly spaced: a
 *     duplicate or a gap is an error naming the series and the time, since a
 *     window across a gap would silently mix different spacings;
 *   - a NULL, NaN or infinite value is an error naming the series and time,
 *     unless missing => 'interpolate' (linear between neighbours; a run at
 *     either end takes the nearest value).  A filled value is an input but
 *     never a target: fc_fill_window gives it as NaN, which the loss, the
 *     ridge start, the metrics and the interval widths leave out.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "catalog/pg_collation.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "parser/parse_coerce.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "forecast.h"

#define FETCH_ROWS 10000

/* ---------------------------------------------------------------------------
 * Columns
 */
static char *
relation_name(Oid relid)
{
	char	   *rel = get_rel_name(relid);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel);
}

static Oid
column_type(Oid relid, const char *column, const char *role)
{
	AttrNumber	attnum;

	if (column == NULL || column[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", role)));
	/* no column has a longer name: don't echo a huge string back */
	if (strlen(column) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s is %zu bytes long, longer than any column name can be (%d bytes)",
						role, strlen(column), NAMEDATALEN - 1)));
	attnum = get_attnum(relid, column);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist in relation %s", column,
						relation_name(relid)),
				 errdetail("It was given as %s.", role)));
	return get_atttype(relid, attnum);
}

static void
check_numeric(Oid relid, const char *column, const char *role)
{
	Oid			type = column_type(relid, column, role);

	if (TypeCategory(type) != TYPCATEGORY_NUMERIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" is of type %s, not a number", column,
						format_type_be(type)),
				 errdetail("The %s must be numeric (smallint, integer, bigint, real, "
						   "double precision or numeric).", role)));
}

static FcTimeKind
check_time(Oid relid, const char *column)
{
	Oid			type = column_type(relid, column, "time_column");

	switch (type)
	{
		case TIMESTAMPOID:
			return FC_TIME_TIMESTAMP;
		case TIMESTAMPTZOID:
			return FC_TIME_TIMESTAMPTZ;
		case DATEOID:
			return FC_TIME_DATE;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return FC_TIME_INTEGER;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("time column \"%s\" is of type %s", column, format_type_be(type)),
			 errhint("Use a timestamp, timestamptz, date or integer column.")));
	return FC_TIME_INTEGER;		/* keep compiler quiet */
}

const char *
fc_time_kind_name(FcTimeKind kind)
{
	switch (kind)
	{
		case FC_TIME_TIMESTAMP:
			return "timestamp";
		case FC_TIME_TIMESTAMPTZ:
			return "timestamptz";
		case FC_TIME_DATE:
			return "date";
		case FC_TIME_INTEGER:
			return "integer";
	}
	return "?";
}

/* A time as the user would write it, for error messages. */
static char *
time_text(FcTimeKind kind, int64 t)
{
	switch (kind)
	{
		case FC_TIME_DATE:
			return DatumGetCString(DirectFunctionCall1(date_out,
													   DirectFunctionCall1(timestamp_date, Int64GetDatum(t))));
		case FC_TIME_TIMESTAMP:
			return DatumGetCString(DirectFunctionCall1(timestamp_out, Int64GetDatum(t)));
		case FC_TIME_TIMESTAMPTZ:
			return DatumGetCString(DirectFunctionCall1(timestamptz_out, Int64GetDatum(t)));
		case FC_TIME_INTEGER:
			break;
	}
	return psprintf(INT64_FORMAT, t);
}

Datum
fc_time_datum(FcTimeKind kind, int64 t, bool *isnull)
{
	*isnull = false;
	switch (kind)
	{
		case FC_TIME_TIMESTAMPTZ:
			return TimestampTzGetDatum(t);
		case FC_TIME_TIMESTAMP:
		case FC_TIME_DATE:
			/* wall-clock time in the session's time zone, as ts::timestamptz */
			return DirectFunctionCall1(timestamp_timestamptz, TimestampGetDatum(t));
		case FC_TIME_INTEGER:
			break;
	}
	*isnull = true;
	return (Datum) 0;
}

/* " in series \"x\"", or nothing for a table of one series */
static char *
in_series(const char *key)
{
	return key[0] ? psprintf(" in series \"%s\"", key) : "";
}

/* ---------------------------------------------------------------------------
 * Reading
 *
 * Both readers run one query without ORDER BY through an SPI cursor and put
 * rows in order themselves.  Sorting 10M rows by (series::text, time) in the
 * executor took most of a training's reading time (an external merge past
 * work_mem); a scan alone is ~15x faster, and rows usually arrive in time
 * order within a series anyway, which one pass confirms.
 *
 * parse_row checks NULL keys and times, infinite times and values, and
 * converts a row to int64/float without allocating: the series key is
 * compared in place in the tuple, and copied only for a new series.
 * Series are found by a hash of the key (the previous row's series first:
 * clustered tables repeat it).
 */

/* One row of the query, parsed.  key points into the tuple. */
typedef struct ParsedRow
{
	const char *key;			/* not NUL-terminated; "" for one series */
	int			keylen;
	int64		t;
	float	   *v;				/* (n_channels), NaN = missing */
} ParsedRow;

/* A series met while reading. */
typedef struct ReadSeries
{
	char	   *key;
	int			keylen;
	uint32		hash;
	int			id;				/* order of first appearance */
	int64		rows;			/* rows seen */
	/* fc_read_tail only: the newest `keep` rows */
	int			kept;			/* rows kept, <= keep */
	int			head;			/* where the oldest is in time/v */
	int64	   *time;			/* (keep) a ring buffer in time order */
	float	   *v;				/* (keep, C), moved along with time */
	int64		first_time;		/* its oldest row: the calendar's anchor */
	int64		dup_time;		/* a time seen twice at the window's edge */
	bool		has_dup;
	double	   *count;			/* (C) Welford over the non-missing values */
	double	   *mean;
	double	   *m2;
} ReadSeries;

typedef struct Reader
{
	const FcSpec *spec;
	FcData	   *data;
	MemoryContext cxt;			/* where data lives (outside SPI) */
	bool		has_missing;
	ParsedRow	row;
	struct varlena *detoasted;	/* the row's key, when it had to be copied */
	Oid			collation;		/* for ordering series keys */

	/* series: open addressing with linear probing, and by id */
	int			cap_slots;		/* a power of 2 */
	ReadSeries **slots;
	int			n_series;
	int			cap_series;
	ReadSeries **by_id;
	ReadSeries *last;

	/* fc_read: every row in arrival order */
	int64		n_rows;
	int64		cap_rows;
	int64	   *time;
	int32	   *sid;
	float	   *vals;

	/* fc_read_tail: rows kept per series */
	int			keep;
} Reader;

/* the key of the row being parsed, NUL-terminated, for messages */
static const char *
row_key(const ParsedRow *row)
{
	return row->keylen ? pnstrdup(row->key, row->keylen) : "";
}

static void
parse_row(Reader *r, HeapTuple tup, TupleDesc desc)
{
	const FcSpec *spec = r->spec;
	FcData	   *d = r->data;
	ParsedRow  *row = &r->row;
	int			col = 1;
	bool		isnull;
	Datum		tv;

	row->key = "";
	row->keylen = 0;
	if (r->detoasted)
	{
		pfree(r->detoasted);	/* the previous row's */
		r->detoasted = NULL;
	}
	if (spec->series_column)
	{
		Datum		k = SPI_getbinval(tup, desc, col++, &isnull);
		text	   *kt;

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("series column \"%s\" is NULL in some rows", spec->series_column),
					 errhint("Filter them out, e.g. with a view WHERE %s IS NOT NULL.",
							 quote_identifier(spec->series_column))));
		/* usually a plain in-line value: no copy */
		kt = (text *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(k));
		if ((Pointer) kt != DatumGetPointer(k))
			r->detoasted = (struct varlena *) kt;
		row->key = VARDATA_ANY(kt);
		row->keylen = VARSIZE_ANY_EXHDR(kt);
	}
	tv = SPI_getbinval(tup, desc, col++, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("time column \"%s\" is NULL%s", spec->time_column,
						in_series(row_key(row)))));
	switch (d->time_kind)
	{
		case FC_TIME_DATE:
			/* errors for dates beyond the timestamp range */
			row->t = DatumGetTimestamp(DirectFunctionCall1(date_timestamp, tv));
			break;
		default:
			row->t = DatumGetInt64(tv);
			break;
	}
	if (d->time_kind != FC_TIME_INTEGER && TIMESTAMP_NOT_FINITE(row->t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time column \"%s\" is %s%s", spec->time_column,
						TIMESTAMP_IS_NOBEGIN(row->t) ? "-infinity" : "infinity",
						in_series(row_key(row))),
				 errhint("Filter out rows with infinite times.")));

	for (int c = 0; c < d->n_channels; c++, col++)
	{
		Datum		v = SPI_getbinval(tup, desc, col, &isnull);
		double		x = isnull ? NAN : DatumGetFloat8(v);
		const char *column = c == 0 ? spec->value_column : spec->feature_columns[c - 1];

		if (!isfinite(x) || fabs(x) > FLT_MAX)
		{
			if (spec->missing == FC_MISSING_ERROR || (!isnull && !isnan(x)))
				ereport(ERROR,
						(errcode(isnull ? ERRCODE_NULL_VALUE_NOT_ALLOWED
								 : ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is %s at time %s%s",
								column,
								isnull ? "NULL" : isnan(x) ? "NaN" : "infinite or out of range",
								time_text(d->time_kind, row->t), in_series(row_key(row))),
						 isnull || isnan(x) ?
						 errhint("Pass missing => 'interpolate' to fill missing values "
								 "linearly, or filter the rows out.") : 0));
			x = NAN;
			r->has_missing = true;
		}
		row->v[c] = (float) x;
	}
}

/*
 * Time t follows prev in series key (rows sorted by time): a duplicate is an
 * error, which for a local timestamp repeated by a DST change says so.
 */
static void
check_not_duplicate(const FcData *d, const FcSpec *spec, const char *key, int64 prev, int64 t)
{
	bool		dst = d->time_kind == FC_TIME_TIMESTAMP && fc_local_time_repeated(t);

	if (t != prev)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("two rows at time %s%s", time_text(d->time_kind, t), in_series(key)),
			 dst ? errdetail("A local timestamp repeats that hour when daylight saving time "
							 "ends in time zone \"%s\".", pg_get_timezone_name(session_timezone)) : 0,
			 dst ? errhint("Use a timestamptz column, which counts absolute hours "
						   "(e.g. ts AT TIME ZONE 'UTC' if the readings were taken in UTC).") :
			 errhint("Aggregate duplicates first, e.g. GROUP BY %s with avg(%s).",
					 quote_identifier(spec->time_column),
					 quote_identifier(spec->value_column))));
}

/* Consecutive times of a series: distinct, and a difference int64 holds. */
static void
check_pair(const FcData *d, const FcSpec *spec, const char *key, int64 prev, int64 t)
{
	int64		diff;

	check_not_duplicate(d, spec, key, prev, t);
	if (pg_sub_s64_overflow(t, prev, &diff))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rows are not evenly spaced%s: %s follows %s",
						in_series(key), time_text(d->time_kind, t),
						time_text(d->time_kind, prev)),
				 errdetail("The two times are further apart than a 64-bit integer can count.")));
}

/*
 * Put one series' rows (times, sorted, no duplicates) on the calendar of
 * d->step, from ser->anchor: pos[i] gets row i's point (-1: older than the
 * points kept), ser->n and ser->last_k are set; *gaps tells whether some
 * step has no row.  keep > 0 (forecasting): only the newest keep steps are
 * points, and when the kept rows are not on the calendar of the series'
 * first row they are tried on that of their own oldest one.
 *
 * A missing step is an error with missing => 'error'; a series whose rows
 * leave more than half of its steps empty does not have the table's step.
 */
static void
place_series(const FcData *d, const FcSpec *spec, FcSeries *ser, const int64 *times, int rows,
			 int keep, int *pos, bool *gaps)
{
	const FcStep *step = &d->step;
	int64		k_first = 0,
				k_last = 0,
				span,
				lo;
	int64		expect;
	bool		check_each_gap;

	*gaps = false;
	if (rows == 0)
	{
		ser->n = 0;
		return;
	}
	if (!fc_step_known(step))
	{
		/* no series has two rows: each is one point */
		ser->n = 1;
		ser->last_k = 0;
		ser->anchor = times[rows - 1];
		pos[rows - 1] = 0;
		for (int i = 0; i < rows - 1; i++)
			pos[i] = -1;
		return;
	}
	if (keep > 0 && (!fc_calendar_index(d->time_kind, step, ser->anchor, times[0], &k_first) ||
					 !fc_calendar_index(d->time_kind, step, ser->anchor, times[rows - 1], &k_last)))
		ser->anchor = times[0];
	for (int i = 0; i < rows; i++)
	{
		int64		k;

		if (!fc_calendar_index(d->time_kind, step, ser->anchor, times[i], &k))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("time %s%s is not on the series' calendar",
							time_text(d->time_kind, times[i]), in_series(ser->key)),
					 errdetail("The series starts at %s and steps every %s: every time must be "
							   "its first time plus a whole number of steps.",
							   time_text(d->time_kind, ser->anchor), fc_step_text(d->time_kind, step)),
					 errhint("Resample the rows to one step (date_trunc or date_bin), or train "
							 "series of different steps as separate models.")));
		if (i == 0)
			k_first = k;
		k_last = k;
	}
	span = k_last - k_first + 1;
	if (span > 2 * (int64) rows)
	{
		FcStep		own = fc_series_own_step(d->time_kind, step, times, rows);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s does not fit a step of %s: %d rows over " INT64_FORMAT " steps",
						fc_series_name(ser->key), fc_step_text(d->time_kind, step), rows, span),
				 memcmp(&own, step, sizeof(FcStep)) == 0 ?
				 errdetail("Its times are irregular: %s is the largest step they all fit, and it "
						   "leaves more than half of the steps empty.",
						   fc_step_text(d->time_kind, step)) :
				 errdetail("Its rows are a multiple of %s apart; the step%s is %s.",
						   fc_step_text(d->time_kind, &own),
						   fc_step_known(&spec->step) ? " the model was trained with" :
						   " of the table (the largest that fits every series)",
						   fc_step_text(d->time_kind, step)),
				 errhint("Train series of different steps as separate models, or resample them "
						 "to one step (date_trunc or date_bin).")));
	}
	lo = keep > 0 ? Max(k_first, k_last - keep + 1) : k_first;
	ser->n = (int) (k_last - lo + 1);
	ser->last_k = k_last;

	/* positions, and the first missing step */
	check_each_gap = spec->missing == FC_MISSING_ERROR ||
		(d->time_kind == FC_TIME_TIMESTAMP && step->usecs > 0 && step->usecs < USECS_PER_DAY);
	expect = k_first;
	for (int i = 0; i < rows; i++)
	{
		int64		k;
		int64		t;

		(void) fc_calendar_index(d->time_kind, step, ser->anchor, times[i], &k);
		pos[i] = k >= lo ? (int) (k - lo) : -1;
		for (; expect < k; expect++)
		{
			if (expect < lo)
				continue;
			*gaps = true;
			if (!check_each_gap || !fc_time_at(d->time_kind, step, ser->anchor, expect, &t))
				continue;
			if (d->time_kind == FC_TIME_TIMESTAMP && step->usecs > 0 &&
				step->usecs < USECS_PER_DAY && fc_local_time_skipped(t))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s has no row at %s, a time that daylight saving time skips",
								fc_series_name(ser->key), time_text(d->time_kind, t)),
						 errdetail("Local timestamps skip that hour when daylight saving time "
								   "starts in time zone \"%s\".",
								   pg_get_timezone_name(session_timezone)),
						 errhint("Use a timestamptz column, which counts absolute hours "
								 "(e.g. ts AT TIME ZONE 'UTC' if the readings were taken in UTC).")));
			if (spec->missing == FC_MISSING_ERROR)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s has no row at %s", fc_series_name(ser->key),
								time_text(d->time_kind, t)),
						 errdetail("Its rows step every %s; steps without a row: " INT64_FORMAT
								   " of " INT64_FORMAT ".",
								   fc_step_text(d->time_kind, step), span - rows, span),
						 errhint("Pass missing => 'interpolate' to fill missing steps like "
								 "missing values, or fill them first with generate_series "
								 "and a LEFT JOIN.")));
		}
		expect = k + 1;
	}
}

/* The series of the parsed row, created on first sight. */
static ReadSeries *
find_series(Reader *r)
{
	const ParsedRow *row = &r->row;
	int			C = r->data->n_channels;
	uint32		h;
	int			i;
	ReadSeries *s;

	if (r->last && r->last->keylen == row->keylen &&
		memcmp(r->last->key, row->key, row->keylen) == 0)
		return r->last;
	if (2 * (r->n_series + 1) > r->cap_slots)
	{
		int			cap = r->cap_slots ? r->cap_slots * 2 : 1024;
		ReadSeries **slots = MemoryContextAllocZero(r->cxt, sizeof(ReadSeries *) * cap);

		for (int j = 0; j < r->cap_slots; j++)
			if (r->slots[j])
			{
				for (i = r->slots[j]->hash & (cap - 1); slots[i]; i = (i + 1) & (cap - 1))
					;
				slots[i] = r->slots[j];
			}
		if (r->slots)
			pfree(r->slots);
		r->slots = slots;
		r->cap_slots = cap;
	}
	h = hash_bytes((const unsigned char *) row->key, row->keylen);
	for (i = h & (r->cap_slots - 1); (s = r->slots[i]) != NULL; i = (i + 1) & (r->cap_slots - 1))
		if (s->hash == h && s->keylen == row->keylen && memcmp(s->key, row->key, row->keylen) == 0)
			return r->last = s;

	if (r->n_series == r->cap_series)
	{
		r->cap_series = r->cap_series ? r->cap_series * 2 : 256;
		r->by_id = r->by_id ? repalloc_huge(r->by_id, sizeof(ReadSeries *) * r->cap_series)
			: MemoryContextAllocHuge(r->cxt, sizeof(ReadSeries *) * r->cap_series);
	}
	s = MemoryContextAllocZero(r->cxt, sizeof(ReadSeries));
	s->key = MemoryContextAllocZero(r->cxt, row->keylen + 1);
	memcpy(s->key, row->key, row->keylen);
	s->keylen = row->keylen;
	s->hash = h;
	s->id = r->n_series;
	if (r->keep > 0)
	{
		s->time = MemoryContextAlloc(r->cxt, sizeof(int64) * r->keep);
		s->v = MemoryContextAlloc(r->cxt, sizeof(float) * r->keep * C);
		s->count = MemoryContextAllocZero(r->cxt, sizeof(double) * 3 * C);
		s->mean = s->count + C;
		s->m2 = s->count + 2 * C;
	}
	r->slots[i] = s;
	r->by_id[r->n_series++] = s;
	return r->last = s;
}

/* Check the columns of spec and build the query. */
static char *
build_query(const FcSpec *spec, FcData *data)
{
	StringInfoData q;
	char	   *rel = relation_name(spec->relid);

	/* check every column before running anything */
	data->time_kind = check_time(spec->relid, spec->time_column);
	check_numeric(spec->relid, spec->value_column, "value_column");
	if (spec->series_column)
		column_type(spec->relid, spec->series_column, "series_column");
	for (int i = 0; i < spec->n_features; i++)
		check_numeric(spec->relid, spec->feature_columns[i],
					  i >= spec->n_features - spec->n_future ? "future column" : "feature column");
	data->n_channels = 1 + spec->n_features;

	/* identifiers quoted, no user value is ever part of the SQL text */
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	if (spec->series_column)
		appendStringInfo(&q, "%s::text, ", quote_identifier(spec->series_column));
	appendStringInfo(&q, "%s%s, %s::float8", quote_identifier(spec->time_column),
					 data->time_kind == FC_TIME_INTEGER ? "::int8" : "",
					 quote_identifier(spec->value_column));
	for (int i = 0; i < spec->n_features; i++)
		appendStringInfo(&q, ", %s::float8", quote_identifier(spec->feature_columns[i]));
	appendStringInfo(&q, " FROM %s", rel);
	return q.data;
}

/*
 * Series keys are ordered as ORDER BY series_column::text would: in the
 * column's collation for text columns, the database's for the text of
 * other types.
 */
static Oid
key_collation(const FcSpec *spec)
{
	Oid			typid,
				collid = InvalidOid;
	int32		typmod;
	AttrNumber	attnum;

	if (spec->series_column == NULL)
		return DEFAULT_COLLATION_OID;
	attnum = get_attnum(spec->relid, spec->series_column);
	if (attnum != InvalidAttrNumber)
		get_atttypetypmodcoll(spec->relid, attnum, &typid, &typmod, &collid);
	return OidIsValid(collid) ? collid : DEFAULT_COLLATION_OID;
}

/*
 * Read spec's relation into data: check the columns, run the query through
 * a cursor and call each(r) on every parsed row.  keep > 0: fc_read_tail's
 * rows kept a series.
 */
static void
scan(Reader *r, const FcSpec *spec, FcData *data, int keep, void (*each) (Reader *r))
{
	SPIPlanPtr	plan;
	Portal		portal;
	const char *query;

	memset(data, 0, sizeof(FcData));
	memset(r, 0, sizeof(Reader));
	r->spec = spec;
	r->data = data;
	r->cxt = CurrentMemoryContext;
	r->keep = keep;
	query = build_query(spec, data);
	r->collation = key_collation(r->spec);
	r->row.v = MemoryContextAlloc(r->cxt, sizeof(float) * r->data->n_channels);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", query, SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			parse_row(r, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
			each(r);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

/* The series met, in key order. */
static int
cmp_series_key(const void *a, const void *b, void *arg)
{
	const ReadSeries *x = *(ReadSeries *const *) a;
	const ReadSeries *y = *(ReadSeries *const *) b;

	return varstr_cmp(x->key, x->keylen, y->key, y->keylen, *(Oid *) arg);
}

static ReadSeries **
series_in_key_order(Reader *r)
{
	ReadSeries **all = palloc(sizeof(ReadSeries *) * Max(r->n_series, 1));

	memcpy(all, r->by_id, sizeof(ReadSeries *) * r->n_series);
	qsort_arg(all, r->n_series, sizeof(ReadSeries *), cmp_series_key, &r->collation);
	return all;
}

/* Fill NaN runs of one channel of one series: linear inside, nearest at ends. */
static void
interpolate_channel(float *v, int n, int stride, const char *key, const char *column,
					bool tail)
{
	int			prev = -1;

	for (int i = 0; i <= n; i++)
	{
		if (i < n && isnan(v[(size_t) i * stride]))
			continue;
		/* points prev+1 .. i-1 are missing */
		if (i - prev > 1)
		{
			if (prev < 0 && i == n)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 tail ?
						 errmsg("column \"%s\" has no value in the last %d rows%s", column, n,
								in_series(key)) :
						 errmsg("column \"%s\" has no value at all%s", column, in_series(key)),
						 tail ? errdetail("Forecasting reads the last window_size rows of each series.") : 0));
			for (int k = prev + 1; k < i; k++)
			{
				float		val;

				if (prev < 0)
					val = v[(size_t) i * stride];
				else if (i == n)
					val = v[(size_t) prev * stride];
				else
				{
					float		a = v[(size_t) prev * stride],
								b = v[(size_t) i * stride];

					val = a + (b - a) * (float) (k - prev) / (float) (i - prev);
				}
				v[(size_t) k * stride] = val;
			}
		}
		prev = i;
	}
}

static void
interpolate_all(const FcSpec *spec, FcData *data, bool tail)
{
	for (int s = 0; s < data->n_series; s++)
		for (int c = 0; c < data->n_channels; c++)
			interpolate_channel(data->values + data->series[s].first * data->n_channels + c,
								data->series[s].n, data->n_channels, data->series[s].key,
								c == 0 ? spec->value_column : spec->feature_columns[c - 1],
								tail);
}

/*
 * fc_read: every row, appended as it comes as (time, series id, values),
 * then put in (series key, time) order.  While reading that is 12 + 4C
 * bytes a row, and 12 + 8C at the peak while reordering (a 4-byte
 * permutation and the ordered values, after the ids are dropped), counted
 * against rnn.max_train_memory; 4C bytes a row are kept.
 */
#define READ_HINT "Raise rnn.max_train_memory, or train on a view with fewer rows " \
	"(e.g. the most recent ones)."


static void
append_row(Reader *r)
{
	int			C = r->data->n_channels;
	ReadSeries *s = find_series(r);

	if (r->n_rows == r->cap_rows)
	{
		int64		cap = r->cap_rows ? r->cap_rows * 2 : 65536;

		if (cap > (int64) PG_UINT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("more than %u rows to read", PG_UINT32_MAX),
					 errhint("Train on a view with fewer rows.")));
		rnn_check_memory((Size) cap * (12 + 4 * (Size) C), "reading the rows", READ_HINT);
		if (r->time == NULL)
		{
			r->time = MemoryContextAllocHuge(r->cxt, sizeof(int64) * cap);
			r->sid = MemoryContextAllocHuge(r->cxt, sizeof(int32) * cap);
			r->vals = MemoryContextAllocHuge(r->cxt, sizeof(float) * cap * C);
		}
		else
		{
			r->time = repalloc_huge(r->time, sizeof(int64) * cap);
			r->sid = repalloc_huge(r->sid, sizeof(int32) * cap);
			r->vals = repalloc_huge(r->vals, sizeof(float) * cap * C);
		}
		r->cap_rows = cap;
	}
	r->time[r->n_rows] = r->row.t;
	r->sid[r->n_rows] = s->id;
	memcpy(r->vals + r->n_rows * C, r->row.v, sizeof(float) * C);
	r->n_rows++;
	s->rows++;
}

static int
cmp_row_time(const void *a, const void *b, void *arg)
{
	const int64 *time = arg;
	int64		x = time[*(const uint32 *) a],
				y = time[*(const uint32 *) b];

	return (x > y) - (x < y);
}

/*
 * Sort one series' n rows (indices idx into time) by time, one pass when they
 * came in order; their times go to sorted, in order, checked for duplicates.
 */
static void
sort_series_rows(const FcData *data, const FcSpec *spec, const char *key, uint32 *idx, int n,
				 const int64 *time, int64 *sorted)
{
	bool		in_order = true;

	for (int i = 1; i < n && in_order; i++)
		in_order = time[idx[i - 1]] <= time[idx[i]];
	if (!in_order)
		qsort_arg(idx, n, sizeof(uint32), cmp_row_time, (void *) time);
	for (int i = 0; i < n; i++)
	{
		sorted[i] = time[idx[i]];
		if (i > 0)
			check_pair(data, spec, key, sorted[i - 1], sorted[i]);
	}
}

/* The table's step: the model's, else one detected from every series' rows. */
static void
set_step(FcData *data, const FcSpec *spec, const int64 *times, const int64 *offsets)
{
	if (!fc_step_known(&spec->step))
	{
		fc_detect_step(data->time_kind, times, offsets, data->n_series, &data->step);
		return;
	}
	if ((spec->step_time_kind == FC_TIME_INTEGER) != (data->time_kind == FC_TIME_INTEGER))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("time column \"%s\" is of type %s, but the model was trained on %s times",
						spec->time_column, fc_time_kind_name(data->time_kind),
						fc_time_kind_name(spec->step_time_kind))));
	data->step = spec->step;
}

/*
 * Every point whose value is missing (a NULL value or a step without a row)
 * is marked in data->filled before interpolation: training leaves those
 * targets out of its loss.
 */
static void
mark_filled(FcData *data)
{
	int			C = data->n_channels;

	data->filled = palloc_extended(Max(data->n_points, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (size_t i = 0; i < data->n_points; i++)
		data->filled[i] = isnan(data->values[i * C]);
}

void
fc_read(const FcSpec *spec, FcData *data)
{
	Reader		r;
	ReadSeries **order;
	int			C;
	int		   *rank;
	int64	   *next,
			   *row_off,
			   *sorted;
	uint32	   *perm;
	int		   *pos;
	bool		any_gaps = false;
	size_t		points = 0;

	scan(&r, spec, data, 0, append_row);
	C = data->n_channels;
	if (r.n_rows > 0 && r.n_rows < r.cap_rows)
	{
		r.time = repalloc_huge(r.time, sizeof(int64) * r.n_rows);
		r.vals = repalloc_huge(r.vals, sizeof(float) * r.n_rows * C);
	}
	rnn_check_memory((Size) r.n_rows * (24 + 8 * (Size) C), "reading the rows", READ_HINT);

	/* series in key order; each one's rows in a slice of perm */
	order = series_in_key_order(&r);
	data->n_series = r.n_series;
	data->series = palloc0(sizeof(FcSeries) * Max(r.n_series, 1));
	rank = palloc(sizeof(int) * Max(r.n_series, 1));
	next = palloc(sizeof(int64) * Max(r.n_series, 1));
	row_off = palloc(sizeof(int64) * (r.n_series + 1));
	row_off[0] = 0;
	for (int s = 0; s < r.n_series; s++)
	{
		FcSeries   *ser = &data->series[s];

		rank[order[s]->id] = s;
		ser->key = order[s]->key;
		/* a series may fill up to twice its rows with missing steps */
		if (order[s]->rows > INT_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s has more than %d rows", fc_series_name(ser->key), INT_MAX / 2)));
		next[s] = row_off[s];
		row_off[s + 1] = row_off[s] + order[s]->rows;
	}
	perm = MemoryContextAllocHuge(r.cxt, sizeof(uint32) * Max(r.n_rows, 1));
	for (int64 i = 0; i < r.n_rows; i++)
		perm[next[rank[r.sid[i]]]++] = (uint32) i;	/* stable */
	if (r.sid)
		pfree(r.sid);

	/* each series by time: one pass when the rows came in order */
	sorted = MemoryContextAllocHuge(r.cxt, sizeof(int64) * Max(r.n_rows, 1));
	for (int s = 0; s < r.n_series; s++)
	{
		CHECK_FOR_INTERRUPTS();
		sort_series_rows(data, spec, data->series[s].key, perm + row_off[s],
						 (int) (row_off[s + 1] - row_off[s]), r.time, sorted + row_off[s]);
	}
	if (r.time)
		pfree(r.time);

	/* on the calendar: one point a step from each series' first row */
	set_step(data, spec, sorted, row_off);
	pos = MemoryContextAllocHuge(r.cxt, sizeof(int) * Max(r.n_rows, 1));
	for (int s = 0; s < r.n_series; s++)
	{
		FcSeries   *ser = &data->series[s];
		bool		gaps;

		CHECK_FOR_INTERRUPTS();
		ser->anchor = sorted[row_off[s]];
		place_series(data, spec, ser, sorted + row_off[s], (int) (row_off[s + 1] - row_off[s]),
					 0, pos + row_off[s], &gaps);
		ser->first = points;
		ser->n_train = ser->n;
		points += ser->n;
		any_gaps |= gaps;
	}
	pfree(sorted);
	rnn_check_memory((Size) points * 4 * C + (Size) r.n_rows * (8 + 4 * (Size) C),
					 "reading the rows", READ_HINT);

	data->values = MemoryContextAllocHuge(r.cxt, sizeof(float) * Max(points, 1) * C);
	if (any_gaps)
		for (size_t i = 0; i < points * C; i++)
			data->values[i] = NAN;
	for (int s = 0; s < r.n_series; s++)
	{
		const FcSeries *ser = &data->series[s];

		for (int64 i = row_off[s]; i < row_off[s + 1]; i++)
			memcpy(data->values + (ser->first + pos[i]) * C, r.vals + (size_t) perm[i] * C,
				   sizeof(float) * C);
	}
	data->n_points = points;
	data->n_rows = r.n_rows;
	if (r.vals)
		pfree(r.vals);
	pfree(perm);
	pfree(pos);

	if (r.has_missing || any_gaps)
	{
		mark_filled(data);
		interpolate_all(spec, data, false);
	}
}

/*
 * fc_read_tail: forecasting needs the last rows of each series, not its
 * history.  The scan keeps, per series, the newest `keep` rows in a ring
 * buffer sorted by time, plus running statistics of every row (for series
 * the model was not trained on).  Rows usually come in time order: then
 * each one overwrites the oldest, O(1); an older row is put in its place by
 * shifting.  Memory is `keep` rows a series however long the history;
 * spacing and duplicates are checked within the kept rows.
 */
static inline int
ring_at(const ReadSeries *s, int keep, int i)	/* i-th oldest kept row */
{
	int			p = s->head + i;

	return p < keep ? p : p - keep;
}

static inline void
ring_set(ReadSeries *s, int C, int p, int64 t, const float *v)
{
	s->time[p] = t;
	memcpy(s->v + (size_t) p * C, v, sizeof(float) * C);
}

/* a time seen twice at the window's edge: an error if still kept at the end */
static void
edge_duplicate(ReadSeries *s, int64 t)
{
	if (!s->has_dup || t > s->dup_time)
	{
		s->dup_time = t;
		s->has_dup = true;
	}
}

static void
keep_row(Reader *r)
{
	const ParsedRow *row = &r->row;
	int			C = r->data->n_channels;
	int			keep = r->keep;
	ReadSeries *s = find_series(r);
	int64		t = row->t;
	int			p;

	if (s->rows++ == 0 || t < s->first_time)
		s->first_time = t;
	for (int c = 0; c < C; c++)
		if (!isnan(row->v[c]))
		{
			double		x = row->v[c],
						dlt = x - s->mean[c];

			s->count[c] += 1.0;
			s->mean[c] += dlt / s->count[c];
			s->m2[c] += dlt * (x - s->mean[c]);
		}

	if (s->kept == 0 || t > s->time[ring_at(s, keep, s->kept - 1)])
	{
		/* the newest so far: append, or overwrite the oldest */
		if (s->kept < keep)
			ring_set(s, C, ring_at(s, keep, s->kept++), t, row->v);
		else
		{
			int64		dropped = s->time[s->head];

			ring_set(s, C, s->head, t, row->v);
			s->head = s->head + 1 < keep ? s->head + 1 : 0;
			/* the row that dropped out had the time of the new oldest */
			if (dropped == s->time[s->head])
				edge_duplicate(s, dropped);
		}
		return;
	}
	if (s->kept == keep && t <= s->time[s->head])
	{
		/* older than every kept row; equal is a duplicate at the edge */
		if (t == s->time[s->head])
			edge_duplicate(s, t);
		return;
	}
	/* in between: after the kept rows at or before t, shifting the newer */
	for (p = s->kept; p > 0 && s->time[ring_at(s, keep, p - 1)] > t; p--)
		;
	if (s->kept < keep)
	{
		for (int i = s->kept; i > p; i--)
		{
			int			from = ring_at(s, keep, i - 1);

			ring_set(s, C, ring_at(s, keep, i), s->time[from], s->v + (size_t) from * C);
		}
		ring_set(s, C, ring_at(s, keep, p), t, row->v);
		s->kept++;
	}
	else
	{
		/* full: the oldest drops out, rows 1 .. p-1 move down one */
		int64		dropped = s->time[s->head];

		for (int i = 0; i < p - 1; i++)
		{
			int			from = ring_at(s, keep, i + 1);

			ring_set(s, C, ring_at(s, keep, i), s->time[from], s->v + (size_t) from * C);
		}
		ring_set(s, C, ring_at(s, keep, p - 1), t, row->v);
		if (dropped == s->time[s->head])
			edge_duplicate(s, dropped);
	}
}

void
fc_read_tail(const FcSpec *spec, int keep, bool pad, FcData *data)
{
	Reader		r;
	ReadSeries **all;
	int			C;
	int64	   *times,
			   *offsets;
	int		   *pos;
	bool		any_gaps = false;

	scan(&r, spec, data, keep, keep_row);

	C = data->n_channels;
	all = series_in_key_order(&r);
	data->n_series = r.n_series;
	data->series = palloc0(sizeof(FcSeries) * Max(r.n_series, 1));
	data->stats_ready = true;

	/* the kept rows' times, in order (the ring is), checked for duplicates */
	times = palloc(sizeof(int64) * Max((size_t) r.n_series * keep, 1));
	offsets = palloc(sizeof(int64) * (r.n_series + 1));
	offsets[0] = 0;
	for (int j = 0; j < r.n_series; j++)
	{
		ReadSeries *rs = all[j];
		int64	   *t = times + offsets[j];

		for (int i = 0; i < rs->kept; i++)
		{
			t[i] = rs->time[ring_at(rs, keep, i)];
			if (i > 0)
				check_pair(data, spec, rs->key, t[i - 1], t[i]);
		}
		if (rs->has_dup && rs->kept > 0 && rs->dup_time >= t[0])
			check_not_duplicate(data, spec, rs->key, rs->dup_time, rs->dup_time);
		offsets[j + 1] = offsets[j] + rs->kept;
	}
	set_step(data, spec, times, offsets);

	/* each series' newest keep steps; with pad, right-aligned in a slot of keep */
	data->values = MemoryContextAllocHuge(r.cxt, sizeof(float) * Max((size_t) r.n_series * keep * C, 1));
	pos = palloc(sizeof(int) * keep);
	for (int j = 0; j < r.n_series; j++)
	{
		ReadSeries *rs = all[j];
		FcSeries   *s = &data->series[j];
		bool		gaps;

		s->key = rs->key;
		s->anchor = rs->first_time;
		place_series(data, spec, s, times + offsets[j], rs->kept, keep, pos, &gaps);
		s->n_train = s->n;
		s->first = pad ? (size_t) j * keep + (keep - s->n) : data->n_points;
		if (gaps)
			for (size_t i = 0; i < (size_t) s->n * C; i++)
				data->values[s->first * C + i] = NAN;
		any_gaps |= gaps;
		for (int i = 0; i < rs->kept; i++)
			if (pos[i] >= 0)
				memcpy(data->values + (s->first + pos[i]) * C,
					   rs->v + (size_t) ring_at(rs, keep, i) * C, sizeof(float) * C);
		data->n_points = pad ? (size_t) (j + 1) * keep : data->n_points + s->n;

		/* statistics over every row, as fc_compute_stats would give */
		s->mean = palloc(sizeof(double) * C);
		s->std = palloc(sizeof(double) * C);
		for (int c = 0; c < C; c++)
		{
			s->mean[c] = rs->mean[c];
			s->std[c] = fc_scale(rs->count[c] > 0 ? sqrt(rs->m2[c] / rs->count[c]) : 0.0,
								 rs->mean[c]);
		}
	}
	if (r.has_missing || any_gaps)
		interpolate_all(spec, data, true);

	/* a series of fewer steps: its oldest value repeated to its left */
	if (pad)
		for (int j = 0; j < r.n_series; j++)
		{
			FcSeries   *s = &data->series[j];
			size_t		slot = (size_t) j * keep;

			for (size_t p = slot; p < s->first; p++)
				memcpy(data->values + p * C, data->values + s->first * C, sizeof(float) * C);
			s->first = slot;
			s->n = s->n_train = keep;
		}
}

/* ---------------------------------------------------------------------------
 * Statistics
 */
void
fc_compute_stats(FcData *data)
{
	int			C = data->n_channels;

	for (int s = 0; s < data->n_series; s++)
	{
		FcSeries   *ser = &data->series[s];
		const float *v = data->values + ser->first * C;
		int			n = Max(ser->n_train, 1);

		ser->mean = palloc0(sizeof(double) * C);
		ser->std = palloc0(sizeof(double) * C);
		for (int c = 0; c < C; c++)
		{
			double		sum = 0.0,
						sq = 0.0,
						mean;

			if (data->first_calendar > 0 && c >= data->first_calendar)
			{
				ser->mean[c] = 0.0; /* calendar inputs: sin/cos as they are */
				ser->std[c] = 1.0;
				continue;
			}
			for (int i = 0; i < n; i++)
				sum += v[(size_t) i * C + c];
			mean = sum / n;
			for (int i = 0; i < n; i++)
			{
				double		dlt = v[(size_t) i * C + c] - mean;

				sq += dlt * dlt;
			}
			ser->mean[c] = mean;
			ser->std[c] = fc_scale(sqrt(sq / n), mean);
		}
	}
}

void
fc_apply_stats(FcData *data)
{
	int			C = data->n_channels;

	for (int s = 0; s < data->n_series; s++)
	{
		FcSeries   *ser = &data->series[s];
		float	   *v = data->values + ser->first * C;

		for (int i = 0; i < ser->n; i++)
			for (int c = 0; c < C; c++)
				v[(size_t) i * C + c] = (float) ((v[(size_t) i * C + c] - ser->mean[c]) / ser->std[c]);
	}
}

void
fc_log_values(FcData *data)
{
	int			C = data->n_channels;

	for (int s = 0; s < data->n_series; s++)
	{
		FcSeries   *ser = &data->series[s];
		float	   *v = data->values + ser->first * C;

		for (int i = 0; i < ser->n; i++)
		{
			float	   *p = v + (size_t) i * C;

			if (!(*p > 0.0f))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s has value %g; normalization 'level' needs positive values",
								fc_series_name(ser->key), (double) *p),
						 errdetail("A 'level' model works on the logarithms of the values."),
						 errhint("Use normalization => 'window' for data that can be zero or negative.")));
			*p = logf(*p);
		}
	}
}

void
fc_level_stats(FcData *data, int season)
{
	int			C = data->n_channels;

	for (int s = 0; s < data->n_series; s++)
	{
		FcSeries   *ser = &data->series[s];
		const float *v = data->values + ser->first * C;
		int			n = Max(ser->n_train, 1);
		int			lag = n > season ? season : 1;
		double		sum = 0.0;

		for (int i = lag; i < n; i++)
			sum += fabs((double) v[(size_t) i * C] - v[(size_t) (i - lag) * C]);
		ser->mean[0] = 0.0;
		ser->std[0] = n > lag ? sqrt(fc_scale(sum / (n - lag), 1.0)) : 1.0;
	}
}

/* ---------------------------------------------------------------------------
 * Windows
 */
/*
 * The reference a window's values are taken relative to, in network units:
 * 0, its last value, or the mean of its last season (the values of a
 * 'level' model are logarithms: the log of the season's geometric mean).
 */
static float
window_reference(const FcShape *shape, const float *v, int C)
{
	int			W = shape->window;

	switch (shape->norm)
	{
		case FC_NORM_WINDOW:
			return v[(size_t) (W - 1) * C];
		case FC_NORM_LEVEL:
			{
				int			S = Min(shape->season, W);
				double		sum = 0.0;

				for (int k = W - S; k < W; k++)
					sum += v[(size_t) k * C];
				return (float) (sum / S);
			}
		default:
			return 0.0f;
	}
}

void
fc_fill_window(const FcData *data, const FcSeries *s, int start, const FcShape *shape,
			   float *x, int ldx, float *skip, int skip_size, float *target, float *base)
{
	int			C = data->n_channels;
	int			W = shape->window;
	const float *v = data->values + (s->first + start) * C;
	float		ref = window_reference(shape, v, C);

	/*
	 * x row t is at t * ldx * I: packed time-major when ldx is the batch
	 * size.  A seasonal model's step t reads season points, so its row is
	 * the points t * season .. (t + 1) * season - 1, channels interleaved:
	 * the same values in the same order, cut into longer rows.
	 */
	if (x)
	{
		int			T = fc_steps(shape),
					P = fc_by_season(shape) ? shape->season : 1,	/* points a step */
					I = P * C;

		for (int t = 0; t < T; t++)
		{
			float	   *row = x + (size_t) t * ldx * I;
			const float *src = v + (size_t) (W - T * P + t * P) * C;

			for (int p = 0; p < P; p++)
			{
				row[p * C] = src[(size_t) p * C] - ref;
				for (int c = 1; c < C; c++)
					row[p * C + c] = src[(size_t) p * C + c];
			}
		}
	}
	if (skip)
	{
		int			nk = shape->n_known,
					lags = skip_size - shape->horizon * nk;

		for (int k = 0; k < lags; k++)
			skip[k] = v[(size_t) (W - lags + k) * C] - ref;
		/* then the future columns at each forecast step */
		for (int h = 0; h < shape->horizon && nk > 0; h++)
			fc_future_at(data, s, start + W + h, skip + lags + (size_t) h * nk);
	}
	for (int h = 0; h < shape->horizon; h++)
	{
		/* the seasonal-naive forecast repeats the window's last season */
		float		b = shape->seasonal ?
			v[(size_t) (W - shape->season + h % shape->season) * C] : ref;

		/* a filled value is no observation: NaN masks it out of the loss */
		if (target)
			target[h] = data->filled && data->filled[s->first + start + W + h] ?
				NAN : v[(size_t) (W + h) * C] - b;
		if (base)
			base[h] = b;
	}
}

void
fc_windows_init(FcWindows *w, const FcData *data, const FcShape *shape, FcWhich which)
{
	int			W = shape->window,
				Hz = shape->horizon;

	w->data = data;
	w->shape = *shape;
	w->cum = palloc(sizeof(int64) * (data->n_series + 1));
	w->first_start = palloc(sizeof(int) * Max(data->n_series, 1));
	w->cum[0] = 0;
	for (int s = 0; s < data->n_series; s++)
	{
		const FcSeries *ser = &data->series[s];
		int			lo,
					hi;			/* window starts, inclusive */

		switch (which)
		{
			case FC_WINDOWS_TRAIN:
				lo = 0;
				hi = ser->n_train - W - Hz;
				break;
			case FC_WINDOWS_VALID:
				lo = Max(ser->n_train - W, 0);
				hi = ser->n - W - Hz;
				break;
			default:
				lo = 0;
				hi = ser->n - W - Hz;
				break;
		}
		if (ser->left_out)
			hi = lo - 1;
		w->first_start[s] = lo;
		w->cum[s + 1] = w->cum[s] + Max(hi - lo + 1, 0);
	}
	w->count = w->cum[data->n_series];
}

void
fc_windows_locate(const FcWindows *w, int64 i, int *series, int *start)
{
	int			lo = 0,
				hi = w->data->n_series - 1;

	/* the series s with cum[s] <= i < cum[s + 1] */
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (w->cum[mid] <= i)
			lo = mid;
		else
			hi = mid - 1;
	}
	*series = lo;
	*start = w->first_start[lo] + (int) (i - w->cum[lo]);
}

/* The j-th of n windows spread evenly over all of w (j itself when n is all). */
int64
fc_windows_sample(const FcWindows *w, int64 n, int64 j)
{
	return n >= w->count ? j : (int64) ((double) j * w->count / n);
}

/* ---------------------------------------------------------------------------
 * Known-future columns for rnn.forecast (forecast_known.c)
 */
typedef struct KeyIndex
{
	const char *key;
	int			series;
} KeyIndex;

static int
cmp_key_index(const void *a, const void *b)
{
	return strcmp(((const KeyIndex *) a)->key, ((const KeyIndex *) b)->key);
}

/*
 * The future columns of spec at the `horizon` steps after each series' last
 * point, from relid: rows are matched by series and calendar step; other
 * rows (history, series not forecast, times past the horizon) are ignored.
 * Each step of each series needs exactly one row with finite values.  After
 * the series' statistics are set: the values are z-scored with them.
 */
void
fc_read_future(const FcSpec *spec, Oid relid, int horizon, FcData *data)
{
	int			nf = spec->n_future,
				f0 = spec->n_features - nf; /* first future column in feature_columns */
	char	   *rel = relation_name(relid);
	FcTimeKind	kind;
	StringInfoData q;
	KeyIndex   *idx;
	bool	   *seen;
	SPIPlanPtr	plan;
	Portal		portal;

	if (nf == 0)
		return;
	kind = check_time(relid, spec->time_column);
	if (kind != data->time_kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("time column \"%s\" of future relation %s is of type %s, not %s as in the rows forecast",
						spec->time_column, rel, fc_time_kind_name(kind),
						fc_time_kind_name(data->time_kind))));
	if (spec->series_column)
		column_type(relid, spec->series_column, "series_column");
	for (int i = 0; i < nf; i++)
		check_numeric(relid, spec->feature_columns[f0 + i], "future column");

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	if (spec->series_column)
		appendStringInfo(&q, "%s::text, ", quote_identifier(spec->series_column));
	appendStringInfo(&q, "%s%s", quote_identifier(spec->time_column),
					 kind == FC_TIME_INTEGER ? "::int8" : "");
	for (int i = 0; i < nf; i++)
		appendStringInfo(&q, ", %s::float8", quote_identifier(spec->feature_columns[f0 + i]));
	appendStringInfo(&q, " FROM %s", rel);

	idx = palloc(sizeof(KeyIndex) * Max(data->n_series, 1));
	for (int s = 0; s < data->n_series; s++)
	{
		idx[s].key = data->series[s].key;
		idx[s].series = s;
	}
	qsort(idx, data->n_series, sizeof(KeyIndex), cmp_key_index);
	data->future_horizon = horizon;
	data->future = palloc_extended(sizeof(float) * Max((size_t) data->n_series * horizon * nf, 1),
								   MCXT_ALLOC_HUGE);
	seen = palloc_extended(Max((size_t) data->n_series * horizon, 1),
						   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(q.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", q.data, SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			int			col = 1;
			bool		isnull;
			KeyIndex	probe,
					   *hit;
			const FcSeries *ser;
			Datum		tv;
			int64		t,
						k,
						j;

			probe.key = "";
			if (spec->series_column)
			{
				char	   *key = SPI_getvalue(tup, desc, col++);

				if (key == NULL)
					continue;	/* no series is forecast for it */
				probe.key = key;
			}
			hit = data->n_series > 0 ?
				bsearch(&probe, idx, data->n_series, sizeof(KeyIndex), cmp_key_index) : NULL;
			if (hit == NULL)
				continue;
			ser = &data->series[hit->series];
			tv = SPI_getbinval(tup, desc, col++, &isnull);
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("time column \"%s\" of future relation %s is NULL%s",
								spec->time_column, rel, in_series(ser->key))));
			t = kind == FC_TIME_DATE ?
				DatumGetTimestamp(DirectFunctionCall1(date_timestamp, tv)) : DatumGetInt64(tv);
			if (!fc_step_known(&data->step) ||
				(kind != FC_TIME_INTEGER && TIMESTAMP_NOT_FINITE(t)) ||
				!fc_calendar_index(kind, &data->step, ser->anchor, t, &k))
				continue;		/* not one of the series' steps */
			j = k - ser->last_k - 1;
			if (j < 0 || j >= horizon)
				continue;
			if (seen[(size_t) hit->series * horizon + j])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("future relation %s has two rows at time %s%s", rel,
								time_text(kind, t), in_series(ser->key))));
			seen[(size_t) hit->series * horizon + j] = true;
			for (int i = 0; i < nf; i++, col++)
			{
				const char *column = spec->feature_columns[f0 + i];
				Datum		v = SPI_getbinval(tup, desc, col, &isnull);
				double		x = isnull ? NAN : DatumGetFloat8(v);
				int			ch = 1 + f0 + i;

				if (!isfinite(x) || fabs(x) > FLT_MAX)
					ereport(ERROR,
							(errcode(isnull ? ERRCODE_NULL_VALUE_NOT_ALLOWED
									 : ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("future column \"%s\" is %s at time %s%s", column,
									isnull ? "NULL" : isnan(x) ? "NaN" : "infinite or out of range",
									time_text(kind, t), in_series(ser->key)),
							 errdetail("Future relation %s gives the known values of the "
									   "forecast steps; they cannot be missing.", rel)));
				data->future[((size_t) hit->series * horizon + j) * nf + i] =
					(float) (((double) (float) x - ser->mean[ch]) / ser->std[ch]);
			}
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();

	for (int s = 0; s < data->n_series; s++)
		for (int j = 0; j < horizon; j++)
			if (!seen[(size_t) s * horizon + j])
			{
				const FcSeries *ser = &data->series[s];
				int64		t;
				char	   *when;

				when = fc_step_known(&data->step) &&
					fc_time_at(kind, &data->step, ser->anchor, ser->last_k + j + 1, &t) ?
					time_text(kind, t) : psprintf("step %d", j + 1);
				ereport(ERROR,
						(errcode(ERRCODE_NO_DATA_FOUND),
						 errmsg("future relation %s has no row for %s at %s, step %d of the horizon",
								rel, fc_series_name(ser->key), when, j + 1),
						 errdetail("The model reads its future columns (%s%s) at every one of its "
								   "%d forecast steps, whatever horizon is asked for.",
								   spec->feature_columns[f0], nf > 1 ? ", ..." : "", horizon),
						 errhint("Add the rows of the planned values for the next %d steps of "
								 "each series.", horizon)));
			}
}
