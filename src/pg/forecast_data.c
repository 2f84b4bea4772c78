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
 *     either end takes the nearest value).
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
		case FC_TIME_TIMESTAMP:
		case FC_TIME_DATE:
			return DatumGetCString(DirectFunctionCall1(timestamp_out, Int64GetDatum(t)));
		case FC_TIME_TIMESTAMPTZ:
			return DatumGetCString(DirectFunctionCall1(timestamptz_out, Int64GetDatum(t)));
		case FC_TIME_INTEGER:
			break;
	}
	return psprintf(INT64_FORMAT, t);
}

static char *
step_text(FcTimeKind kind, int64 step)
{
	if (kind == FC_TIME_INTEGER)
		return psprintf(INT64_FORMAT, step);
	if (step % USECS_PER_DAY == 0)
		return psprintf(INT64_FORMAT " day(s)", step / USECS_PER_DAY);
	if (step % USECS_PER_HOUR == 0)
		return psprintf(INT64_FORMAT " hour(s)", step / USECS_PER_HOUR);
	if (step % USECS_PER_MINUTE == 0)
		return psprintf(INT64_FORMAT " minute(s)", step / USECS_PER_MINUTE);
	return psprintf("%.6f second(s)", step / 1e6);
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
 * Both readers run one query through an SPI cursor and parse each row with
 * parse_row, which checks NULL keys and times, infinite times and values and
 * converts everything to int64/float without allocating: the series key is
 * compared in place in the tuple, and copied only when a series starts.
 * (SPI_getvalue would palloc a copy of the key for every row, and those
 * copies live until SPI_finish: ~300 MB over 10M rows.)
 */

/* One row of the query, parsed.  key points into the tuple. */
typedef struct ParsedRow
{
	const char *key;			/* not NUL-terminated; "" for one series */
	int			keylen;
	int64		t;
	float	   *v;				/* (n_channels), NaN = missing */
} ParsedRow;

typedef struct Reader
{
	const FcSpec *spec;
	FcData	   *data;
	MemoryContext cxt;			/* where data lives (outside SPI) */
	bool		has_missing;
	ParsedRow	row;
	/* fc_read: the series being read and its previous time */
	size_t		cap_points;
	int			cap_series;
	FcSeries   *cur;
	int			cur_keylen;
	int64		prev_time;
	/* fc_read_tail: the newest rows of every series */
	struct Tail *tail;
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
		/* the ::text of the query is a plain in-line value: no copy */
		kt = (text *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(k));
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
 * Time t follows prev in series key: a duplicate, or a spacing other than
 * the series' *step (set by its first pair), is an error.
 */
static void
check_spacing(const FcData *d, const FcSpec *spec, const char *key, int64 prev, int64 t,
			  int64 *step)
{
	int64		diff;

	if (pg_sub_s64_overflow(t, prev, &diff))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rows are not evenly spaced%s: %s follows %s",
						in_series(key), time_text(d->time_kind, t),
						time_text(d->time_kind, prev)),
				 errdetail("The two times are further apart than a 64-bit integer can count.")));
	if (diff <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("two rows at time %s%s", time_text(d->time_kind, t), in_series(key)),
				 errhint("Aggregate duplicates first, e.g. GROUP BY %s with avg(%s).",
						 quote_identifier(spec->time_column),
						 quote_identifier(spec->value_column))));
	if (*step == 0)
		*step = diff;
	else if (diff != *step)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rows are not evenly spaced%s: %s follows %s after %s, "
						"but the earlier rows are %s apart",
						in_series(key), time_text(d->time_kind, t),
						time_text(d->time_kind, prev),
						step_text(d->time_kind, diff),
						step_text(d->time_kind, *step)),
				 errhint("Fill gaps with generate_series and a LEFT JOIN "
						 "(missing values can then be interpolated with "
						 "missing => 'interpolate'), or resample with date_bin.")));
}

static void
grow_points(Reader *r)
{
	FcData	   *d = r->data;

	if (d->n_points < r->cap_points)
		return;
	r->cap_points = r->cap_points ? r->cap_points * 2 : 4096;
	if (d->values == NULL)
		d->values = MemoryContextAllocHuge(r->cxt, sizeof(float) * r->cap_points * d->n_channels);
	else
		d->values = repalloc_huge(d->values, sizeof(float) * r->cap_points * d->n_channels);
}

static FcSeries *
start_series(Reader *r)
{
	FcData	   *d = r->data;
	FcSeries   *s;

	if (d->n_series == r->cap_series)
	{
		r->cap_series = r->cap_series ? r->cap_series * 2 : 16;
		if (d->series == NULL)
			d->series = MemoryContextAllocHuge(r->cxt, sizeof(FcSeries) * r->cap_series);
		else
			d->series = repalloc_huge(d->series, sizeof(FcSeries) * r->cap_series);
	}
	s = &d->series[d->n_series++];
	memset(s, 0, sizeof(FcSeries));
	s->key = MemoryContextAllocZero(r->cxt, r->row.keylen + 1);
	memcpy(s->key, r->row.key, r->row.keylen);
	s->first = d->n_points;
	r->cur_keylen = r->row.keylen;
	return s;
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

/* Check the columns of spec and build the query; ordered: by series, time. */
static char *
build_query(const FcSpec *spec, FcData *data, bool ordered)
{
	StringInfoData q;
	char	   *rel = relation_name(spec->relid);

	/* check every column before running anything */
	data->time_kind = check_time(spec->relid, spec->time_column);
	check_numeric(spec->relid, spec->value_column, "value_column");
	if (spec->series_column)
		column_type(spec->relid, spec->series_column, "series_column");
	for (int i = 0; i < spec->n_features; i++)
		check_numeric(spec->relid, spec->feature_columns[i], "feature column");
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
	/* NULL keys and times first, so they get their own error, not a gap's */
	if (ordered)
	{
		appendStringInfo(&q, " ORDER BY ");
		if (spec->series_column)
			appendStringInfo(&q, "1 NULLS FIRST, ");
		appendStringInfo(&q, "%d NULLS FIRST", spec->series_column ? 2 : 1);
	}
	return q.data;
}

/* Run query through a cursor, calling each(r) on every parsed row. */
static void
scan(Reader *r, const char *query, void (*each) (Reader *r))
{
	SPIPlanPtr	plan;
	Portal		portal;

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

/* fc_read: rows arrive ordered by (series, time); append them. */
static void
append_row(Reader *r)
{
	FcData	   *d = r->data;
	const ParsedRow *row = &r->row;

	if (r->cur == NULL || r->cur_keylen != row->keylen ||
		memcmp(r->cur->key, row->key, row->keylen) != 0)
		r->cur = start_series(r);
	else
		check_spacing(d, r->spec, r->cur->key, r->prev_time, row->t, &r->cur->step);
	r->prev_time = row->t;
	r->cur->last_time = row->t;
	r->cur->n++;
	grow_points(r);
	memcpy(d->values + d->n_points * d->n_channels, row->v, sizeof(float) * d->n_channels);
	d->n_points++;
}

void
fc_read(const FcSpec *spec, FcData *data)
{
	Reader		r;

	memset(data, 0, sizeof(FcData));
	memset(&r, 0, sizeof(Reader));
	r.spec = spec;
	r.data = data;
	r.cxt = CurrentMemoryContext;
	scan(&r, build_query(spec, data, true), append_row);

	if (r.has_missing)
		interpolate_all(spec, data, false);
	for (int s = 0; s < data->n_series; s++)
		data->series[s].n_train = data->series[s].n;
}

/*
 * fc_read_tail: forecasting needs the last rows of each series, not its
 * history.  One scan without ORDER BY (no sort of the whole table) keeps,
 * per series, the newest `keep` rows in a min-heap on time, plus running
 * statistics of every row (for series the model was not trained on).
 * Memory is `keep` rows a series however long the history; spacing and
 * duplicates are checked within the kept rows only.
 */
typedef struct TailSeries
{
	char	   *key;
	int			keylen;
	uint32		hash;
	int64		rows;			/* rows seen */
	int			kept;			/* rows in the heap, <= keep */
	int64	   *time;			/* (keep) min-heap on time */
	float	   *v;				/* (keep, C), moved along with time */
	int64		dup_time;		/* a time seen twice at the heap's edge */
	bool		has_dup;
	double	   *count;			/* (C) Welford over the non-missing values */
	double	   *mean;
	double	   *m2;
} TailSeries;

typedef struct Tail
{
	int			keep;
	int			cap;			/* hash slots, a power of 2 */
	int			n;
	TailSeries **slots;			/* open addressing, linear probing */
	TailSeries *last;			/* clustered tables repeat the previous key */
} Tail;

static TailSeries *
tail_find(Reader *r, Tail *tail)
{
	const ParsedRow *row = &r->row;
	int			C = r->data->n_channels;
	uint32		h;
	int			i;
	TailSeries *s;

	if (tail->last && tail->last->keylen == row->keylen &&
		memcmp(tail->last->key, row->key, row->keylen) == 0)
		return tail->last;
	if (2 * (tail->n + 1) > tail->cap)
	{
		int			cap = tail->cap ? tail->cap * 2 : 1024;
		TailSeries **slots = MemoryContextAllocZero(r->cxt, sizeof(TailSeries *) * cap);

		for (int j = 0; j < tail->cap; j++)
			if (tail->slots[j])
			{
				for (i = tail->slots[j]->hash & (cap - 1); slots[i]; i = (i + 1) & (cap - 1))
					;
				slots[i] = tail->slots[j];
			}
		if (tail->slots)
			pfree(tail->slots);
		tail->slots = slots;
		tail->cap = cap;
	}
	h = hash_bytes((const unsigned char *) row->key, row->keylen);
	for (i = h & (tail->cap - 1); (s = tail->slots[i]) != NULL; i = (i + 1) & (tail->cap - 1))
		if (s->hash == h && s->keylen == row->keylen && memcmp(s->key, row->key, row->keylen) == 0)
			return tail->last = s;

	s = MemoryContextAllocZero(r->cxt, sizeof(TailSeries));
	s->key = MemoryContextAllocZero(r->cxt, row->keylen + 1);
	memcpy(s->key, row->key, row->keylen);
	s->keylen = row->keylen;
	s->hash = h;
	s->time = MemoryContextAlloc(r->cxt, sizeof(int64) * tail->keep);
	s->v = MemoryContextAlloc(r->cxt, sizeof(float) * tail->keep * C);
	s->count = MemoryContextAllocZero(r->cxt, sizeof(double) * 3 * C);
	s->mean = s->count + C;
	s->m2 = s->count + 2 * C;
	tail->slots[i] = s;
	tail->n++;
	return tail->last = s;
}

static void
heap_set(TailSeries *s, int C, int i, int64 t, const float *v)
{
	s->time[i] = t;
	memcpy(s->v + (size_t) i * C, v, sizeof(float) * C);
}

static void
keep_row(Reader *r)
{
	Tail	   *tail = r->tail;
	const ParsedRow *row = &r->row;
	int			C = r->data->n_channels;
	TailSeries *s = tail_find(r, tail);
	int64		t = row->t;
	int			i;

	s->rows++;
	for (int c = 0; c < C; c++)
		if (!isnan(row->v[c]))
		{
			double		x = row->v[c],
						dlt = x - s->mean[c];

			s->count[c] += 1.0;
			s->mean[c] += dlt / s->count[c];
			s->m2[c] += dlt * (x - s->mean[c]);
		}

	if (s->kept < tail->keep)
	{
		/* sift up */
		for (i = s->kept++; i > 0 && s->time[(i - 1) / 2] > t; i = (i - 1) / 2)
			heap_set(s, C, i, s->time[(i - 1) / 2], s->v + (size_t) ((i - 1) / 2) * C);
		heap_set(s, C, i, t, row->v);
		return;
	}
	if (t <= s->time[0])
	{
		/* older than every kept row; equal is a duplicate at the edge,
		 * an error if that time is still kept at the end */
		if (t == s->time[0] && (!s->has_dup || t > s->dup_time))
		{
			s->dup_time = t;
			s->has_dup = true;
		}
		return;
	}
	/* replace the oldest: sift down */
	for (i = 0;;)
	{
		int			k = 2 * i + 1;

		if (k >= s->kept)
			break;
		if (k + 1 < s->kept && s->time[k + 1] < s->time[k])
			k++;
		if (s->time[k] >= t)
			break;
		heap_set(s, C, i, s->time[k], s->v + (size_t) k * C);
		i = k;
	}
	heap_set(s, C, i, t, row->v);
}

static int
cmp_tail_key(const void *a, const void *b)
{
	const TailSeries *x = *(TailSeries *const *) a;
	const TailSeries *y = *(TailSeries *const *) b;

	return varstr_cmp(x->key, x->keylen, y->key, y->keylen, DEFAULT_COLLATION_OID);
}

static int
cmp_time_index(const void *a, const void *b, void *arg)
{
	const int64 *time = arg;
	int64		x = time[*(const int *) a],
				y = time[*(const int *) b];

	return (x > y) - (x < y);
}

void
fc_read_tail(const FcSpec *spec, int keep, FcData *data)
{
	Reader		r;
	Tail		tail;
	TailSeries **all;
	int			C,
				k;
	int		   *order;

	memset(data, 0, sizeof(FcData));
	memset(&r, 0, sizeof(Reader));
	memset(&tail, 0, sizeof(Tail));
	r.spec = spec;
	r.data = data;
	r.cxt = CurrentMemoryContext;
	tail.keep = keep;
	r.tail = &tail;
	scan(&r, build_query(spec, data, false), keep_row);

	/* series in key order, as fc_read returns them */
	C = data->n_channels;
	all = palloc(sizeof(TailSeries *) * Max(tail.n, 1));
	k = 0;
	for (int j = 0; j < tail.cap; j++)
		if (tail.slots[j])
			all[k++] = tail.slots[j];
	qsort(all, tail.n, sizeof(TailSeries *), cmp_tail_key);

	data->n_series = tail.n;
	data->series = palloc0(sizeof(FcSeries) * Max(tail.n, 1));
	data->values = MemoryContextAllocHuge(r.cxt, sizeof(float) * Max((size_t) tail.n * keep * C, 1));
	data->stats_ready = true;
	order = palloc(sizeof(int) * keep);
	for (int j = 0; j < tail.n; j++)
	{
		TailSeries *ts = all[j];
		FcSeries   *s = &data->series[j];

		s->key = ts->key;
		s->n = s->n_train = ts->kept;
		s->first = data->n_points;
		for (int i = 0; i < ts->kept; i++)
			order[i] = i;
		qsort_arg(order, ts->kept, sizeof(int), cmp_time_index, ts->time);
		for (int i = 0; i < ts->kept; i++)
		{
			int64		t = ts->time[order[i]];

			if (i > 0)
				check_spacing(data, spec, s->key, s->last_time, t, &s->step);
			s->last_time = t;
			memcpy(data->values + (data->n_points + i) * C, ts->v + (size_t) order[i] * C,
				   sizeof(float) * C);
		}
		if (ts->has_dup && ts->kept > 0 && ts->dup_time >= ts->time[order[0]])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("two rows at time %s%s", time_text(data->time_kind, ts->dup_time),
							in_series(s->key)),
					 errhint("Aggregate duplicates first, e.g. GROUP BY %s with avg(%s).",
							 quote_identifier(spec->time_column),
							 quote_identifier(spec->value_column))));
		data->n_points += ts->kept;

		/* statistics over every row, as fc_compute_stats would give */
		s->mean = palloc(sizeof(double) * C);
		s->std = palloc(sizeof(double) * C);
		for (int c = 0; c < C; c++)
		{
			double		sd = ts->count[c] > 0 ? sqrt(ts->m2[c] / ts->count[c]) : 0.0;

			s->mean[c] = ts->mean[c];
			s->std[c] = sd > 1e-8 * Max(1.0, fabs(ts->mean[c])) ? sd : 1.0;
		}
	}
	if (r.has_missing)
		interpolate_all(spec, data, true);
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

			for (int i = 0; i < n; i++)
				sum += v[(size_t) i * C + c];
			mean = sum / n;
			for (int i = 0; i < n; i++)
			{
				double		dlt = v[(size_t) i * C + c] - mean;

				sq += dlt * dlt;
			}
			ser->mean[c] = mean;
			/* a constant channel carries no scale: leave it unscaled */
			ser->std[c] = sqrt(sq / n) > 1e-8 * Max(1.0, fabs(mean)) ? sqrt(sq / n) : 1.0;
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

/* ---------------------------------------------------------------------------
 * Windows
 */
void
fc_fill_window(const FcData *data, const FcSeries *s, int start, const FcShape *shape,
			   float *x, int ldx, float *skip, int skip_size, float *target, float *last)
{
	int			C = data->n_channels;
	const float *v = data->values + (s->first + start) * C;
	float		base = shape->window_norm ? v[(size_t) (shape->window - 1) * C] : 0.0f;

	*last = v[(size_t) (shape->window - 1) * C];
	/* x row t is at t * ldx * C: packed time-major when ldx is the batch size */
	if (x)
		for (int t = 0; t < shape->window; t++)
		{
			float	   *row = x + (size_t) t * ldx * C;

			row[0] = v[(size_t) t * C] - base;
			for (int c = 1; c < C; c++)
				row[c] = v[(size_t) t * C + c];
		}
	if (skip)
		for (int k = 0; k < skip_size; k++)
			skip[k] = v[(size_t) (shape->window - skip_size + k) * C] - base;
	if (target)
		for (int h = 0; h < shape->horizon; h++)
			target[h] = v[(size_t) (shape->window + h) * C] - base;
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
