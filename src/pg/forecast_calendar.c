/*
 * forecast_calendar.c -- calendar time: a series' step as a PostgreSQL
 * interval, and the position of each time on it.
 *
 * A series is regular when every time equals its first time plus k steps in
 * PostgreSQL's calendar arithmetic, as `first + k * interval '1 month'`
 * computes it: month starts are regular though months differ in length, and
 * month ends (Jan 31, Feb 29, Mar 31) are too, since the k-th time is
 * computed from the first, not from the previous one.
 *
 * Steps are detected from the data, one for all series of a table:
 *   - a constant spacing under 28 days: that many microseconds (minutes,
 *     hours, days, weeks); a timestamptz keeps absolute hours across DST;
 *   - else, when every time is a whole number of months after its series'
 *     first: the greatest common divisor of those months (1 monthly,
 *     3 quarterly, 12 yearly);
 *   - else, for timestamptz, when every time is at its series' first time of
 *     day in the session's time zone: local days (a daily series of local
 *     midnights stays daily across DST);
 *   - else the greatest common divisor of all spacings.
 * A series whose rows leave more than half of its steps empty does not fit
 * the table's step (mixed steps, or irregular times): an error.
 *
 * Local timestamps have no time zone: an hourly series recorded on a wall
 * clock skips an hour when DST starts and repeats one when it ends.  When the
 * skipped or repeated hour is a DST change in the session's time zone the
 * error says to use timestamptz.
 */
#include "postgres.h"

#include "common/int.h"
#include "datatype/timestamp.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "forecast.h"

/* ---------------------------------------------------------------------------
 * Text
 */
static char *
plural(int64 n, const char *unit)
{
	return n == 1 ? psprintf("1 %s", unit) : psprintf(INT64_FORMAT " %ss", n, unit);
}

char *
fc_step_text(FcTimeKind kind, const FcStep *step)
{
	int64		u = step->usecs;

	if (kind == FC_TIME_INTEGER)
		return psprintf(INT64_FORMAT, u);
	if (step->months)
	{
		if (step->months % 12 == 0)
			return plural(step->months / 12, "year");
		if (step->months % 3 == 0)
			return plural(step->months / 3, "quarter");
		return plural(step->months, "month");
	}
	if (step->days)
		return step->days % 7 == 0 ? plural(step->days / 7, "week") : plural(step->days, "day");
	if (u == 0)
		return pstrdup("unknown");
	if (u % (7 * USECS_PER_DAY) == 0)
		return plural(u / (7 * USECS_PER_DAY), "week");
	if (u % USECS_PER_DAY == 0)
		return plural(u / USECS_PER_DAY, "day");
	if (u % USECS_PER_HOUR == 0)
		return plural(u / USECS_PER_HOUR, "hour");
	if (u % USECS_PER_MINUTE == 0)
		return plural(u / USECS_PER_MINUTE, "minute");
	if (u % USECS_PER_SEC == 0)
		return plural(u / USECS_PER_SEC, "second");
	return psprintf("%.6f seconds", u / 1e6);
}

/* ---------------------------------------------------------------------------
 * Calendar arithmetic
 */
static void
broken_down(FcTimeKind kind, int64 t, struct pg_tm *tm, fsec_t *fsec)
{
	int			tz;

	if (timestamp2tm(t, kind == FC_TIME_TIMESTAMPTZ ? &tz : NULL, tm, fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
}

/* anchor + k * step; false when out of range */
bool
fc_time_at(FcTimeKind kind, const FcStep *step, int64 anchor, int64 k, int64 *t)
{
	Interval	iv;
	int64		months,
				days,
				shift;

	if (step->months == 0 && step->days == 0)
	{
		if (pg_mul_s64_overflow(k, step->usecs, &shift) || pg_add_s64_overflow(anchor, shift, t))
			return false;
		return kind == FC_TIME_INTEGER || IS_VALID_TIMESTAMP(*t);
	}
	months = k * step->months;
	days = k * step->days;
	/* past the timestamp range in any case: keep tm_mon and julian in int */
	if (Abs(months) > 12 * 300000 || Abs(days) > 366 * 300000)
		return false;
	iv.month = (int32) months;
	iv.day = (int32) days;
	iv.time = 0;
	/* calendar arithmetic in C: PostgreSQL's own errors are not wanted here */
	{
		struct pg_tm tm;
		fsec_t		fsec;
		int			tz;

		broken_down(kind, anchor, &tm, &fsec);
		if (iv.month)
		{
			tm.tm_mon += iv.month;
			if (tm.tm_mon > MONTHS_PER_YEAR)
			{
				tm.tm_year += (tm.tm_mon - 1) / MONTHS_PER_YEAR;
				tm.tm_mon = ((tm.tm_mon - 1) % MONTHS_PER_YEAR) + 1;
			}
			else if (tm.tm_mon < 1)
			{
				tm.tm_year += tm.tm_mon / MONTHS_PER_YEAR - 1;
				tm.tm_mon = tm.tm_mon % MONTHS_PER_YEAR + MONTHS_PER_YEAR;
			}
			/* the last day of a shorter month, as PostgreSQL does */
			if (tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1])
				tm.tm_mday = day_tab[isleap(tm.tm_year)][tm.tm_mon - 1];
		}
		if (iv.day)
		{
			int			julian = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) + iv.day;

			j2date(julian, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
		}
		if (tm.tm_year < -4713 || tm.tm_year > 294276)
			return false;
		if (kind == FC_TIME_TIMESTAMPTZ)
		{
			tz = DetermineTimeZoneOffset(&tm, session_timezone);
			if (tm2timestamp(&tm, fsec, &tz, t) != 0)
				return false;
		}
		else if (tm2timestamp(&tm, fsec, NULL, t) != 0)
			return false;
	}
	return IS_VALID_TIMESTAMP(*t);
}

/* Calendar months or local days from anchor to t, before any step. */
static int64
months_between(FcTimeKind kind, int64 anchor, int64 t)
{
	struct pg_tm a,
				b;
	fsec_t		fa,
				fb;

	broken_down(kind, anchor, &a, &fa);
	broken_down(kind, t, &b, &fb);
	return ((int64) b.tm_year * 12 + b.tm_mon) - ((int64) a.tm_year * 12 + a.tm_mon);
}

static int64
days_between(FcTimeKind kind, int64 anchor, int64 t)
{
	struct pg_tm a,
				b;
	fsec_t		fa,
				fb;

	broken_down(kind, anchor, &a, &fa);
	broken_down(kind, t, &b, &fb);
	return (int64) date2j(b.tm_year, b.tm_mon, b.tm_mday) - date2j(a.tm_year, a.tm_mon, a.tm_mday);
}

bool
fc_calendar_index(FcTimeKind kind, const FcStep *step, int64 anchor, int64 t, int64 *k)
{
	int64		units,
				back;

	if (step->months == 0 && step->days == 0)
	{
		if (step->usecs <= 0 || pg_sub_s64_overflow(t, anchor, &units) || units % step->usecs != 0)
			return false;
		*k = units / step->usecs;
		return true;
	}
	if (step->months)
	{
		units = months_between(kind, anchor, t);
		if (units % step->months != 0)
			return false;
		*k = units / step->months;
	}
	else
	{
		units = days_between(kind, anchor, t);
		if (units % step->days != 0)
			return false;
		*k = units / step->days;
	}
	/* the same month or day is not enough: the same time of it */
	return fc_time_at(kind, step, anchor, *k, &back) && back == t;
}

/* ---------------------------------------------------------------------------
 * Detection
 */
static int64
gcd64(int64 a, int64 b)
{
	while (b != 0)
	{
		int64		r = a % b;

		a = b;
		b = r;
	}
	return a;
}

/*
 * Do all rows sit on a whole number of calendar units (months when months,
 * else local days) after their series' first row?  *g gets the gcd.
 */
static bool
fits_calendar_unit(FcTimeKind kind, bool months, const int64 *times, const int64 *offsets,
				   int n_series, int64 *g)
{
	*g = 0;
	for (int s = 0; s < n_series; s++)
	{
		int64		anchor = times[offsets[s]];

		for (int64 i = offsets[s] + 1; i < offsets[s + 1]; i++)
		{
			FcStep		unit = {months ? 1 : 0, months ? 0 : 1, 0};
			int64		k;

			if (!fc_calendar_index(kind, &unit, anchor, times[i], &k) || k <= 0)
				return false;
			*g = gcd64(*g, k);
		}
	}
	return *g > 0;
}

void
fc_detect_step(FcTimeKind kind, const int64 *times, const int64 *offsets, int n_series,
			   FcStep *step)
{
	int64		g = 0,
				d_min = PG_INT64_MAX,
				d_max = 0,
				g_cal;

	memset(step, 0, sizeof(FcStep));
	for (int s = 0; s < n_series; s++)
		for (int64 i = offsets[s] + 1; i < offsets[s + 1]; i++)
		{
			int64		d = times[i] - times[i - 1];	/* > 0: rows sorted, no duplicates */

			g = gcd64(g, d);
			d_min = Min(d_min, d);
			d_max = Max(d_max, d);
		}
	if (g == 0)
		return;					/* no series has two rows */
	if (kind == FC_TIME_INTEGER || (d_min == d_max && d_min < 28 * USECS_PER_DAY))
	{
		step->usecs = g;
		return;
	}
	if (d_min >= 28 * USECS_PER_DAY && fits_calendar_unit(kind, true, times, offsets, n_series, &g_cal))
	{
		step->months = (int32) Min(g_cal, PG_INT32_MAX);
		return;
	}
	if (kind == FC_TIME_TIMESTAMPTZ && d_min >= 23 * USECS_PER_HOUR &&
		fits_calendar_unit(kind, false, times, offsets, n_series, &g_cal))
	{
		step->days = (int32) Min(g_cal, PG_INT32_MAX);
		return;
	}
	step->usecs = g;
}

/* The gcd of one series' spacing in the unit of step, for messages. */
FcStep
fc_series_own_step(FcTimeKind kind, const FcStep *step, const int64 *times, int n)
{
	FcStep		own = *step;
	int64		g = 0;

	for (int i = 1; i < n; i++)
	{
		int64		k0 = 0,
					k1 = 0;

		if (step->months || step->days)
		{
			FcStep		unit = {step->months ? 1 : 0, step->days ? 1 : 0, 0};

			if (!fc_calendar_index(kind, &unit, times[0], times[i - 1], &k0) ||
				!fc_calendar_index(kind, &unit, times[0], times[i], &k1))
				continue;
			g = gcd64(g, k1 - k0);
		}
		else
			g = gcd64(g, times[i] - times[i - 1]);
	}
	if (step->months)
		own.months = (int32) g;
	else if (step->days)
		own.days = (int32) g;
	else
		own.usecs = g;
	return own;
}

/*
 * Seasonal period in steps: a day of hours, a week of days, a year of weeks,
 * months or quarters; one horizon when the step has no usual season.
 */
int
fc_default_season(FcTimeKind kind, const FcStep *step, int horizon)
{
	int64		u = step->usecs;

	if (kind == FC_TIME_INTEGER)
		return horizon;
	if (step->months)
		return 12 % step->months == 0 ? 12 / step->months : horizon;
	if (step->days == 1 || u == USECS_PER_DAY)
		return 7;
	if (step->days == 7 || u == 7 * USECS_PER_DAY)
		return 52;
	if (u > 0 && u < USECS_PER_DAY && USECS_PER_DAY % u == 0)
		return (int) (USECS_PER_DAY / u);	/* 24 hourly, 96 quarter-hourly */
	return horizon;
}

/* ---------------------------------------------------------------------------
 * DST and local timestamps
 */
static int64
local_of(int64 utc)
{
	return DatumGetTimestamp(DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(utc)));
}

static int64
utc_of(int64 local)
{
	return DatumGetTimestampTz(DirectFunctionCall1(timestamp_timestamptz, TimestampGetDatum(local)));
}

/* The wall-clock time t does not exist in the session's time zone. */
bool
fc_local_time_skipped(int64 t)
{
	return IS_VALID_TIMESTAMP(t) && local_of(utc_of(t)) != t;
}

/* The wall-clock time t happens twice in the session's time zone. */
bool
fc_local_time_repeated(int64 t)
{
	int64		u;

	if (!IS_VALID_TIMESTAMP(t))
		return false;
	u = utc_of(t);
	return local_of(u - USECS_PER_HOUR) == t || local_of(u + USECS_PER_HOUR) == t ||
		local_of(u - USECS_PER_HOUR / 2) == t || local_of(u + USECS_PER_HOUR / 2) == t;
}
