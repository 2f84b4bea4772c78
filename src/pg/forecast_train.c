/*
 * forecast_train.c -- rnn.train_forecaster: one SQL call from a table of
 * readings to a stored forecasting model.
 *
 *   SELECT * FROM rnn.train_forecaster('temp_lstm', 'readings',
 *            time_column => 'ts', value_column => 'temp',
 *            series_column => 'sensor', window_size => 96, horizon => 24);
 *
 *    model     | version | train_mse | valid_mse | naive_valid_mse | ...
 *   -----------+---------+-----------+-----------+-----------------+----
 *    temp_lstm |       1 |    0.0213 |    0.0311 |          0.0498 | ...
 *
 * Notes:
 * 1. Each series is split in time: its last validation_fraction of points is
 *    the validation part (early stopping, metrics and the conformal interval
 *    widths); statistics come from the training part only.
 * 2. Windows are cut per series on the fly, never across two series, and
 *    never materialised: memory is the rows plus one batch.
 * 3. Nothing is stored unless training completes: a cancel, an error or a
 *    diverging loss leaves rnn.models as it was.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "pgtime.h"

#include "forecast.h"
#include "jsonb_util.h"

/*
 * Residual quantile levels stored for conformal intervals: 0.50 .. 0.99 in
 * steps of 0.01, then 0.995 and 0.999 for rnn.detect_anomalies, where 0.99
 * would flag one hourly reading in four days of a clean series.  Each
 * model stores its list (normalization.conformal_levels), so older models
 * keep theirs.
 */
#define FC_LEVEL_MIN 50
#define FC_LEVEL_MAX 99
#define FC_N_LEVELS (FC_LEVEL_MAX - FC_LEVEL_MIN + 1 + 2)

static void
fc_levels(double *levels)
{
	for (int l = FC_LEVEL_MIN; l <= FC_LEVEL_MAX; l++)
		levels[l - FC_LEVEL_MIN] = l / 100.0;
	levels[FC_N_LEVELS - 2] = 0.995;
	levels[FC_N_LEVELS - 1] = 0.999;
}
/*
 * Windows scored for the metrics, evenly spaced: training metrics are for
 * information, 20,000 windows; the validation part also gives the interval
 * widths, whose 0.99 quantile wants more, but past 100,000 windows the
 * estimates no longer move while the time (a forward pass and a sort per
 * step) still grows with the table.
 */
#define FC_METRIC_WINDOWS 20000
#define FC_VALID_METRIC_WINDOWS 100000

/* ---------------------------------------------------------------------------
 * Arguments
 */
static void
check_int_range(const char *name, int64 v, int64 lo, int64 hi)
{
	if (v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s = " INT64_FORMAT " is out of range", name, v),
				 errdetail("%s must be between " INT64_FORMAT " and " INT64_FORMAT ".",
						   name, lo, hi)));
}

static void
check_float_range(const char *name, double v, double lo, double hi, bool hi_inclusive)
{
	if (!(v >= lo && (hi_inclusive ? v <= hi : v < hi)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s = %g is out of range", name, v),
				 errdetail("%s must be at least %g and %s %g.", name, lo,
						   hi_inclusive ? "at most" : "less than", hi)));
}

RnnCellKind
rnn_parse_cell(const char *cell)
{
	if (strcmp(cell, "lstm") == 0)
		return RNN_CELL_LSTM;
	if (strcmp(cell, "gru") == 0)
		return RNN_CELL_GRU;
	if (strcmp(cell, "rnn") == 0 || strcmp(cell, "tanh") == 0)
		return RNN_CELL_TANH;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown cell \"%s\"", cell),
			 errhint("Use 'lstm', 'gru' or 'rnn'.")));
	return RNN_CELL_LSTM;
}

#define ARG_TEXT(i) (PG_ARGISNULL(i) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(i)))

static void
require_arg(FunctionCallInfo fcinfo, int i, const char *name)
{
	if (PG_ARGISNULL(i))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
}

static char **
text_array_to_cstrings(ArrayType *arr, int *n, const char *name)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", name)));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

/*
 * Split each series in time: its last validation_fraction vf of points for
 * validation.  A series too short for that still trains when it holds one
 * window (train part only, no validation windows); one shorter than a
 * window is left out of training, its statistics taken over all its points
 * (rnn.forecast pads its window, see fc_read_tail).  A NOTICE counts both;
 * an error when no series is left.
 */
static void
split_series(FcData *data, const FcShape *shape, double vf)
{
	int			W = shape->window,
				Hz = shape->horizon;
	int			n_short = 0,
				n_no_valid = 0,
				longest = 0;
	StringInfoData names;

	initStringInfo(&names);
	for (int s = 0; s < data->n_series; s++)
	{
		FcSeries   *ser = &data->series[s];
		int			n_val = (int) floor(ser->n * vf);

		longest = Max(longest, ser->n);
		ser->n_train = ser->n - n_val;
		if (ser->n_train >= W + Hz && (vf == 0 || n_val >= Hz))
			continue;
		ser->n_train = ser->n;	/* no validation part */
		if (ser->n >= W + Hz)
		{
			n_no_valid++;
			continue;
		}
		ser->left_out = true;
		if (n_short < 5)
			appendStringInfo(&names, "%s%s (%d)", n_short ? ", " : "", fc_series_name(ser->key),
							 ser->n);
		n_short++;
	}
	if (n_short == data->n_series)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no series has the %d steps a training window needs", W + Hz),
				 errdetail("A training window needs window_size + horizon = %d steps; the longest "
						   "series has %d.", W + Hz, longest),
				 errhint("Lower window_size or horizon.")));
	if (n_short > 0)
		ereport(NOTICE,
				(errmsg("%d of %d series have fewer than the %d steps a training window needs "
						"and are left out of training", n_short, data->n_series, W + Hz),
				 errdetail("%s%s.  They are still forecast, from their rows padded on the left "
						   "with their oldest value.", names.data,
						   n_short > 5 ? psprintf(" and %d more", n_short - 5) : "")));
	if (n_no_valid > 0)
		ereport(NOTICE,
				(errmsg("%d of %d series are too short for a validation part and train on all "
						"their steps", n_no_valid, data->n_series),
				 errdetail("In each of them, the last validation_fraction = %g holds fewer than "
						   "horizon = %d steps after a training window.", vf, Hz)));
}

/*
 * A seasonal model reads whole seasons, and a 'level' model's level is the
 * mean of the window's last season: the window must hold them.
 */
static void
check_season(const FcShape *shape)
{
	if ((fc_by_season(shape) || shape->norm == FC_NORM_LEVEL) && shape->season > shape->window)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size = %d is shorter than season_length = %d",
						shape->window, shape->season),
				 errdetail("%s needs at least one season in the window.",
						   shape->seasonal ? "seasonal => true" :
						   shape->season_steps ? "season_steps => true" : "normalization 'level'"),
				 errhint("Use a window_size of a few seasons, e.g. %d.", 7 * shape->season)));
	if (fc_by_season(shape) && shape->window % shape->season != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size = %d is not a multiple of season_length = %d",
						shape->window, shape->season),
				 errdetail("With %s each recurrent step reads one season.",
						   shape->seasonal ? "seasonal => true" : "season_steps => true"),
				 errhint("Use window_size => %d.",
						 Max(1, shape->window / shape->season) * shape->season)));
}

/* ---------------------------------------------------------------------------
 * The data set handed to rnn_fit: train windows, then validation windows.
 */
typedef struct FcFitData
{
	FcWindows	train;
	FcWindows	valid;
	int64		valid_used;		/* validation windows scored per epoch */
	int			skip_size;
} FcFitData;

/*
 * With batches_per_epoch (huge tables), an epoch is a sample of the training
 * windows, and scoring every validation window after each epoch would cost
 * more than the epoch itself: early stopping then uses this many validation
 * windows, evenly spaced.
 */
#define FC_SAMPLED_VALID_WINDOWS 20000

static int
fc_length(void *ctx, int example)
{
	return fc_steps(&((FcFitData *) ctx)->train.shape);
}

static RnnStatus
fc_load(void *ctx, const int *idx, int count, RnnBatchBuf *buf)
{
	FcFitData  *fd = ctx;
	const FcData *data = fd->train.data;
	int			I = fc_input_size(&fd->train.shape, data->n_channels);

	for (int b = 0; b < count; b++)
	{
		const FcWindows *w = idx[b] < fd->train.count ? &fd->train : &fd->valid;
		int64		i = idx[b] < fd->train.count ? idx[b] : idx[b] - fd->train.count;
		int			s,
					start;

		/* validation index -> evenly spaced window when they are sampled */
		if (w == &fd->valid && fd->valid_used < fd->valid.count)
			i = (int64) ((double) i * fd->valid.count / fd->valid_used);
		fc_windows_locate(w, i, &s, &start);
		buf->lengths[b] = fc_steps(&w->shape);
		fc_fill_window(data, &data->series[s], start, &w->shape,
					   buf->x + (size_t) b * I, count,
					   fd->skip_size ? buf->skip + (size_t) b * fd->skip_size : NULL,
					   fd->skip_size, buf->targets + (size_t) b * w->shape.horizon, NULL);
	}
	return RNN_OK;
}

/* ---------------------------------------------------------------------------
 * Progress
 */
typedef struct FcProgress
{
	const char *name;
	int			epochs;
	StringInfoData curve_train;
	StringInfoData curve_valid;
} FcProgress;

static void
fc_on_batch(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

static int
fc_on_epoch(void *ctx, const RnnEpochReport *r)
{
	FcProgress *p = ctx;

	rnn_report_progress("rnn.train_forecaster('%s'): epoch %d/%d, train loss %.5f, validation loss %.5f",
						p->name, r->epoch, p->epochs, r->train_loss, r->valid_loss);
	if (!rnn_progress_guc)
		return 0;
	if (isnan(r->valid_loss))
		ereport(NOTICE,
				(errmsg("%s: epoch %d/%d: train loss %.5f, %.1f s",
						p->name, r->epoch, p->epochs, r->train_loss, r->seconds)));
	else
		ereport(NOTICE,
				(errmsg("%s: epoch %d/%d: train loss %.5f, validation loss %.5f%s, %.1f s",
						p->name, r->epoch, p->epochs, r->train_loss, r->valid_loss,
						r->best_epoch == r->epoch ? " (best)" : "", r->seconds)));
	return 0;
}

/* ---------------------------------------------------------------------------
 * Metadata
 */
static Jsonb *
build_normalization(const FcData *data, const double *q, int horizon)
{
	StringInfoData b;
	int			C = data->n_channels;
	double	   *tmp = palloc(sizeof(double) * (size_t) data->n_series * C);
	double		levels[FC_N_LEVELS];

	initStringInfo(&b);
	appendStringInfo(&b, "{\"time_type\": \"%s\", \"series\": [",
					 fc_time_kind_name(data->time_kind));
	for (int s = 0; s < data->n_series; s++)
	{
		if (s > 0)
			appendStringInfoChar(&b, ',');
		escape_json(&b, data->series[s].key);
	}
	appendStringInfoString(&b, "], \"mean\": ");
	for (int s = 0; s < data->n_series; s++)
		memcpy(tmp + (size_t) s * C, data->series[s].mean, sizeof(double) * C);
	rnn_json_append_doubles(&b, tmp, (size_t) data->n_series * C);
	appendStringInfoString(&b, ", \"std\": ");
	for (int s = 0; s < data->n_series; s++)
		memcpy(tmp + (size_t) s * C, data->series[s].std, sizeof(double) * C);
	rnn_json_append_doubles(&b, tmp, (size_t) data->n_series * C);
	if (q != NULL)
	{
		fc_levels(levels);
		appendStringInfoString(&b, ", \"conformal_levels\": ");
		rnn_json_append_doubles(&b, levels, FC_N_LEVELS);
		appendStringInfoString(&b, ", \"conformal_q\": ");
		rnn_json_append_doubles(&b, q, (size_t) horizon * FC_N_LEVELS);
	}
	appendStringInfoChar(&b, '}');
	return rnn_jsonb_from_text(b.data);
}

/*
 * future_columns (fut, n) follow spec's feature columns as channels of the
 * data, counted in spec->n_future; a name that is already the value, time,
 * series or a feature column, or is given twice, is an error.
 */
static void
add_future_columns(FcSpec *spec, char **fut, int n)
{
	int			n_regular = spec->n_features;
	char	  **all;

	check_int_range("number of future_columns", n, 0, 1000);
	for (int i = 0; i < n; i++)
	{
		const char *clash = NULL;

		for (int j = 0; j < n_regular; j++)
			if (strcmp(fut[i], spec->feature_columns[j]) == 0)
				clash = "feature_columns";
		for (int j = 0; j < i; j++)
			if (strcmp(fut[i], fut[j]) == 0)
				clash = "future_columns twice";
		if (strcmp(fut[i], spec->value_column) == 0)
			clash = "value_column";
		if (strcmp(fut[i], spec->time_column) == 0)
			clash = "time_column";
		if (spec->series_column && strcmp(fut[i], spec->series_column) == 0)
			clash = "series_column";
		if (clash)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("future column \"%.64s\" is also given as %s", fut[i], clash),
					 errdetail("A future column is a covariate whose values for the forecast "
							   "steps are known; it is read once, as a future column.")));
	}
	if (n == 0)
		return;
	all = palloc(sizeof(char *) * (n_regular + n));
	for (int j = 0; j < n_regular; j++)
		all[j] = spec->feature_columns[j];
	for (int j = 0; j < n; j++)
		all[n_regular + j] = fut[j];
	spec->feature_columns = all;
	spec->n_features = n_regular + n;
	spec->n_future = n;
}

/*
 * Split-conformal widths: for each step h and level l, a quantile of the
 * absolute validation residuals (z-units) in which every series weighs
 * alike, whatever its number of validation windows: the smallest residual
 * r with weight(residuals <= r) >= min(1, l (m + 1) / m) of the total,
 * m = (sum w)^2 / sum w^2 the effective number of residuals (Kish); with
 * as many windows in every series, the ceil((n + 1) l)-th smallest of the
 * n residuals, as unweighted; with too few for a level, the largest.
 * Pooled by window instead, a table of long and short series gets the
 * widths of its long ones, which hold more validation windows: on M4
 * Hourly (20 windows a 960-hour series, 2 a 700-hour one) the 80%
 * interval then held 59% of the short series' validation hours.
 */
typedef struct FcResid
{
	float		r;
	float		w;
} FcResid;

static int
cmp_resid(const void *a, const void *b)
{
	float		x = ((const FcResid *) a)->r,
				y = ((const FcResid *) b)->r;

	return x < y ? -1 : x > y;
}

static double *
conformal_quantiles(const float *resid, int64 n, int horizon, const FcWindows *w)
{
	int			nl = FC_N_LEVELS;
	double	   *q = palloc(sizeof(double) * horizon * nl);
	FcResid    *col = palloc(sizeof(FcResid) * n);
	float	   *wt = palloc(sizeof(float) * n);
	int		   *ser = palloc(sizeof(int) * n);
	int		   *per = palloc0(sizeof(int) * Max(w->data->n_series, 1));
	double		levels[FC_N_LEVELS];
	double		sw = 0.0,
				sw2 = 0.0,
				m;

	fc_levels(levels);
	/* residual i is of window fc_windows_sample(w, n, i) (fc_score_windows) */
	for (int64 i = 0; i < n; i++)
	{
		int			start;

		fc_windows_locate(w, fc_windows_sample(w, n, i), &ser[i], &start);
		per[ser[i]]++;
	}
	for (int64 i = 0; i < n; i++)
	{
		wt[i] = 1.0f / per[ser[i]];
		sw += wt[i];
		sw2 += (double) wt[i] * wt[i];
	}
	m = sw * sw / sw2;

	for (int h = 0; h < horizon; h++)
	{
		double		total = 0.0,
					cum = 0.0;
		int64		k = 0,
					nh = 0;

		/* a filled target has no residual (NaN): not an observation */
		for (int64 i = 0; i < n; i++)
		{
			if (isnan(resid[i * horizon + h]))
				continue;
			col[nh].r = resid[i * horizon + h];
			col[nh].w = wt[i];
			total += wt[i];
			nh++;
		}
		if (nh == 0)
		{
			/* every target of this step filled: the step before's widths */
			for (int l = 0; l < nl; l++)
				q[h * nl + l] = h > 0 ? q[(h - 1) * nl + l] : 0.0;
			continue;
		}
		qsort(col, nh, sizeof(FcResid), cmp_resid);
		/* levels ascend: one walk up the sorted residuals serves them all */
		for (int l = 0; l < nl; l++)
		{
			double		need = Min(1.0, levels[l] * (m + 1) / m) * total * (1 - 1e-9);

			while (k < nh - 1 && cum + col[k].w < need)
				cum += col[k++].w;
			q[h * nl + l] = col[k].r;
		}
	}
	pfree(col);
	pfree(wt);
	pfree(ser);
	pfree(per);
	return q;
}

static void
append_metric(StringInfo b, const char *key, double v, bool comma)
{
	if (comma)
		appendStringInfoString(b, ", ");
	appendStringInfo(b, "\"%s\": ", key);
	if (isfinite(v))
		appendStringInfo(b, "%.17g", v);
	else
		appendStringInfoString(b, "null");
}

/* ---------------------------------------------------------------------------
 * rnn.train_forecaster
 */
PG_FUNCTION_INFO_V1(rnn_train_forecaster);
Datum
rnn_train_forecaster(PG_FUNCTION_ARGS)
{
	MemoryContext cxt,
				old;
	FcSpec		spec;
	FcShape		shape;
	FcData		data;
	FcFitData	fd;
	RnnConfig	cfg;
	RnnFitOptions fo;
	RnnFitResult fr;
	RnnModel   *model;
	FcMetrics	mt,
				mv;
	FcProgress	prog;
	char	   *name,
			   *cell_name,
			   *missing,
			   *normalize;
	int			hidden,
				layers,
				window,
				horizon,
				epochs,
				batch,
				patience,
				season,
				bpe;
	double		dropout,
				lr,
				vf,
				clip;
	int64		seed;
	bool		linear_skip,
				seasonal,
				warm,
				train_linear,
				season_steps;
	int32		warm_version;
	bool		cal_auto = false;
	int			n_regular;
	FcWarmStart *ws = NULL;
	FcNorm		norm;
	float	   *resid = NULL;
	int64		n_resid = 0;
	double	   *q = NULL;
	uint8_t    *blob;
	size_t		blob_len;
	bytea	   *weights;
	RnnStoreRequest req;
	StringInfoData hp,
				met,
				curve;
	int32		version;
	TupleDesc	desc;
	Datum		values[15];
	bool		nulls[15];
	int64		rows = 0;
	Size		need;

	for (int i = 0; i < 4; i++)
		require_arg(fcinfo, i, i == 0 ? "model_name" : i == 1 ? "relation" :
					i == 2 ? "time_column" : "value_column");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	name = ARG_TEXT(0);
	rnn_check_model_name(name);

	memset(&spec, 0, sizeof(spec));
	spec.relid = PG_GETARG_OID(1);
	spec.time_column = ARG_TEXT(2);
	spec.value_column = ARG_TEXT(3);
	spec.series_column = ARG_TEXT(4);
	if (!PG_ARGISNULL(5))
		spec.feature_columns = text_array_to_cstrings(PG_GETARG_ARRAYTYPE_P(5),
													  &spec.n_features, "feature_columns");
	cell_name = PG_ARGISNULL(6) ? "lstm" : ARG_TEXT(6);
	hidden = PG_ARGISNULL(7) ? 64 : PG_GETARG_INT32(7);
	layers = PG_ARGISNULL(8) ? 1 : PG_GETARG_INT32(8);
	dropout = PG_ARGISNULL(9) ? 0.0 : PG_GETARG_FLOAT8(9);
	window = PG_ARGISNULL(10) ? 96 : PG_GETARG_INT32(10);
	horizon = PG_ARGISNULL(11) ? 24 : PG_GETARG_INT32(11);
	epochs = PG_ARGISNULL(12) ? 30 : PG_GETARG_INT32(12);
	batch = PG_ARGISNULL(13) ? 64 : PG_GETARG_INT32(13);
	lr = PG_ARGISNULL(14) ? 1e-3 : PG_GETARG_FLOAT8(14);
	vf = PG_ARGISNULL(15) ? 0.2 : PG_GETARG_FLOAT8(15);
	patience = PG_ARGISNULL(16) ? 5 : PG_GETARG_INT32(16);
	seed = PG_ARGISNULL(17) ? 42 : PG_GETARG_INT64(17);
	missing = PG_ARGISNULL(18) ? "error" : ARG_TEXT(18);
	normalize = PG_ARGISNULL(19) ? "window" : ARG_TEXT(19);
	linear_skip = PG_ARGISNULL(20) ? true : PG_GETARG_BOOL(20);
	season = PG_ARGISNULL(21) ? 0 : PG_GETARG_INT32(21);
	bpe = PG_ARGISNULL(22) ? 0 : PG_GETARG_INT32(22);
	clip = PG_ARGISNULL(23) ? 1.0 : PG_GETARG_FLOAT8(23);
	/*
	 * Arguments added after 0.1: a database not yet updated calls this with
	 * the older declaration, whose calls carry fewer arguments.
	 */
#define ARG_ABSENT(i) (PG_NARGS() <= (i) || PG_ARGISNULL(i))
	seasonal = ARG_ABSENT(24) ? false : PG_GETARG_BOOL(24);
	warm = ARG_ABSENT(25) ? false : PG_GETARG_BOOL(25);
	warm_version = ARG_ABSENT(26) ? 0 : PG_GETARG_INT32(26);
	if (!ARG_ABSENT(26))
	{
		check_int_range("warm_start_version", warm_version, 1, PG_INT32_MAX);
		warm = true;			/* a version to start from implies a warm start */
	}
	train_linear = ARG_ABSENT(29) ? true : PG_GETARG_BOOL(29);
	season_steps = ARG_ABSENT(30) ? false : PG_GETARG_BOOL(30);
	/* calendar inputs and known-future columns (forecast_known.c) */
	n_regular = spec.n_features;
	if (!ARG_ABSENT(27))
	{
		int			n;
		char	  **names = text_array_to_cstrings(PG_GETARG_ARRAYTYPE_P(27), &n,
												   "calendar_inputs");

		fc_calendar_parse(names, n, &spec.calendar, &cal_auto);
	}
	if (!ARG_ABSENT(28))
	{
		int			n;
		char	  **fut = text_array_to_cstrings(PG_GETARG_ARRAYTYPE_P(28), &n,
												 "future_columns");

		add_future_columns(&spec, fut, n);
	}

	rnn_parse_cell(cell_name);
	check_int_range("hidden_size", hidden, 1, RNN_MAX_HIDDEN);
	check_int_range("num_layers", layers, 1, RNN_MAX_LAYERS);
	check_float_range("dropout", dropout, 0.0, 1.0, false);
	check_int_range("window_size", window, 1, 100000);
	check_int_range("horizon", horizon, 1, 10000);
	check_int_range("epochs", epochs, 0, 100000);
	if (epochs == 0 && !linear_skip && !seasonal && !warm)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epochs = 0 needs linear_skip or seasonal"),
				 errdetail("With no training, only the closed-form linear path has weights "
						   "(or, seasonal, the seasonal-naive start).")));
	if (!train_linear && !linear_skip && spec.n_future == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("train_linear = false needs a linear path"),
				 errdetail("With linear_skip = false and no future_columns the model has no "
						   "linear path to keep."),
				 errhint("Leave train_linear at true, or pass linear_skip => true.")));
	check_int_range("batch_size", batch, 1, 65536);
	check_float_range("learning_rate", lr, 1e-12, 10.0, true);
	check_float_range("validation_fraction", vf, 0.0, 0.9, true);
	check_int_range("patience", patience, 0, 100000);
	check_int_range("season_length", season, 0, 100000);
	check_int_range("batches_per_epoch", bpe, 0, 100000000);
	check_float_range("clip_norm", clip, 0.0, 1e6, true);
	check_int_range("number of feature_columns", n_regular, 0, 1000);
	if (strcmp(missing, "error") == 0)
		spec.missing = FC_MISSING_ERROR;
	else if (strcmp(missing, "interpolate") == 0)
		spec.missing = FC_MISSING_INTERPOLATE;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown missing value rule \"%s\"", missing),
				 errhint("Use 'error' or 'interpolate'.")));
	if (strcmp(normalize, "window") == 0)
		norm = FC_NORM_WINDOW;
	else if (strcmp(normalize, "series") == 0)
		norm = FC_NORM_SERIES;
	else if (strcmp(normalize, "level") == 0)
		norm = FC_NORM_LEVEL;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown normalization \"%s\"", normalize),
				 errhint("Use 'window' (subtract each window's last value, the default), "
						 "'series' (z-score only) or 'level' (log values over the level of "
						 "the window's last season).")));

	rnn_require_blas();

	/* everything below lives in one context, freed on success and on error */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "rnn train_forecaster",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	/*
	 * 0. warm start: the stored model, checked against the arguments before
	 * a row is read; its calendar step is the one the rows must have
	 * (forecast_warm.c).
	 */
	if (warm)
	{
		FcShape		given;

		ws = fc_warm_load(name, warm_version);
		given.window = window;
		given.horizon = horizon;
		given.norm = norm;
		given.seasonal = seasonal;
		given.season_steps = season_steps;
		given.season = season;
		given.n_known = 0;
		/* 'auto' calendar inputs as they were for the stored model's step */
		fc_calendar_resolve(&spec.calendar, &cal_auto, ws->step_time_kind, &ws->step);
		fc_warm_check(ws, rnn_parse_cell(cell_name), hidden, layers, linear_skip, &given,
					  &spec, season);
		spec.step = ws->step;
		spec.step_time_kind = ws->step_time_kind;
	}

	/* 1. read */
	fc_read(&spec, &data);
	if (data.n_series == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("relation %s has no rows to train on", get_rel_name(spec.relid))));
	/* calendar inputs from each row's time, in the session's time zone */
	fc_calendar_resolve(&spec.calendar, &cal_auto, data.time_kind, &data.step);
	if (spec.calendar.n > 0 && data.time_kind == FC_TIME_TIMESTAMPTZ)
	{
		/* a warm start keeps the stored model's zone */
		spec.calendar.zone = ws && ws->calendar.zone ? pstrdup(ws->calendar.zone) :
			pstrdup(pg_get_timezone_name(session_timezone));
		spec.calendar.tz = NULL;
		fc_calendar_load_zone(&spec.calendar);
	}
	fc_add_known(&data, &spec);
	shape.window = window;
	shape.horizon = horizon;
	shape.norm = norm;
	shape.seasonal = seasonal;
	shape.season_steps = season_steps;
	shape.season = season > 0 ? season : fc_default_season(data.time_kind, &data.step, horizon);
	shape.n_known = spec.n_future;
	check_season(&shape);

	/* 2. split each series in time; short series leave training */
	rows = data.n_rows;
	split_series(&data, &shape, vf);
	fc_compute_stats(&data);
	if (norm == FC_NORM_LEVEL)
	{
		fc_log_values(&data);
		fc_level_stats(&data, shape.season);
	}
	if (ws != NULL)
	{
		int			known = fc_warm_stats(ws, &data);

		ereport(NOTICE,
				(errmsg("%s: warm start from version %d, whose statistics %d of the %d series keep",
						name, ws->version, known, data.n_series),
				 known < data.n_series ?
				 errdetail("The other %d, new to the model, are scaled by their own training part.",
						   data.n_series - known) : 0));
	}
	fc_apply_stats(&data);

	/* 3. model */
	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = rnn_parse_cell(cell_name);
	cfg.num_layers = layers;
	cfg.input_size = fc_input_size(&shape, data.n_channels);
	cfg.hidden_size = hidden;
	cfg.output_size = horizon;
	cfg.head = RNN_HEAD_REGRESSION;
	cfg.pooling = RNN_POOL_LAST;
	/* the value's lags (the linear path), then the future columns of each
	 * forecast step */
	cfg.skip_size = (linear_skip ? window : 0) + horizon * spec.n_future;
	cfg.dropout = (float) dropout;
	if (ws != NULL)
		fc_warm_check_model(ws, &shape, &cfg);

	need = rnn_fit_memory(&cfg, batch, fc_steps(&shape));
	if (need == SIZE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model is too large: hidden_size %d, window_size %d, batch_size %d",
						hidden, window, batch)));
	need += sizeof(float) * data.n_points * data.n_channels +
		sizeof(float) * rnn_param_count(&cfg) * (seasonal ? 3 : 1);	/* + averaging */
	/* the ridge start: two Gram matrices, a factor and a float product */
	if (cfg.skip_size > 0)
		need += (3 * sizeof(double) + sizeof(float)) * (Size) (cfg.skip_size + 1) *
			(cfg.skip_size + 1);
	rnn_check_train_memory(need, "training this forecaster");

	fc_windows_init(&fd.train, &data, &shape, FC_WINDOWS_TRAIN);
	fc_windows_init(&fd.valid, &data, &shape, vf > 0 ? FC_WINDOWS_VALID : FC_WINDOWS_TRAIN);
	if (vf == 0)
		fd.valid.count = 0;
	fd.skip_size = cfg.skip_size;
	if (fd.train.count > INT_MAX / 2 || fd.valid.count > INT_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many training windows (" INT64_FORMAT ")",
						fd.train.count + fd.valid.count),
				 errhint("Pass batches_per_epoch to sample windows, or train on fewer rows.")));

	rnn_check_status(rnn_model_create(&model, &cfg), "could not create the model");
	rnn_model_init(model, (uint64_t) seed);
	if (ws != NULL)
		fc_warm_params(ws, model);	/* the stored weights are the start */
	else
	{
		/* a seasonal model starts as the seasonal-naive forecast */
		if (seasonal)
		{
			memset(model->p.head_w, 0, sizeof(float) * horizon * rnn_feature_size(&cfg));
			memset(model->p.head_b, 0, sizeof(float) * horizon);
		}
		if (cfg.skip_size > 0)
			fc_fit_linear(model, &fd.train, &fd.valid, NULL);
	}

	/* 4. fit */
	{
		RnnDataset	ds;

		memset(&ds, 0, sizeof(ds));
		ds.ctx = &fd;
		ds.n_train = (int) fd.train.count;
		fd.valid_used = bpe > 0 ? Min(fd.valid.count, FC_SAMPLED_VALID_WINDOWS) : fd.valid.count;
		ds.n_valid = (int) fd.valid_used;
		ds.max_steps = fc_steps(&shape);
		ds.length = fc_length;
		ds.load = fc_load;

		rnn_fit_defaults(&fo);
		fo.epochs = epochs;
		fo.batch_size = batch;
		fo.patience = patience;
		fo.batches_per_epoch = bpe;
		fo.length_buckets = 0;
		fo.seed = (uint64_t) seed;
		fo.optim.learning_rate = (float) lr;
		fo.optim.clip_norm = (float) clip;
		/*
		 * A seasonal model (test/bench/run m4 --validate, M4 Hourly, each
		 * chosen on the last 48 hours of the training file):
		 * - keeps the moving average of its weights over about the last epoch
		 *   (decay 1 - 1 / batches an epoch), validated and stored in their
		 *   place: one network, an ensemble of the last ~1,000 steps' weights;
		 * - trains on absolute errors (log ratios over the scale), the
		 *   forecast of a median, as sMAPE and MASE judge it and as the
		 *   conformal widths (quantiles of absolute residuals) measure it.
		 * Validation OWA (test/bench/m4_engine.sh, 40 epochs): 0.458 raw
		 * weights, MSE; 0.439 averaged, MSE; 0.429 averaged, absolute errors.
		 */
		/*
		 * train_linear => false: the linear path (the head's bias and the
		 * skip weights, last in the flat layout) stays at its start, the
		 * ridge solution or the stored weights; epochs move the recurrent
		 * network and the head's weights only, so they learn what the
		 * linear forecast misses instead of moving it (Adam steps every
		 * skip weight by about the learning rate, whatever its gradient).
		 */
		if (!train_linear)
			fo.optim.frozen_suffix = model->n_params - (size_t) (model->p.head_b - model->params);
		if (seasonal)
		{
			double		nb = bpe > 0 ? bpe : ceil((double) fd.train.count / batch);

			fo.average_decay = (float) (1.0 - 1.0 / Max(nb, 1.0));
			fo.l1_loss = 1;
		}
		prog.name = name;
		prog.epochs = epochs;
		fo.cb_ctx = &prog;
		fo.on_batch = fc_on_batch;
		fo.on_epoch = fc_on_epoch;

		memset(&fr, 0, sizeof(fr));
		fr.train_curve = palloc(sizeof(double) * Max(epochs, 1));
		fr.valid_curve = palloc(sizeof(double) * Max(epochs, 1));
		/* epochs = 0: the ridge-started linear forecaster alone (warm: the
		 * stored model, with new intervals) */
		if (epochs > 0)
			rnn_check_status(rnn_fit(model, &ds, &fo, &fr), "training failed");
		rnn_progress_done();
	}

	/* 5. metrics on the original scale, baselines on the same windows */
	fc_score_windows(model, &fd.train, FC_METRIC_WINDOWS, &mt, NULL, NULL);
	memset(&mv, 0, sizeof(mv));
	if (fd.valid.count > 0)
	{
		fc_score_windows(model, &fd.valid, FC_VALID_METRIC_WINDOWS, &mv, &resid, &n_resid);
		q = conformal_quantiles(resid, n_resid, horizon, &fd.valid);
	}

	/* 6. store */
	rnn_check_status(rnn_model_encode(model, &blob, &blob_len), "could not encode the model");
	weights = palloc(VARHDRSZ + blob_len);
	SET_VARSIZE(weights, VARHDRSZ + blob_len);
	memcpy(VARDATA(weights), blob, blob_len);

	initStringInfo(&hp);
	appendStringInfoString(&hp, "{\"relation\": ");
	escape_json(&hp, quote_qualified_identifier(get_namespace_name(get_rel_namespace(spec.relid)),
												get_rel_name(spec.relid)));
	appendStringInfoString(&hp, ", \"time_column\": ");
	escape_json(&hp, spec.time_column);
	appendStringInfoString(&hp, ", \"value_column\": ");
	escape_json(&hp, spec.value_column);
	appendStringInfoString(&hp, ", \"series_column\": ");
	if (spec.series_column)
		escape_json(&hp, spec.series_column);
	else
		appendStringInfoString(&hp, "null");
	appendStringInfoString(&hp, ", \"feature_columns\": [");
	for (int i = 0; i < n_regular; i++)
	{
		if (i)
			appendStringInfoChar(&hp, ',');
		escape_json(&hp, spec.feature_columns[i]);
	}
	appendStringInfo(&hp, "], \"cell\": \"%s\", \"hidden_size\": %d, \"num_layers\": %d, "
					 "\"dropout\": %g, \"window_size\": %d, \"horizon\": %d, "
					 "\"epochs\": %d, \"batch_size\": %d, \"learning_rate\": %g, "
					 "\"validation_fraction\": %g, \"patience\": %d, \"seed\": " INT64_FORMAT ", "
					 "\"missing\": \"%s\", \"normalize\": \"%s\", \"linear_skip\": %s, "
					 "\"season_length\": %d, \"batches_per_epoch\": %d, \"clip_norm\": %g, "
					 "\"seasonal\": %s",
					 rnn_cell_name(cfg.cell), hidden, layers, dropout, window, horizon,
					 epochs, batch, lr, vf, patience, seed, missing, normalize,
					 linear_skip ? "true" : "false", shape.season, bpe, clip,
					 seasonal ? "true" : "false");
	/* the calendar step, readable and as the interval's fields */
	appendStringInfoString(&hp, ", \"step\": ");
	escape_json(&hp, fc_step_text(data.time_kind, &data.step));
	appendStringInfo(&hp, ", \"step_months\": %d, \"step_days\": %d, \"step_usecs\": " INT64_FORMAT,
					 data.step.months, data.step.days, data.step.usecs);
	/* only when used: other models' hyperparams are as before */
	if (spec.n_future > 0)
	{
		appendStringInfoString(&hp, ", \"future_columns\": [");
		for (int i = 0; i < spec.n_future; i++)
		{
			if (i)
				appendStringInfoChar(&hp, ',');
			escape_json(&hp, spec.feature_columns[n_regular + i]);
		}
		appendStringInfoChar(&hp, ']');
	}
	if (spec.calendar.n > 0)
	{
		appendStringInfoString(&hp, ", \"calendar_inputs\": [");
		for (int i = 0; i < spec.calendar.n; i++)
			appendStringInfo(&hp, "%s\"%s\"", i ? "," : "",
							 fc_calendar_name(spec.calendar.kind[i]));
		appendStringInfoString(&hp, "], \"calendar_time_zone\": ");
		if (spec.calendar.zone)
			escape_json(&hp, spec.calendar.zone);
		else
			appendStringInfoString(&hp, "null");
	}
	if (!train_linear)
		appendStringInfoString(&hp, ", \"train_linear\": false");
	if (season_steps)
		appendStringInfoString(&hp, ", \"season_steps\": true");
	/* only when warm: a cold model's hyperparams are as before */
	if (ws != NULL)
		appendStringInfo(&hp, ", \"warm_start_version\": %d", ws->version);
	appendStringInfoChar(&hp, '}');

	initStringInfo(&met);
	appendStringInfo(&met, "{\"train_windows\": " INT64_FORMAT ", \"valid_windows\": " INT64_FORMAT,
					 fd.train.count, fd.valid.count);
#define PER(m, f) ((m).values > 0 ? (m).f / (double) (m).values : NAN)
	append_metric(&met, "train_mse", PER(mt, sse), true);
	append_metric(&met, "train_mae", PER(mt, sae), true);
	append_metric(&met, "valid_mse", PER(mv, sse), true);
	append_metric(&met, "valid_mae", PER(mv, sae), true);
	append_metric(&met, "valid_mse_normalized", PER(mv, sse_z), true);
	append_metric(&met, "valid_mae_normalized", PER(mv, sae_z), true);
	append_metric(&met, "naive_valid_mse", PER(mv, naive_sse), true);
	append_metric(&met, "naive_valid_mae", PER(mv, naive_sae), true);
	append_metric(&met, "seasonal_valid_mse", PER(mv, seas_sse), true);
	append_metric(&met, "seasonal_valid_mae", PER(mv, seas_sae), true);
	append_metric(&met, "epochs_run", fr.epochs_run, true);
	append_metric(&met, "best_epoch", fr.best_epoch, true);
	append_metric(&met, "seconds", fr.seconds, true);
	appendStringInfoChar(&met, '}');

	initStringInfo(&curve);
	appendStringInfoString(&curve, "{\"train\": ");
	rnn_json_append_doubles(&curve, fr.train_curve, fr.epochs_run);
	appendStringInfoString(&curve, ", \"valid\": ");
	rnn_json_append_doubles(&curve, fr.valid_curve, fr.epochs_run);
	appendStringInfoChar(&curve, '}');

	memset(&req, 0, sizeof(req));
	req.name = name;
	req.kind = RNN_KIND_FORECASTER;
	req.cell = rnn_cell_name(cfg.cell);
	req.hyperparams = rnn_jsonb_from_text(hp.data);
	req.normalization = build_normalization(&data, q, horizon);
	req.metrics = rnn_jsonb_from_text(met.data);
	req.loss_curve = rnn_jsonb_from_text(curve.data);
	req.source_relation = get_rel_name(spec.relid);
	req.source_rows = rows;
	req.weights = weights;
	version = rnn_store_model(&req, NULL);

	/* 7. the result row, built in the caller's context */
	MemoryContextSwitchTo(old);
	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
#define METRIC(i, v) do { double _v = (v); values[i] = Float8GetDatum(_v); nulls[i] = isnan(_v); } while (0)
	METRIC(2, PER(mt, sse));
	METRIC(3, PER(mt, sae));
	METRIC(4, PER(mv, sse));
	METRIC(5, PER(mv, sae));
	METRIC(6, PER(mv, naive_sse));
	METRIC(7, PER(mv, naive_sae));
	METRIC(8, PER(mv, seas_sse));
	METRIC(9, PER(mv, seas_sae));
#undef METRIC
#undef PER
	values[10] = Int32GetDatum(fr.epochs_run);
	values[11] = Int32GetDatum(fr.best_epoch);
	values[12] = Float8GetDatum(fr.seconds);
	values[13] = Int32GetDatum(data.n_series);
	values[14] = Int64GetDatum(fd.train.count);
	MemoryContextDelete(cxt);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
