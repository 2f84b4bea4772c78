/*
 * forecast_data.c -- reading series from a table, checking them, and cutting
 * windows.
 *
 * Rows are read through an SPI cursor in batches of FETCH_ROWS, with the
 * caller's privileges (a role without SELECT on the table gets "permission
 * denied", not data), and packed into one float array: memory is
 * 4 * (1 + features) bytes a row, never one palloc per row.
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
#include "common/int.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

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
 */
typedef struct Reader
{
	const FcSpec *spec;
	FcData	   *data;
	MemoryContext cxt;			/* where data lives (outside SPI) */
	size_t		cap_points;
	int			cap_series;
	FcSeries   *cur;
	int64		prev_time;
	bool		has_missing;
} Reader;

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
start_series(Reader *r, const char *key)
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
	s->key = MemoryContextStrdup(r->cxt, key);
	s->first = d->n_points;
	return s;
}

/* Fill NaN runs of one channel of one series: linear inside, nearest at ends. */
static void
interpolate_channel(float *v, int n, int stride, const char *key, const char *column)
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
						 errmsg("column \"%s\" has no value at all%s", column, in_series(key))));
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
read_row(Reader *r, HeapTuple tup, TupleDesc desc)
{
	const FcSpec *spec = r->spec;
	FcData	   *d = r->data;
	int			col = 1;
	bool		isnull;
	const char *key = "";
	int64		t;
	Datum		tv;

	if (spec->series_column)
	{
		char	   *k = SPI_getvalue(tup, desc, col++);

		if (k == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("series column \"%s\" is NULL in some rows", spec->series_column),
					 errhint("Filter them out, e.g. with a view WHERE %s IS NOT NULL.",
							 quote_identifier(spec->series_column))));
		key = k;
	}
	tv = SPI_getbinval(tup, desc, col++, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("time column \"%s\" is NULL%s", spec->time_column, in_series(key))));
	switch (d->time_kind)
	{
		case FC_TIME_DATE:
			/* errors for dates beyond the timestamp range */
			t = DatumGetTimestamp(DirectFunctionCall1(date_timestamp, tv));
			break;
		default:
			t = DatumGetInt64(tv);
			break;
	}
	if (d->time_kind != FC_TIME_INTEGER && TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time column \"%s\" is %s%s", spec->time_column,
						TIMESTAMP_IS_NOBEGIN(t) ? "-infinity" : "infinity", in_series(key)),
				 errhint("Filter out rows with infinite times.")));

	if (r->cur == NULL || strcmp(r->cur->key, key) != 0)
		r->cur = start_series(r, key);
	else
	{
		int64		diff;

		if (pg_sub_s64_overflow(t, r->prev_time, &diff))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rows are not evenly spaced%s: %s follows %s",
							in_series(key), time_text(d->time_kind, t),
							time_text(d->time_kind, r->prev_time)),
					 errdetail("The two times are further apart than a 64-bit integer can count.")));
		if (diff <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("two rows at time %s%s", time_text(d->time_kind, t), in_series(key)),
					 errhint("Aggregate duplicates first, e.g. GROUP BY %s with avg(%s).",
							 quote_identifier(spec->time_column),
							 quote_identifier(spec->value_column))));
		if (r->cur->step == 0)
			r->cur->step = diff;
		else if (diff != r->cur->step)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rows are not evenly spaced%s: %s follows %s after %s, "
							"but the earlier rows are %s apart",
							in_series(key), time_text(d->time_kind, t),
							time_text(d->time_kind, r->prev_time),
							step_text(d->time_kind, diff),
							step_text(d->time_kind, r->cur->step)),
					 errhint("Fill gaps with generate_series and a LEFT JOIN "
							 "(missing values can then be interpolated with "
							 "missing => 'interpolate'), or resample with date_bin.")));
	}
	r->prev_time = t;
	r->cur->last_time = t;
	r->cur->n++;

	grow_points(r);
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
								time_text(d->time_kind, t), in_series(key)),
						 isnull || isnan(x) ?
						 errhint("Pass missing => 'interpolate' to fill missing values "
								 "linearly, or filter the rows out.") : 0));
			x = NAN;
			r->has_missing = true;
		}
		d->values[d->n_points * d->n_channels + c] = (float) x;
	}
	d->n_points++;
}

void
fc_read(const FcSpec *spec, FcData *data)
{
	StringInfoData q;
	Reader		r;
	SPIPlanPtr	plan;
	Portal		portal;
	char	   *rel = relation_name(spec->relid);

	memset(data, 0, sizeof(FcData));
	memset(&r, 0, sizeof(Reader));
	r.spec = spec;
	r.data = data;
	r.cxt = CurrentMemoryContext;

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
	/* NULL keys and times first, so they get their own error, not a gap's */
	appendStringInfo(&q, " FROM %s ORDER BY ", rel);
	if (spec->series_column)
		appendStringInfo(&q, "1 NULLS FIRST, ");
	appendStringInfo(&q, "%d NULLS FIRST", spec->series_column ? 2 : 1);

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
		for (uint64 i = 0; i < SPI_processed; i++)
			read_row(&r, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();

	if (r.has_missing)
		for (int s = 0; s < data->n_series; s++)
			for (int c = 0; c < data->n_channels; c++)
				interpolate_channel(data->values + data->series[s].first * data->n_channels + c,
									data->series[s].n, data->n_channels, data->series[s].key,
									c == 0 ? spec->value_column : spec->feature_columns[c - 1]);
	for (int s = 0; s < data->n_series; s++)
		data->series[s].n_train = data->series[s].n;
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
