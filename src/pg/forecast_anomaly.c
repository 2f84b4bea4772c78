/*
 * forecast_anomaly.c -- rnn.detect_anomalies: the rows of a table whose
 * value falls outside the forecaster's one-step-ahead conformal interval
 * (BigQuery ML's ML.DETECT_ANOMALIES does this for its time-series models).
 *
 *   SELECT * FROM rnn.detect_anomalies('load', 'readings_today', level => 0.99);
 *    series |           ts           | t | value | forecast |  lo  |  hi  | score | is_anomaly
 *   --------+------------------------+---+-------+----------+------+------+-------+-----------
 *    s7     | 2025-03-02 14:00:00+00 |   | 93.0  | 41.2     | 35.9 | 46.5 | 9.75  | t
 *
 * Notes:
 * 1. Every row with window_size steps before it in its series is forecast
 *    from those steps, one step ahead, as rnn.forecast forecasts (the
 *    model's statistics for series it knows, a new series' own); the
 *    interval is rnn.forecast's at step 1: the conformal quantile at
 *    `level` of the model's absolute one-step validation residuals.  So on
 *    data like the validation part, a share of about 1 - level of the rows
 *    is flagged.
 * 2. score = |value - forecast| / half-width of the interval, both in the
 *    model's units (z-scores; log z-scores for normalization 'level', where
 *    the interval is a ratio): above 1 is outside the interval, 2 is twice
 *    as far out as the interval reaches.
 * 3. all_rows => true returns every row, with is_anomaly false inside the
 *    interval and NULL (and a NULL forecast) for the first window_size rows
 *    of a series, which have no forecast; the default returns only the
 *    anomalies.  A value filled by missing => 'interpolate' is an input,
 *    never a row.
 * 4. A flagged value enters the windows of the rows after it clipped to
 *    the interval bound it crossed.  Unclipped, one spike would sit in the
 *    next window_size windows and pull their forecasts (and raise false
 *    alarms) as long; clipped, it counts as an extreme but normal value.  A
 *    lasting shift of level is flagged for some steps while the clipped
 *    inputs move the forecast towards it, then followed.  Forecasts are
 *    therefore made in two passes: all windows in batches from the values
 *    as read, then, series by series in time order, the windows that hold a
 *    clipped value again, one at a time.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "forecast.h"

#define ANOMALY_BATCH 256

/* What forecasting windows needs, for batches and for single windows. */
typedef struct Scorer
{
	const FcData *data;
	const FcShape *sh;
	RnnInfer   *inf;
	int			K;				/* skip path size */
	float	   *x,
			   *skip,
			   *out,
			   *base;
	int		   *lengths;
	int		   *series;			/* (ANOMALY_BATCH) of the queued windows */
	int		   *point;			/* (ANOMALY_BATCH) row forecast, in the series */
	int			np;
	float	   *pred;			/* (n_points) one-step forecast, model units */
} Scorer;

/* Forecast the queued rows from the windows before them, in one batch. */
static void
run_batch(Scorer *sc)
{
	const FcData *data = sc->data;
	const FcShape *sh = sc->sh;
	int			W = sh->window,
				Hz = sh->horizon,
				I = fc_input_size(sh, data->n_channels),
				B = sc->np;

	if (B == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	for (int b = 0; b < B; b++)
		fc_fill_window(data, &data->series[sc->series[b]], sc->point[b] - W, sh,
					   sc->x + (size_t) b * I, B,
					   sc->skip ? sc->skip + (size_t) b * sc->K : NULL, sc->K, NULL,
					   sc->base + (size_t) b * Hz);
	fc_infer_windows(sc->inf, B, fc_steps(sh), sc->x, sc->skip, sc->lengths, sc->out);
	for (int b = 0; b < B; b++)
		sc->pred[data->series[sc->series[b]].first + sc->point[b]] =
			sc->out[(size_t) b * Hz] + sc->base[(size_t) b * Hz];
	sc->np = 0;
}

static void
queue(Scorer *sc, int s, int i)
{
	sc->series[sc->np] = s;
	sc->point[sc->np] = i;
	if (++sc->np == ANOMALY_BATCH)
		run_batch(sc);
}

static void
put_row(ReturnSetInfo *rsinfo, const FcData *data, const FcShape *sh, const FcSeries *s,
		int i, float raw, bool scored, double z_pred, double z_true, double w)
{
	Datum		values[9];
	bool		nulls[9];
	int64		t;
	double		e = fabs(z_true - z_pred);

	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(s->key);
	/* the row's time on the series' calendar: point i is step last_k - (n - 1 - i) */
	if (fc_step_known(&data->step) &&
		fc_time_at(data->time_kind, &data->step, s->anchor, s->last_k - (s->n - 1 - i), &t))
	{
		values[1] = fc_time_datum(data->time_kind, t, &nulls[1]);
		values[2] = Int64GetDatum(t);
		nulls[2] = data->time_kind != FC_TIME_INTEGER;
	}
	else
		nulls[1] = nulls[2] = true;
	values[3] = Float8GetDatum(raw);
	if (scored)
	{
		values[4] = Float8GetDatum(fc_denormalize(sh, s, z_pred));
		values[5] = Float8GetDatum(fc_denormalize(sh, s, z_pred - w));
		values[6] = Float8GetDatum(fc_denormalize(sh, s, z_pred + w));
		/* a zero width (validation residuals all 0): any error is infinitely far out */
		values[7] = Float8GetDatum(w > 0 ? e / w : (e > 0 ? INFINITY : 0.0));
		values[8] = BoolGetDatum(e > w);
	}
	else
		nulls[4] = nulls[5] = nulls[6] = nulls[7] = nulls[8] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

PG_FUNCTION_INFO_V1(rnn_detect_anomalies);
Datum
rnn_detect_anomalies(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	Oid			relid;
	double		level,
				w;
	bool		all_rows;
	RnnCachedModel *entry;
	FcModelInfo *info;
	RnnModel   *model;
	FcShape		sh;
	FcData		data;
	Scorer		sc;
	MemoryContext cxt,
				old;
	float	   *raw,
			   *zread;
	bool	   *flag;
	int			C,
				T,
				I,
				W;

	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL",
							i == 0 ? "model" : i == 1 ? "relation" : i == 2 ? "level" : "all_rows")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);
	level = PG_GETARG_FLOAT8(2);
	all_rows = PG_GETARG_BOOL(3);
	if (!(level > 0 && level < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("level = %g is out of range", level),
				 errdetail("level is the probability of the interval, between 0 and 1 "
						   "(exclusive): 0.99 flags about 1%% of normal rows.")));
	InitMaterializedSRF(fcinfo, 0);

	entry = rnn_cache_get(fcinfo, name, 0);
	info = fc_model_info(entry);	/* an error for a model of another kind */
	model = entry->model;
	sh = info->shape;
	W = sh.window;
	if (info->n_levels == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("forecaster \"%s\" has no conformal intervals", name),
				 errdetail("It was trained with validation_fraction = 0, so no validation "
						   "residuals sized its intervals."),
				 errhint("Retrain it with validation_fraction > 0.")));
	if (!(level >= info->levels[0] && level <= info->levels[info->n_levels - 1]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("level = %g is out of range for model \"%s\"", level, name),
				 errdetail("Intervals are available for levels from %g to %g.",
						   info->levels[0], info->levels[info->n_levels - 1])));
	w = fc_conformal_width(info, 0, level);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn detect_anomalies",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	rnn_require_blas();
	fc_read_for_model(info, relid, 0, &data);
	C = data.n_channels;
	/* the values as read (float), before they become model units */
	raw = palloc_extended(sizeof(float) * Max(data.n_points, 1), MCXT_ALLOC_HUGE);
	for (size_t i = 0; i < data.n_points; i++)
		raw[i] = data.values[i * C];
	fc_use_model_stats(&data, info);
	/* and in model units, as read: pass 2 clips the flagged ones in data */
	zread = palloc_extended(sizeof(float) * Max(data.n_points, 1), MCXT_ALLOC_HUGE);
	for (size_t i = 0; i < data.n_points; i++)
		zread[i] = data.values[i * C];

	memset(&sc, 0, sizeof(sc));
	sc.data = &data;
	sc.sh = &sh;
	sc.K = model->cfg.skip_size;
	T = fc_steps(&sh);
	I = fc_input_size(&sh, C);
	sc.series = palloc(sizeof(int) * ANOMALY_BATCH);
	sc.point = palloc(sizeof(int) * ANOMALY_BATCH);
	sc.x = palloc(sizeof(float) * (size_t) ANOMALY_BATCH * T * I);
	sc.skip = sc.K ? palloc(sizeof(float) * (size_t) ANOMALY_BATCH * sc.K) : NULL;
	sc.out = palloc(sizeof(float) * (size_t) ANOMALY_BATCH * sh.horizon);
	sc.base = palloc(sizeof(float) * (size_t) ANOMALY_BATCH * sh.horizon);
	sc.lengths = palloc(sizeof(int) * ANOMALY_BATCH);
	sc.pred = palloc_extended(sizeof(float) * Max(data.n_points, 1), MCXT_ALLOC_HUGE);
	flag = palloc_extended(Max(data.n_points, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	rnn_check_status(rnn_infer_create(&sc.inf, model, ANOMALY_BATCH, T),
					 "could not prepare scoring");

	/* pass 1: every row with a full window before it, from the values as read */
	for (int s = 0; s < data.n_series; s++)
		for (int i = W; i < data.series[s].n; i++)
			queue(&sc, s, i);
	run_batch(&sc);

	/*
	 * pass 2, in time order: flag, clip a flagged value to the bound it
	 * crossed, and forecast again the rows whose window holds a clipped value
	 */
	for (int s = 0; s < data.n_series; s++)
	{
		const FcSeries *ser = &data.series[s];
		int			dirty_until = -1;	/* rows up to here see a clipped value */

		for (int i = W; i < ser->n; i++)
		{
			size_t		at = ser->first + i;
			float	   *z = &data.values[at * C];

			if (i <= dirty_until)
			{
				queue(&sc, s, i);
				run_batch(&sc);
			}
			if (data.filled && data.filled[at])
				continue;		/* interpolated: an input, not a row */
			if (fabs((double) *z - sc.pred[at]) > w)
			{
				flag[at] = true;
				*z = (float) (sc.pred[at] + (*z > sc.pred[at] ? w : -w));
				dirty_until = i + W;
			}
		}
	}

	/* the rows, in (series, time) order */
	for (int s = 0; s < data.n_series; s++)
	{
		const FcSeries *ser = &data.series[s];

		for (int i = all_rows ? 0 : W; i < ser->n; i++)
		{
			size_t		at = ser->first + i;

			if (data.filled && data.filled[at])
				continue;
			if (!all_rows && !flag[at])
				continue;
			put_row(rsinfo, &data, &sh, ser, i, raw[at], i >= W, sc.pred[at], zread[at], w);
		}
	}
	rnn_infer_free(sc.inf);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
