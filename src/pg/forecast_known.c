/*
 * forecast_known.c -- inputs whose values are known for the forecast steps
 * too: calendar inputs, computed from each row's time, and future_columns
 * (planned prices, holidays, weather forecasts), read for the horizon by
 * rnn.forecast(..., future => 'relation').
 *
 *   SELECT * FROM rnn.train_forecaster('sales', 'daily_sales', 'day', 'units',
 *            series_column => 'shop', calendar_inputs => '{auto}',
 *            future_columns => '{price, holiday}');
 *   SELECT * FROM rnn.forecast('sales', future => 'planned');
 *
 * Notes:
 * 1. Both are channels of the data after the value and feature_columns:
 *    the future columns (z-scored per series, as features are), then two
 *    channels per calendar input.  Over the window the recurrent network
 *    reads them like any covariate.
 * 2. For the forecast steps, the future columns' values at each of the
 *    horizon steps follow the value's lags in the skip input of the direct
 *    multi-horizon head, so each forecast step is a linear function of the
 *    planned values of every step (started, with the lags, at the ridge
 *    solution; then trained with the network).  This is how BigQuery ML's
 *    ARIMA_PLUS_XREG treats its covariates (a linear regression on them,
 *    the time-series model on what is left), here learned jointly with the
 *    recurrent part.
 * 3. The calendar inputs of the forecast steps are not inputs of their
 *    own: the steps follow the window's last one on the model's calendar,
 *    so the recurrent network, which reads the phase of every window step,
 *    knows theirs.  Giving them to the linear path too (the first design)
 *    made it worse on validation: ETTh1 h24, hour_of_day and day_of_week,
 *    the ridge start's normalized validation MSE went from 0.0488 to 0.0495
 *    (and its test MSE from 0.0259 to 0.0282).
 * 4. A calendar input is a phase in [0, 1) of one cycle (hour of day, day
 *    of week, ...) given as its sine and cosine: two channels whatever the
 *    cycle's length (day_of_year one-hot would be 366), continuous across
 *    the cycle's end (23:00 is next to 00:00), and the network decodes the
 *    phase into any shape it needs.  Mean 0 and std 1 are stored for them:
 *    they are not z-scored.
 * 5. The fields come from the time as written for timestamp and date
 *    columns (wall-clock time), and for timestamptz in the time zone of the
 *    session that trained the model, stored with it (calendar_time_zone):
 *    scoring in another session time zone gives the same forecasts.
 */
#include "postgres.h"

#include <math.h>

#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "forecast.h"

static const char *const cal_names[FC_CAL_N_KINDS] = {
	"minute_of_hour", "hour_of_day", "day_of_week", "day_of_month", "day_of_year",
	"month", "quarter"
};

const char *
fc_calendar_name(FcCalKind kind)
{
	return cal_names[kind];
}

#define CAL_HINT "Use some of minute_of_hour, hour_of_day, day_of_week, day_of_month, " \
	"day_of_year, month, quarter, or '{auto}' for the default of the time step."

void
fc_calendar_parse(char **names, int n, FcCalendar *cal, bool *is_auto)
{
	memset(cal, 0, sizeof(FcCalendar));
	*is_auto = false;
	if (n == 1 && strcmp(names[0], "auto") == 0)
	{
		*is_auto = true;
		return;
	}
	for (int i = 0; i < n; i++)
	{
		int			k;

		if (strcmp(names[i], "auto") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("calendar input \"auto\" cannot be combined with other inputs"),
					 errhint("Pass calendar_inputs => '{auto}' alone, or name the inputs.")));
		for (k = 0; k < FC_CAL_N_KINDS; k++)
			if (strcmp(names[i], cal_names[k]) == 0)
				break;
		if (k == FC_CAL_N_KINDS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown calendar input \"%.64s\"", names[i]),
					 errhint(CAL_HINT)));
		for (int j = 0; j < cal->n; j++)
			if (cal->kind[j] == (FcCalKind) k)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("calendar input \"%s\" is given twice", names[i])));
		cal->kind[cal->n++] = (FcCalKind) k;
	}
}

/* The step in microseconds, approximately for months (only compared with
 * the cycles' lengths). */
static double
step_seconds(const FcStep *step)
{
	return step->months * 30.4 * 86400.0 + step->days * 86400.0 + step->usecs / 1e6;
}

static double
cycle_seconds(FcCalKind kind)
{
	switch (kind)
	{
		case FC_CAL_MINUTE_OF_HOUR:
			return 3600.0;
		case FC_CAL_HOUR_OF_DAY:
			return 86400.0;
		case FC_CAL_DAY_OF_WEEK:
			return 7 * 86400.0;
		case FC_CAL_DAY_OF_MONTH:
			return 28 * 86400.0;
		case FC_CAL_DAY_OF_YEAR:
		case FC_CAL_MONTH:
		case FC_CAL_QUARTER:
			return 365 * 86400.0;
		default:
			return 0.0;
	}
}

/*
 * 'auto': hour_of_day and day_of_week below a day, day_of_week and
 * day_of_year for days, day_of_year for weeks, month for months and
 * quarters, none for years and integer times.  Given inputs are checked:
 * each must vary with the step (hour_of_day of daily rows is constant).
 */
void
fc_calendar_resolve(FcCalendar *cal, bool *is_auto, FcTimeKind kind, const FcStep *step)
{
	double		st = step_seconds(step);

	if (*is_auto)
	{
		*is_auto = false;
		cal->n = 0;
		if (kind == FC_TIME_INTEGER || !fc_step_known(step))
			return;
		if (st < 86400.0)
		{
			cal->kind[cal->n++] = FC_CAL_HOUR_OF_DAY;
			cal->kind[cal->n++] = FC_CAL_DAY_OF_WEEK;
		}
		else if (st < 7 * 86400.0)
		{
			cal->kind[cal->n++] = FC_CAL_DAY_OF_WEEK;
			cal->kind[cal->n++] = FC_CAL_DAY_OF_YEAR;
		}
		else if (step->months == 0 && st < 365 * 86400.0)
			cal->kind[cal->n++] = FC_CAL_DAY_OF_YEAR;
		else if (step->months > 0 && step->months < 12)
			cal->kind[cal->n++] = FC_CAL_MONTH;
		return;
	}
	if (cal->n == 0)
		return;
	if (kind == FC_TIME_INTEGER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("calendar_inputs need a time column of type timestamp, timestamptz or date"),
				 errdetail("The time column holds integers, which have no calendar."),
				 errhint("Pass calendar_inputs => NULL, or use a date or timestamp column.")));
	if (!fc_step_known(step))
		return;
	for (int i = 0; i < cal->n; i++)
		if (st >= cycle_seconds(cal->kind[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("calendar input \"%s\" does not change from one step to the next "
							"with a step of %s", cal_names[cal->kind[i]],
							fc_step_text(kind, step)),
					 errhint("Leave it out, or pass calendar_inputs => '{auto}'.")));
}

void
fc_calendar_load_zone(FcCalendar *cal)
{
	if (cal->zone == NULL || cal->tz != NULL)
		return;
	cal->tz = pg_tzset(cal->zone);
	if (cal->tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" of the model's calendar inputs is not known", cal->zone)));
}

void
fc_calendar_encode(const FcCalendar *cal, FcTimeKind kind, int64 t, float *out)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	double		day_frac,
				dim,
				phase = 0.0;
	int			julian;

	if (timestamp2tm(t, kind == FC_TIME_TIMESTAMPTZ ? &tz : NULL, &tm, &fsec, NULL,
					 kind == FC_TIME_TIMESTAMPTZ ? cal->tz : NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	day_frac = (tm.tm_hour + tm.tm_min / 60.0 + (tm.tm_sec + fsec / 1e6) / 3600.0) / 24.0;
	dim = day_tab[isleap(tm.tm_year)][tm.tm_mon - 1];
	julian = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
	for (int i = 0; i < cal->n; i++)
	{
		switch (cal->kind[i])
		{
			case FC_CAL_MINUTE_OF_HOUR:
				phase = (tm.tm_min + (tm.tm_sec + fsec / 1e6) / 60.0) / 60.0;
				break;
			case FC_CAL_HOUR_OF_DAY:
				phase = day_frac;
				break;
			case FC_CAL_DAY_OF_WEEK:
				/* Monday 0 (ISO); j2day gives Sunday 0 */
				phase = (((j2day(julian) + 6) % 7) + day_frac) / 7.0;
				break;
			case FC_CAL_DAY_OF_MONTH:
				phase = (tm.tm_mday - 1 + day_frac) / dim;
				break;
			case FC_CAL_DAY_OF_YEAR:
				phase = (julian - date2j(tm.tm_year, 1, 1) + day_frac) /
					(isleap(tm.tm_year) ? 366.0 : 365.0);
				break;
			case FC_CAL_MONTH:
				phase = (tm.tm_mon - 1 + (tm.tm_mday - 1 + day_frac) / dim) / 12.0;
				break;
			case FC_CAL_QUARTER:
				phase = ((tm.tm_mon - 1) / 3) / 4.0;
				break;
			default:
				break;
		}
		out[2 * i] = (float) sin(2.0 * M_PI * phase);
		out[2 * i + 1] = (float) cos(2.0 * M_PI * phase);
	}
}

/* The time of point p of series s (p may lie before its first row or past
 * its last: the calendar continues). */
static int64
point_time(const FcData *data, const FcSeries *s, int p)
{
	int64		t;

	if (!fc_step_known(&data->step))
		return s->anchor;		/* a one-row series */
	if (!fc_time_at(data->time_kind, &data->step, s->anchor, s->last_k - (s->n - 1) + p, &t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("the calendar of %s runs out of the timestamp range",
						fc_series_name(s->key))));
	return t;
}

void
fc_add_known(FcData *data, const FcSpec *spec)
{
	int			C = data->n_channels;
	int			K = 2 * spec->calendar.n;
	FcCalendar *cal = palloc(sizeof(FcCalendar));

	*cal = spec->calendar;
	fc_calendar_load_zone(cal);
	data->cal = cal;
	data->first_future = 1 + spec->n_features - spec->n_future;
	data->first_calendar = C;
	data->n_known = spec->n_future + K;
	if (K == 0)
		return;

	{
		int			C2 = C + K;
		float	   *v = palloc_extended(sizeof(float) * Max(data->n_points, 1) * C2,
										MCXT_ALLOC_HUGE);

		for (int si = 0; si < data->n_series; si++)
		{
			FcSeries   *s = &data->series[si];

			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < s->n; i++)
			{
				float	   *dst = v + (s->first + i) * C2;

				memcpy(dst, data->values + (s->first + i) * C, sizeof(float) * C);
				fc_calendar_encode(cal, data->time_kind, point_time(data, s, i), dst + C);
			}
			if (data->stats_ready)
			{
				double	   *mean = palloc(sizeof(double) * C2),
						   *std = palloc(sizeof(double) * C2);

				memcpy(mean, s->mean, sizeof(double) * C);
				memcpy(std, s->std, sizeof(double) * C);
				for (int c = C; c < C2; c++)
				{
					mean[c] = 0.0;
					std[c] = 1.0;
				}
				s->mean = mean;
				s->std = std;
			}
		}
		pfree(data->values);
		data->values = v;
		data->n_channels = C2;
	}
}

void
fc_future_at(const FcData *data, const FcSeries *s, int p, float *out)
{
	int			C = data->n_channels,
				f0 = data->first_future,
				nf = data->first_calendar - f0;

	if (p < s->n)
	{
		memcpy(out, data->values + (s->first + p) * C + f0, sizeof(float) * nf);
		return;
	}
	/* past the last point: the future values given, or the last point's */
	if (data->future && p - s->n < data->future_horizon)
		memcpy(out, data->future + ((size_t) (s - data->series) * data->future_horizon +
									(p - s->n)) * nf, sizeof(float) * nf);
	else
		memcpy(out, data->values + (s->first + s->n - 1) * C + f0, sizeof(float) * nf);
}
