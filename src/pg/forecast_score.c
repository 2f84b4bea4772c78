/*
 * forecast_score.c -- using a trained forecaster: rnn.forecast (the next
 * values of every series, with split-conformal intervals), rnn.predict_next
 * (an aggregate: the next values after any ordered set of rows, so a
 * backtest is one window-function query) and rnn.evaluate (errors on a
 * held-out table next to the naive baselines).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "forecast.h"
#include "jsonb_util.h"

#define SCORE_BATCH 256

/* ---------------------------------------------------------------------------
 * Model metadata, parsed once per cached model
 */
static int
cmp_key_index(const void *a, const void *b, void *arg)
{
	char	  **keys = arg;

	return strcmp(keys[*(const int *) a], keys[*(const int *) b]);
}

static void
check_kind(RnnCachedModel *entry, const char *want)
{
	if (strcmp(entry->kind, want) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s, not a %s", entry->name, entry->kind, want),
				 strcmp(want, RNN_KIND_FORECASTER) == 0 ?
				 errhint("Score classifiers with rnn.sentiment, rnn.classify or rnn.class_probs.") :
				 errhint("Use rnn.forecast or rnn.predict_next with forecasters.")));
}

FcModelInfo *
fc_model_info(RnnCachedModel *entry)
{
	FcModelInfo *info;
	MemoryContext old;
	Jsonb	   *hp = entry->hyperparams,
			   *nz = entry->normalization;
	int			C,
				n_mean,
				n_std,
				n_q;
	double	   *mean,
			   *std;
	int		   *order;

	check_kind(entry, RNN_KIND_FORECASTER);
	if (entry->aux != NULL)
		return (FcModelInfo *) entry->aux;

	old = MemoryContextSwitchTo(entry->cxt);
	info = palloc0(sizeof(FcModelInfo));
	info->shape.window = (int) rnn_jsonb_int(hp, "window_size", 0);
	info->shape.horizon = entry->model->cfg.output_size;
	info->shape.season = (int) rnn_jsonb_int(hp, "season_length", info->shape.horizon);
	info->shape.norm = FC_NORM_WINDOW;
	{
		char	   *norm = rnn_jsonb_text(hp, "normalize");

		if (norm && strcmp(norm, "series") == 0)
			info->shape.norm = FC_NORM_SERIES;
		else if (norm && strcmp(norm, "level") == 0)
			info->shape.norm = FC_NORM_LEVEL;
	}
	info->shape.seasonal = rnn_jsonb_bool(hp, "seasonal", false);
	info->shape.season_steps = rnn_jsonb_bool(hp, "season_steps", false);
	info->skip_size = entry->model->cfg.skip_size;
	info->spec.time_column = rnn_jsonb_text(hp, "time_column");
	info->spec.value_column = rnn_jsonb_text(hp, "value_column");
	info->spec.series_column = rnn_jsonb_text(hp, "series_column");
	info->spec.feature_columns = rnn_jsonb_texts(hp, "feature_columns", &info->spec.n_features);
	/* known inputs (absent before 0.4): future columns follow the features */
	{
		int			nf = 0,
					nc = 0;
		char	  **fut = rnn_jsonb_texts(hp, "future_columns", &nf);
		char	  **cal = rnn_jsonb_texts(hp, "calendar_inputs", &nc);
		bool		is_auto;

		if (nf > 0)
		{
			char	  **all = palloc(sizeof(char *) * (info->spec.n_features + nf));

			for (int i = 0; i < info->spec.n_features; i++)
				all[i] = info->spec.feature_columns[i];
			for (int i = 0; i < nf; i++)
				all[info->spec.n_features + i] = fut[i];
			info->spec.feature_columns = all;
			info->spec.n_features += nf;
			info->spec.n_future = nf;
		}
		fc_calendar_parse(cal, nc, &info->spec.calendar, &is_auto);
		if (is_auto)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("forecaster \"%s\" has inconsistent metadata", entry->name),
					 errdetail("hyperparams.calendar_inputs must name the inputs.")));
		info->spec.calendar.zone = rnn_jsonb_text(hp, "calendar_time_zone");
		fc_calendar_load_zone(&info->spec.calendar);
		info->shape.n_known = nf;
	}
	{
		char	   *missing = rnn_jsonb_text(hp, "missing");

		info->spec.missing = missing && strcmp(missing, "interpolate") == 0
			? FC_MISSING_INTERPOLATE : FC_MISSING_ERROR;
	}
	/* the calendar step (absent before 0.3: detected from the rows) */
	info->spec.step.months = (int32) rnn_jsonb_int(hp, "step_months", 0);
	info->spec.step.days = (int32) rnn_jsonb_int(hp, "step_days", 0);
	info->spec.step.usecs = rnn_jsonb_int(hp, "step_usecs", 0);
	{
		char	   *time_type = rnn_jsonb_text(nz, "time_type");

		info->spec.step_time_kind = FC_TIME_TIMESTAMP;
		for (int k = FC_TIME_TIMESTAMP; k <= FC_TIME_INTEGER; k++)
			if (time_type && strcmp(time_type, fc_time_kind_name((FcTimeKind) k)) == 0)
				info->spec.step_time_kind = (FcTimeKind) k;
	}
	/* resolved at each use: the table may be dropped and recreated */
	info->relation = rnn_jsonb_text(hp, "relation");
	info->spec.relid = InvalidOid;

	C = 1 + info->spec.n_features + 2 * info->spec.calendar.n;
	info->skip_lags = info->skip_size - info->shape.horizon * info->shape.n_known;
	if (info->shape.window < 1 || info->spec.time_column == NULL || info->spec.value_column == NULL ||
		info->shape.season < 1 ||
		((fc_by_season(&info->shape) || info->shape.norm == FC_NORM_LEVEL) &&
		 (info->shape.season > info->shape.window ||
		  (fc_by_season(&info->shape) && info->shape.window % info->shape.season != 0))) ||
		entry->model->cfg.input_size != fc_input_size(&info->shape, C) ||
		entry->model->cfg.vocab_size != 0 ||
		info->skip_lags < 0 || info->skip_lags > info->shape.window)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("forecaster \"%s\" has inconsistent metadata", entry->name),
				 errdetail("hyperparams must give window_size, time_column and value_column "
						   "matching the weights (input size %d).", entry->model->cfg.input_size)));

	info->keys = rnn_jsonb_texts(nz, "series", &info->n_series);
	mean = rnn_jsonb_doubles(nz, "mean", &n_mean);
	std = rnn_jsonb_doubles(nz, "std", &n_std);
	if (n_mean != info->n_series * C || n_std != info->n_series * C)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("forecaster \"%s\" has inconsistent normalization statistics", entry->name)));
	info->levels = rnn_jsonb_doubles(nz, "conformal_levels", &info->n_levels);
	info->q = rnn_jsonb_doubles(nz, "conformal_q", &n_q);
	if (n_q != info->n_levels * info->shape.horizon)
	{
		info->n_levels = 0;		/* no intervals rather than wrong ones */
		info->q = NULL;
	}

	/* sort series keys (with their statistics) for bsearch */
	order = palloc(sizeof(int) * Max(info->n_series, 1));
	for (int i = 0; i < info->n_series; i++)
		order[i] = i;
	qsort_arg(order, info->n_series, sizeof(int), cmp_key_index, info->keys);
	{
		char	  **keys = palloc(sizeof(char *) * Max(info->n_series, 1));

		info->mean = palloc(sizeof(double) * Max(info->n_series, 1) * C);
		info->std = palloc(sizeof(double) * Max(info->n_series, 1) * C);
		for (int i = 0; i < info->n_series; i++)
		{
			keys[i] = info->keys[order[i]];
			memcpy(info->mean + (size_t) i * C, mean + (size_t) order[i] * C, sizeof(double) * C);
			memcpy(info->std + (size_t) i * C, std + (size_t) order[i] * C, sizeof(double) * C);
		}
		info->keys = keys;
	}
	MemoryContextSwitchTo(old);
	entry->aux = info;
	return info;
}

int
fc_find_series(const FcModelInfo *info, const char *key)
{
	int			lo = 0,
				hi = info->n_series - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(info->keys[mid], key);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * Statistics for every series of data: the model's for series it was
 * trained on, the series' own (over all its rows) for new ones.
 */
void
fc_use_model_stats(FcData *data, const FcModelInfo *info)
{
	int			C = data->n_channels;

	if (!data->stats_ready)
		fc_compute_stats(data);
	if (info->shape.norm == FC_NORM_LEVEL)
	{
		fc_log_values(data);
		fc_level_stats(data, info->shape.season);
	}
	for (int s = 0; s < data->n_series; s++)
	{
		int			k = fc_find_series(info, data->series[s].key);

		if (k >= 0)
		{
			memcpy(data->series[s].mean, info->mean + (size_t) k * C, sizeof(double) * C);
			memcpy(data->series[s].std, info->std + (size_t) k * C, sizeof(double) * C);
		}
	}
	fc_apply_stats(data);
}

/* keep > 0: only the newest keep steps of each series (fc_read_tail), padded
 * to keep */
void
fc_read_for_model(FcModelInfo *info, Oid relid, int keep, FcData *data)
{
	FcSpec		spec = info->spec;

	if (OidIsValid(relid))
		spec.relid = relid;
	else if (info->relation)
		spec.relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(info->relation)),
									  NoLock, true);
	if (!OidIsValid(spec.relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation %s that this model was trained on does not exist",
						info->relation ? info->relation : "(unknown)"),
				 errhint("Pass relation => 'schema.table' with the same columns.")));
	if (keep > 0)
		fc_read_tail(&spec, keep, true, data);
	else
		fc_read(&spec, data);
	fc_add_known(data, &info->spec);
}

/* Run B windows of T steps (x packed time-major, skip per window) through
 * the model: out (B, horizon). */
void
fc_infer_windows(RnnInfer *inf, int B, int T, const float *x, const float *skip,
			  int *lengths, float *out)
{
	RnnBatch	batch;

	for (int b = 0; b < B; b++)
		lengths[b] = T;
	batch.B = B;
	batch.T = T;
	batch.lengths = lengths;
	batch.x = x;
	batch.tokens = NULL;
	batch.skip = skip;
	rnn_check_status(rnn_infer(inf, &batch, out), "forecasting failed");
}

/* ---------------------------------------------------------------------------
 * Scoring windows
 */
void
fc_score_windows(const RnnModel *model, const FcWindows *w, int64 max_windows,
				 FcMetrics *m, float **resid, int64 *n_resid)
{
	const FcData *data = w->data;
	const FcShape *sh = &w->shape;
	int			C = data->n_channels;
	int			W = sh->window,
				T = fc_steps(sh),
				I = fc_input_size(sh, C),
				Hz = sh->horizon,
				K = model->cfg.skip_size;
	int64		n = max_windows > 0 && w->count > max_windows ? max_windows : w->count;
	RnnInfer   *inf;
	float	   *x = palloc(sizeof(float) * (size_t) SCORE_BATCH * T * I);
	float	   *skip = K ? palloc(sizeof(float) * (size_t) SCORE_BATCH * K) : NULL;
	float	   *target = palloc(sizeof(float) * (size_t) SCORE_BATCH * Hz);
	float	   *base = palloc(sizeof(float) * (size_t) SCORE_BATCH * Hz);
	float	   *out = palloc(sizeof(float) * (size_t) SCORE_BATCH * Hz);
	int		   *ser = palloc(sizeof(int) * SCORE_BATCH);
	int		   *start = palloc(sizeof(int) * SCORE_BATCH);
	int		   *lengths = palloc(sizeof(int) * SCORE_BATCH);

	memset(m, 0, sizeof(FcMetrics));
	if (resid)
	{
		*resid = palloc_extended(sizeof(float) * Max(n, 1) * Hz, MCXT_ALLOC_HUGE);
		*n_resid = n;
	}
	rnn_check_status(rnn_infer_create(&inf, model, SCORE_BATCH, T), "could not prepare scoring");

	for (int64 i0 = 0; i0 < n; i0 += SCORE_BATCH)
	{
		int			B = (int) Min(SCORE_BATCH, n - i0);

		CHECK_FOR_INTERRUPTS();
		for (int b = 0; b < B; b++)
		{
			fc_windows_locate(w, fc_windows_sample(w, n, i0 + b), &ser[b], &start[b]);
			fc_fill_window(data, &data->series[ser[b]], start[b], sh, x + (size_t) b * I, B,
						   skip ? skip + (size_t) b * K : NULL, K, target + (size_t) b * Hz,
						   base + (size_t) b * Hz);
		}
		fc_infer_windows(inf, B, T, x, skip, lengths, out);

		for (int b = 0; b < B; b++)
		{
			const FcSeries *s = &data->series[ser[b]];
			const float *v = data->values + (s->first + start[b]) * C;
			double		nz = v[(size_t) (W - 1) * C];	/* naive, z */

			for (int h = 0; h < Hz; h++)
			{
				double		bz = base[(size_t) b * Hz + h];
				double		yz = target[(size_t) b * Hz + h] + bz;	/* truth, z */
				double		pz = out[(size_t) b * Hz + h] + bz; /* model, z */
				double		y = fc_denormalize(sh, s, yz);
				int			back = sh->season * ((h / sh->season) + 1);
				int			si = W + h - back;	/* seasonal index in window */
				double		sz;
				double		e;

				/* a filled target is no observation: not scored */
				if (isnan(yz))
				{
					if (resid)
						(*resid)[(i0 + b) * Hz + h] = NAN;
					continue;
				}
				m->values++;
				/* one season back; before the window, fall back to its start */
				if (start[b] + si < 0)
					si = -start[b];
				sz = v[(ptrdiff_t) si * C];

				/* z-units: the network's; original units through the scale */
				e = pz - yz;
				m->sse_z += e * e;
				m->sae_z += fabs(e);
				if (resid)
					(*resid)[(i0 + b) * Hz + h] = (float) fabs(e);
				e = fc_denormalize(sh, s, pz) - y;
				m->sse += e * e;
				m->sae += fabs(e);
				e = nz - yz;
				m->naive_sse_z += e * e;
				m->naive_sae_z += fabs(e);
				e = fc_denormalize(sh, s, nz) - y;
				m->naive_sse += e * e;
				m->naive_sae += fabs(e);
				e = sz - yz;
				m->seas_sse_z += e * e;
				m->seas_sae_z += fabs(e);
				e = fc_denormalize(sh, s, sz) - y;
				m->seas_sse += e * e;
				m->seas_sae += fabs(e);
			}
		}
		m->windows += B;
	}
	rnn_infer_free(inf);
}

/* ---------------------------------------------------------------------------
 * rnn.forecast(model, horizon, level, relation, future)
 *
 *   SELECT * FROM rnn.forecast('temp_lstm', horizon => 3);
 *    series | step |           ts           | value | lo   | hi
 *   --------+------+------------------------+-------+------+------
 *    s1     |    1 | 2024-01-08 00:00:00+00 | 20.1  | 19.2 | 21.0
 *    ...
 *
 * 1. The last window_size rows of every series are read (in time order) and
 *    the next `horizon` values predicted at once; ts continues each series
 *    at its own step (NULL for integer time columns).
 * 2. A model with future_columns reads their values for its whole horizon
 *    after each series' last row from `future` (fc_read_future); calendar
 *    inputs of the window come from each step's time (forecast_known.c).
 * 3. lo/hi: split-conformal interval at `level` from the validation
 *    residuals of each step (scaled by each series' standard deviation);
 *    NULL when the model was trained without validation data.
 */
double
fc_conformal_width(const FcModelInfo *info, int h, double level)
{
	int			nl = info->n_levels;
	const double *lv = info->levels;
	const double *q = info->q + (size_t) h * nl;

	for (int l = 0; l + 1 < nl; l++)
		if (level <= lv[l + 1] + 1e-12)
		{
			double		f = (level - lv[l]) / (lv[l + 1] - lv[l]);

			return q[l] + f * (q[l + 1] - q[l]);
		}
	return q[nl - 1];
}

PG_FUNCTION_INFO_V1(rnn_forecast);
Datum
rnn_forecast(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	RnnCachedModel *entry;
	FcModelInfo *info;
	RnnModel   *model;
	FcData		data;
	FcShape		sh;
	int			horizon;
	double		level;
	Oid			relid,
				future;
	MemoryContext cxt,
				old;
	RnnInfer   *inf;
	int			W,
				Hz,
				C,
				K;
	float	   *x,
			   *skip,
			   *out,
			   *base;
	int		   *lengths;
	int			T,
				I;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	InitMaterializedSRF(fcinfo, 0);

	entry = rnn_cache_get(fcinfo, name, 0);
	info = fc_model_info(entry);
	model = entry->model;
	sh = info->shape;
	horizon = PG_ARGISNULL(1) ? sh.horizon : PG_GETARG_INT32(1);
	level = PG_ARGISNULL(2) ? 0.9 : PG_GETARG_FLOAT8(2);
	relid = PG_ARGISNULL(3) ? InvalidOid : PG_GETARG_OID(3);
	future = PG_NARGS() <= 4 || PG_ARGISNULL(4) ? InvalidOid : PG_GETARG_OID(4);
	if (info->spec.n_future > 0 && !OidIsValid(future))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" has future columns: pass future => 'relation'", name),
				 errdetail("The model reads %s for each of its %d forecast steps.",
						   info->spec.n_future == 1 ? "a known-future column" : "known-future columns",
						   sh.horizon),
				 errhint("Pass a table or view with the time and series columns and the future "
						 "columns for the steps after each series' last row.")));
	if (info->spec.n_future == 0 && OidIsValid(future))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" has no future columns, but future => was given", name),
				 errhint("Train with future_columns => '{...}' to use known-future values.")));
	if (horizon < 1 || horizon > sh.horizon)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon = %d is out of range for model \"%s\"", horizon, name),
				 errdetail("The model predicts %d steps at once (direct strategy).", sh.horizon),
				 errhint("Retrain with a larger horizon to forecast further.")));
	if (info->n_levels > 0 && !(level >= info->levels[0] && level <= info->levels[info->n_levels - 1]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("level = %g is out of range", level),
				 errdetail("Intervals are available for levels from %g to %g.",
						   info->levels[0], info->levels[info->n_levels - 1])));

	cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn forecast", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	rnn_require_blas();
	/*
	 * The newest window_size steps of each series, a shorter one padded on
	 * the left with its oldest value; two rows at least, to detect the step
	 * of a model stored without one.
	 */
	fc_read_for_model(info, relid, Max(sh.window, 2), &data);
	fc_use_model_stats(&data, info);
	if (OidIsValid(future))
		fc_read_future(&info->spec, future, sh.horizon, &data);

	W = sh.window;
	Hz = sh.horizon;
	C = data.n_channels;
	K = model->cfg.skip_size;
	T = fc_steps(&sh);
	I = fc_input_size(&sh, C);
	x = palloc(sizeof(float) * (size_t) SCORE_BATCH * T * I);
	skip = K ? palloc(sizeof(float) * (size_t) SCORE_BATCH * K) : NULL;
	out = palloc(sizeof(float) * (size_t) SCORE_BATCH * Hz);
	base = palloc(sizeof(float) * (size_t) SCORE_BATCH * Hz);
	lengths = palloc(sizeof(int) * SCORE_BATCH);
	rnn_check_status(rnn_infer_create(&inf, model, SCORE_BATCH, T), "could not prepare scoring");

	for (int s0 = 0; s0 < data.n_series; s0 += SCORE_BATCH)
	{
		int			B = Min(SCORE_BATCH, data.n_series - s0);

		CHECK_FOR_INTERRUPTS();
		for (int b = 0; b < B; b++)
		{
			const FcSeries *s = &data.series[s0 + b];

			fc_fill_window(&data, s, s->n - W, &sh, x + (size_t) b * I, B,
						   skip ? skip + (size_t) b * K : NULL, K, NULL, base + (size_t) b * Hz);
		}
		fc_infer_windows(inf, B, T, x, skip, lengths, out);

		for (int b = 0; b < B; b++)
		{
			const FcSeries *s = &data.series[s0 + b];

			for (int h = 0; h < horizon; h++)
			{
				Datum		values[6];
				bool		nulls[6] = {false, false, false, false, false, false};
				double		z = out[(size_t) b * Hz + h] + base[(size_t) b * Hz + h];
				int64		t;

				values[0] = CStringGetTextDatum(s->key);
				values[1] = Int32GetDatum(h + 1);
				/* on the calendar; NULL for integer times (step says how far ahead) */
				if (fc_step_known(&data.step) &&
					fc_time_at(data.time_kind, &data.step, s->anchor, s->last_k + h + 1, &t))
					values[2] = fc_time_datum(data.time_kind, t, &nulls[2]);
				else
					nulls[2] = true;
				values[3] = Float8GetDatum(fc_denormalize(&sh, s, z));
				if (info->n_levels > 0)
				{
					/* the width is in network units: a 'level' model's is a ratio */
					double		wdt = fc_conformal_width(info, h, level);

					values[4] = Float8GetDatum(fc_denormalize(&sh, s, z - wdt));
					values[5] = Float8GetDatum(fc_denormalize(&sh, s, z + wdt));
				}
				else
					nulls[4] = nulls[5] = true;
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		}
	}
	rnn_infer_free(inf);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------------
 * rnn.evaluate(model, relation)
 *
 * Every window (stride 1) of every series in relation, scored with the
 * model: MSE and MAE on the original scale and in z-units of each series
 * (the "normalized" errors forecasting papers report), next to the naive
 * last-value and seasonal-naive forecasts of the same windows.
 */
PG_FUNCTION_INFO_V1(rnn_evaluate);
Datum
rnn_evaluate(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			relid = PG_GETARG_OID(1);
	RnnCachedModel *entry;
	FcModelInfo *info;
	FcData		data;
	FcWindows	w;
	FcMetrics	m;
	TupleDesc	desc;
	Datum		values[13];
	bool		nulls[13];
	MemoryContext cxt,
				old;
	double		denom;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	entry = rnn_cache_get(fcinfo, name, 0);
	info = fc_model_info(entry);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn evaluate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	rnn_require_blas();
	fc_read_for_model(info, relid, 0, &data);
	fc_use_model_stats(&data, info);
	fc_windows_init(&w, &data, &info->shape, FC_WINDOWS_ALL);
	if (w.count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation %s has no series of at least %d rows", get_rel_name(relid),
						info->shape.window + info->shape.horizon),
				 errdetail("Evaluation needs window_size + horizon rows per window.")));
	fc_score_windows(entry->model, &w, 0, &m, NULL, NULL);
	MemoryContextSwitchTo(old);

	denom = (double) m.values;
	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum(m.windows);
	values[1] = Float8GetDatum(m.sse / denom);
	values[2] = Float8GetDatum(m.sae / denom);
	values[3] = Float8GetDatum(m.sse_z / denom);
	values[4] = Float8GetDatum(m.sae_z / denom);
	values[5] = Float8GetDatum(m.naive_sse / denom);
	values[6] = Float8GetDatum(m.naive_sae / denom);
	values[7] = Float8GetDatum(m.naive_sse_z / denom);
	values[8] = Float8GetDatum(m.naive_sae_z / denom);
	values[9] = Float8GetDatum(m.seas_sse / denom);
	values[10] = Float8GetDatum(m.seas_sae / denom);
	values[11] = Float8GetDatum(m.seas_sse_z / denom);
	values[12] = Float8GetDatum(m.seas_sae_z / denom);
	MemoryContextDelete(cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* ---------------------------------------------------------------------------
 * rnn.predict_next(model, value [, series]) aggregate
 *
 *   SELECT sensor, rnn.predict_next('temp_lstm', temp ORDER BY ts)
 *   FROM readings GROUP BY sensor;
 *
 *   -- backtest: the forecast made at every row from the rows before it
 *   SELECT ts, temp, rnn.predict_next('temp_lstm', temp)
 *            OVER (ORDER BY ts ROWS 95 PRECEDING)
 *   FROM readings;
 *
 * 1. Returns float8[horizon]: the next values after the last row, from the
 *    last window_size values; NULL while fewer than window_size rows have
 *    been seen (the first rows of a backtest).
 * 2. Scale: the statistics of the named series (third argument) if the model
 *    was trained on it, of the only series of a one-series model, else of
 *    the values aggregated.
 * 3. The final function only reads the state, so a window with a growing
 *    frame reuses it from row to row.  Univariate models only (covariates
 *    need rnn.forecast).
 */
typedef struct PredictState
{
	char	   *model;			/* kept here: FINALFUNC_EXTRA args arrive NULL */
	char	   *series;
	int			n;
	int			cap;
	double	   *v;
	int64	   *t;				/* (cap) the rows' times: the 4-argument form */
} PredictState;

PG_FUNCTION_INFO_V1(rnn_predict_next_sfunc);
Datum
rnn_predict_next_sfunc(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	PredictState *st = PG_ARGISNULL(0) ? NULL : (PredictState *) PG_GETARG_POINTER(0);
	double		v;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "rnn_predict_next_sfunc called in non-aggregate context");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rnn.predict_next got a NULL value after %d rows", st ? st->n : 0),
				 errhint("Filter NULLs out or fill them (e.g. coalesce with the previous value).")));
	v = PG_GETARG_FLOAT8(2);
	if (!isfinite(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rnn.predict_next got %g after %d rows", v, st ? st->n : 0)));

	old = MemoryContextSwitchTo(aggcxt);
	if (st == NULL)
	{
		st = palloc0(sizeof(PredictState));
		st->model = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
			st->series = text_to_cstring(PG_GETARG_TEXT_PP(3));
		st->cap = 256;
		st->v = palloc(sizeof(double) * st->cap);
		if (PG_NARGS() > 4)
			st->t = palloc(sizeof(int64) * st->cap);
	}
	if (st->n == st->cap)
	{
		st->cap *= 2;
		st->v = repalloc_huge(st->v, sizeof(double) * st->cap);
		if (st->t)
			st->t = repalloc_huge(st->t, sizeof(int64) * st->cap);
	}
	if (st->t)
	{
		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("rnn.predict_next got a NULL time after %d rows", st->n)));
		st->t[st->n] = PG_GETARG_TIMESTAMPTZ(4);
	}
	st->v[st->n++] = v;
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(rnn_predict_next_final);
Datum
rnn_predict_next_final(PG_FUNCTION_ARGS)
{
	PredictState *st = PG_ARGISNULL(0) ? NULL : (PredictState *) PG_GETARG_POINTER(0);
	RnnCachedModel *entry;
	FcModelInfo *info;
	const RnnModel *model;
	int			W,
				Hz,
				K,
				k;
	double		mean,
				sd;
	const double *v;
	float	   *x,
			   *skip = NULL,
			   *out,
			   *base;
	FcData		one;
	FcSeries	ser;
	int			length;
	Datum	   *d;

	if (st == NULL)
		PG_RETURN_NULL();
	entry = rnn_cache_get(fcinfo, st->model, 0);
	info = fc_model_info(entry);
	model = entry->model;
	if (info->spec.n_features > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" uses %s columns; rnn.predict_next takes only the value",
						st->model, info->spec.n_future > 0 ? "future" : "feature"),
				 errhint("Use rnn.forecast, which reads the covariates from the table.")));
	if (info->spec.calendar.n > 0 && st->t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" uses calendar inputs; rnn.predict_next needs each row's time",
						st->model),
				 errhint("Call rnn.predict_next(model, value, series, time), series NULL for a "
						 "one-series model.")));
	W = info->shape.window;
	Hz = info->shape.horizon;
	K = model->cfg.skip_size;
	if (st->n < W)
		PG_RETURN_NULL();
	v = st->v + (st->n - W);

	/* scale */
	k = st->series ? fc_find_series(info, st->series) : (info->n_series == 1 ? 0 : -1);
	if (k >= 0)
	{
		mean = info->mean[k];
		sd = info->std[k];
	}
	else
	{
		double		sum = 0.0,
					sq = 0.0;

		for (int i = 0; i < st->n; i++)
			sum += (float) st->v[i];
		mean = sum / st->n;
		for (int i = 0; i < st->n; i++)
			sq += ((float) st->v[i] - mean) * ((float) st->v[i] - mean);
		sd = fc_scale(sqrt(sq / st->n), mean);
	}

	rnn_require_blas();
	if (info->one == NULL)
	{
		/* once per cached model: a backtest calls this for every row */
		MemoryContext old = MemoryContextSwitchTo(entry->cxt);

		rnn_check_status(rnn_infer_create(&info->one, model, 1, fc_steps(&info->shape)),
						 "could not prepare scoring");
		info->one_x = palloc(sizeof(float) * W * (1 + 2 * info->spec.calendar.n));
		info->one_out = palloc(sizeof(float) * Hz);
		info->one_skip = K ? palloc(sizeof(float) * K) : NULL;
		MemoryContextSwitchTo(old);
	}
	base = palloc(sizeof(float) * Hz);
	x = info->one_x;
	out = info->one_out;
	skip = info->one_skip;
	/*
	 * The window as a one-series data set, prepared as rnn.forecast prepares
	 * its rows (values stored as float, z-scored in double, rounded), so the
	 * two differ only by batched vs single-sequence inference (~1e-7
	 * relative).
	 */
	memset(&one, 0, sizeof(one));
	memset(&ser, 0, sizeof(ser));
	ser.key = st->series ? st->series : "";
	ser.n = W;
	ser.mean = &mean;
	ser.std = &sd;
	one.n_channels = 1;
	one.n_series = 1;
	one.series = &ser;
	one.n_points = W;
	one.values = palloc(sizeof(float) * W);
	for (int t = 0; t < W; t++)
		one.values[t] = (float) v[t];
	ser.n_train = W;
	if (info->spec.calendar.n > 0)
	{
		/*
		 * Calendar inputs: of each row's time over the window (a timestamp
		 * or date model reads it as the session's wall clock); the forecast
		 * steps follow the last on the model's calendar.
		 */
		FcSpec		sp;
		const int64 *tt = st->t + (st->n - W);
		FcTimeKind	kind = info->spec.step_time_kind;
		int			C;

#define AS_KIND(x) (kind == FC_TIME_TIMESTAMPTZ ? (x) : \
	DatumGetTimestamp(DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(x))))
		memset(&sp, 0, sizeof(sp));
		sp.calendar = info->spec.calendar;
		one.time_kind = kind;
		one.step = info->spec.step;
		ser.anchor = AS_KIND(tt[W - 1]);
		ser.last_k = 0;
		fc_add_known(&one, &sp);	/* one's values: 1 + 2n channels */
		C = one.n_channels;
		for (int t = 0; t < W; t++)
			fc_calendar_encode(one.cal, kind, AS_KIND(tt[t]), one.values + (size_t) t * C + 1);
#undef AS_KIND
		ser.mean = palloc(sizeof(double) * C);
		ser.std = palloc(sizeof(double) * C);
		for (int c = 0; c < C; c++)
		{
			ser.mean[c] = c == 0 ? mean : 0.0;
			ser.std[c] = c == 0 ? sd : 1.0;
		}
	}
	if (info->shape.norm == FC_NORM_LEVEL)
	{
		/* a series the model has not seen: the scale of the window's logs */
		fc_log_values(&one);
		if (k < 0)
			fc_level_stats(&one, info->shape.season);
	}
	fc_apply_stats(&one);
	fc_fill_window(&one, &ser, 0, &info->shape, x, 1, skip, K, NULL, base);
	fc_infer_windows(info->one, 1, fc_steps(&info->shape), x, skip, &length, out);

	d = palloc(sizeof(Datum) * Hz);
	for (int h = 0; h < Hz; h++)
		d[h] = Float8GetDatum(fc_denormalize(&info->shape, &ser, (double) out[h] + base[h]));
	PG_RETURN_ARRAYTYPE_P(construct_array(d, Hz, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
}
