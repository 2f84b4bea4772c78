/*
 * forecast.h -- time-series forecasting on ordered table rows.
 *
 * forecast_data.c  reads series through SPI (with the caller's rights),
 *                  validates columns, time steps and missing values, keeps
 *                  per-series statistics and cuts windows on the fly;
 * forecast_calendar.c  a series' step as a calendar interval (minutes to
 *                  years) and the position of each time on it;
 * forecast_train.c rnn.train_forecaster;
 * forecast_score.c rnn.forecast, rnn.predict_next, rnn.evaluate;
 * forecast_known.c inputs known for the forecast steps too: calendar inputs
 *                  (from each row's time) and future_columns (read for the
 *                  horizon from a relation of planned values).
 *
 * What the network sees (per-window normalization, the default): each
 * value is z-scored with its series' training statistics, then the window's
 * last value is subtracted from the target channel, and the network predicts
 * the next `horizon` values as offsets from that last value (direct
 * multi-horizon head, plus a linear skip path over the window).  A series
 * whose level drifts away from its training range is still forecast
 * sensibly, and an untrained network starts as the naive forecast.
 */
#ifndef RNN_FORECAST_H
#define RNN_FORECAST_H

#include <math.h>

#include "rnn_ext.h"

/* Kinds of time column, all read as int64. */
typedef enum FcTimeKind
{
	FC_TIME_TIMESTAMP,			/* microseconds */
	FC_TIME_TIMESTAMPTZ,		/* microseconds */
	FC_TIME_DATE,				/* days, converted to microseconds */
	FC_TIME_INTEGER				/* plain numbers, step in the same unit */
} FcTimeKind;

typedef enum FcMissing
{
	FC_MISSING_ERROR,			/* NULL/NaN/Infinity value or a missing step:
								 * error naming the series and time */
	FC_MISSING_INTERPOLATE		/* linear between neighbours, nearest at the ends */
} FcMissing;

/*
 * A time step as PostgreSQL's interval arithmetic adds it: calendar months,
 * local calendar days (timestamptz only) or microseconds; exactly one is
 * non-zero once known.  For integer times, usecs is the step in the column's
 * own unit.  Time k of a series is anchor + k * step (fc_time_at).
 */
typedef struct FcStep
{
	int32		months;
	int32		days;
	int64		usecs;
} FcStep;

static inline bool
fc_step_known(const FcStep *step)
{
	return step->months != 0 || step->days != 0 || step->usecs != 0;
}

/*
 * Calendar inputs: each one a phase in [0, 1) of a calendar cycle, given to
 * the network as its sine and cosine (two channels).
 */
typedef enum FcCalKind
{
	FC_CAL_MINUTE_OF_HOUR,
	FC_CAL_HOUR_OF_DAY,
	FC_CAL_DAY_OF_WEEK,
	FC_CAL_DAY_OF_MONTH,
	FC_CAL_DAY_OF_YEAR,
	FC_CAL_MONTH,
	FC_CAL_QUARTER,
	FC_CAL_N_KINDS
} FcCalKind;

typedef struct FcCalendar
{
	int			n;				/* inputs; 2n channels */
	FcCalKind	kind[FC_CAL_N_KINDS];
	char	   *zone;			/* timestamptz: the time zone of the fields
								 * (the training session's); NULL otherwise */
	struct pg_tz *tz;			/* zone, loaded */
} FcCalendar;

/* Which columns of which relation, and how to read them. */
typedef struct FcSpec
{
	Oid			relid;
	char	   *time_column;
	char	   *value_column;
	char	   *series_column;	/* NULL: one series */
	int			n_features;		/* covariates read: feature_columns, then the
								 * n_future future_columns */
	char	  **feature_columns;
	int			n_future;		/* the last n_future of feature_columns are
								 * known for the forecast steps */
	FcCalendar	calendar;		/* calendar inputs (n = 0: none) */
	FcMissing	missing;
	FcStep		step;			/* the model's step; zero: detect from the rows */
	FcTimeKind	step_time_kind; /* the time type the model's step is of */
} FcSpec;

/* One series, values z-scored in place once statistics are known. */
typedef struct FcSeries
{
	char	   *key;			/* series value as text ("" for one series) */
	int			n;				/* points, one a step (missing steps filled) */
	size_t		first;			/* index of its first point in FcData.values */
	int64		anchor;			/* time of calendar index 0: its first row */
	int64		last_k;			/* calendar index of its last point */
	int			n_train;		/* points in the training part */
	bool		left_out;		/* too short for a training window: no windows */
	double	   *mean;			/* (1 + n_features) */
	double	   *std;			/* (1 + n_features) */
} FcSeries;

typedef struct FcData
{
	int			n_channels;		/* 1 + n_features */
	int			n_series;
	FcSeries   *series;
	float	   *values;			/* (total points, n_channels) */
	bool	   *filled;			/* (total points) value interpolated, or NULL:
								 * none (fc_read only) */
	size_t		n_points;
	int64		n_rows;			/* rows read */
	FcTimeKind	time_kind;
	FcStep		step;			/* one for all series; zero when no series has two rows */
	bool		stats_ready;	/* series' mean/std already set (fc_read_tail) */

	/*
	 * Known inputs (forecast_known.c): the last n_known channels are the
	 * future columns (first_future .. ) and then the calendar channels
	 * (2 * cal->n, from first_calendar); mean 0 and std 1 for the calendar.
	 */
	int			n_known;
	int			first_future;
	int			first_calendar; /* n_channels when there are none */
	const FcCalendar *cal;
	float	   *future;			/* rnn.forecast: (n_series, horizon,
								 * n_future) future values after each
								 * series' last point, z-scored; NULL: past
								 * the last point they repeat it */
	int			future_horizon;
} FcData;

/* Read every series of spec, ordered by (series, time).  Checks columns,
 * duplicate and irregular timestamps, missing values. */
void		fc_read(const FcSpec *spec, FcData *data);

/* Read only the newest `keep` steps of every series, in one unordered scan
 * (no sort, memory `keep` rows a series).  Spacing and duplicates are
 * checked, and missing values interpolated, within those rows; mean/std of
 * each series come from all its rows (stats_ready).  pad: a series with
 * fewer steps is padded on the left with its oldest value to `keep`. */
void		fc_read_tail(const FcSpec *spec, int keep, bool pad, FcData *data);

/* Statistics from the first n_train points of each series (all when n_train
 * is n); a constant channel gets std 1.  Then z-score values in place. */
void		fc_compute_stats(FcData *data);
void		fc_apply_stats(FcData *data);

/* What a window's values are taken relative to (normalization => ...) */
typedef enum FcNorm
{
	FC_NORM_SERIES,				/* 'series': z-scores as they are */
	FC_NORM_WINDOW,				/* 'window': minus the window's last value */
	FC_NORM_LEVEL				/* 'level': log values minus the log of the mean
								 * of the window's last season (positive data) */
} FcNorm;

/* Window geometry and the model's options, as stored in hyperparams. */
typedef struct FcShape
{
	int			window;
	int			horizon;
	int			season;			/* seasonal-naive period, in steps */
	FcNorm		norm;
	bool		seasonal;		/* recur over seasons (window / season steps of
								 * season values) and predict a correction to
								 * the seasonal-naive forecast */
	bool		season_steps;	/* recur over seasons only: the outputs are
								 * added to the window's reference as without
								 * seasonal (season_steps => true) */
	int			n_known;		/* future columns: their values at the
								 * horizon steps follow the lags in the skip
								 * input, horizon * n_known */
} FcShape;

/* Whether a recurrent step reads a whole season */
static inline bool
fc_by_season(const FcShape *shape)
{
	return shape->seasonal || shape->season_steps;
}

/* Recurrent steps of a window, and values a step (the network's input_size) */
static inline int
fc_steps(const FcShape *shape)
{
	return fc_by_season(shape) ? shape->window / shape->season : shape->window;
}

static inline int
fc_input_size(const FcShape *shape, int n_channels)
{
	return fc_by_season(shape) ? shape->season * n_channels : n_channels;
}

/*
 * Fill one example: x (fc_steps, fc_input_size) at row stride ldx (for
 * packed batches: the batch size), skip (skip_size) the last values of
 * channel 0 then the future columns at each forecast step (fc_future_at), target (horizon) in network units; base (horizon) gets what the
 * network's output at each step is added to: the window's reference
 * (normalization) or, when seasonal, the value one season earlier.
 * start is the index (within the series) of the window's first point.
 */
void		fc_fill_window(const FcData *data, const FcSeries *s, int start,
						   const FcShape *shape, float *x, int ldx, float *skip,
						   int skip_size, float *target, float *base);

/*
 * normalization => 'level': channel 0 becomes log values (an error naming
 * the series for a value <= 0), scaled by the square root of their mean
 * absolute change over one season, d, in the first n_train of them (no
 * shift: a log value is already relative): z = log(x) / sqrt(d).  Halfway
 * between the two ways forecasts of many series are judged: unscaled log
 * errors weigh every series' relative errors alike (as sMAPE does), errors
 * divided by d weigh them against each series' own seasonal change (as
 * MASE does).  On M4 Hourly (a PyTorch model of this GRU, 20,000 batches,
 * scored on the last 48 hours of the training file) d^p for p = 0.25, 0.5,
 * 0.75, 1 gave validation OWA 0.483, 0.450, 0.448, 0.476.
 * After fc_compute_stats (features keep theirs), before fc_apply_stats.
 */
void		fc_log_values(FcData *data);
void		fc_level_stats(FcData *data, int season);

/* Which windows of each series: training part, validation part, or all. */
typedef enum FcWhich
{
	FC_WINDOWS_TRAIN,			/* targets inside the first n_train points */
	FC_WINDOWS_VALID,			/* targets inside the last n - n_train points */
	FC_WINDOWS_ALL				/* every window, stride 1 */
} FcWhich;

typedef struct FcWindows
{
	const FcData *data;
	FcShape		shape;
	int64	   *cum;			/* (n_series + 1) windows before series s */
	int		   *first_start;	/* (n_series) start of series s's first window */
	int64		count;
} FcWindows;

void		fc_windows_init(FcWindows *w, const FcData *data, const FcShape *shape,
							FcWhich which);
void		fc_windows_locate(const FcWindows *w, int64 i, int *series, int *start);
int64		fc_windows_sample(const FcWindows *w, int64 n, int64 j);

/* Errors summed over windows: original units and series z-units. */
typedef struct FcMetrics
{
	int64		windows;
	int64		values;			/* targets scored: windows * horizon less the
								 * ones missing => 'interpolate' filled */
	double		sse,
				sae,
				sse_z,
				sae_z;			/* the model */
	double		naive_sse,
				naive_sae,
				naive_sse_z,
				naive_sae_z;	/* last value */
	double		seas_sse,
				seas_sae,
				seas_sse_z,
				seas_sae_z;		/* value one season earlier */
} FcMetrics;

/*
 * Score windows with the model: at most max_windows of them, evenly spaced
 * (0 = all).  When resid is non-NULL it receives |error| in z-units,
 * (windows used, horizon), NaN at a filled target, and *n_resid their count.
 */
void		fc_score_windows(const RnnModel *model, const FcWindows *w, int64 max_windows,
							 FcMetrics *m, float **resid, int64 *n_resid);

/* "series \"x\"" in messages, or "the relation" for a one-series table */
static inline char *
fc_series_name(const char *key)
{
	return key[0] ? psprintf("series \"%s\"", key) : pstrdup("the relation");
}

/*
 * Start the skip path at the ridge regression of the training windows
 * (strength chosen on valid, which may be empty): skip_w and head.bias get
 * its coefficients and head.weight is zeroed, so the untrained model is the
 * ridge forecaster (forecast_linear.c).
 */
void		fc_fit_linear(RnnModel *model, const FcWindows *train, const FcWindows *valid,
						  double *alpha);

/*
 * The scale a channel is z-scored with, from its population std and mean:
 * a constant channel (std within float noise of 0) carries no scale and is
 * left unscaled.  One rule for the training statistics, the statistics of
 * series a model has not seen, and rnn.predict_next.
 */
static inline double
fc_scale(double sd, double mean)
{
	return sd > 1e-8 * Max(1.0, fabs(mean)) ? sd : 1.0;
}

/* Model units -> original units for series s */
static inline double
fc_denormalize(const FcShape *shape, const FcSeries *s, double z)
{
	double		v = z * s->std[0] + s->mean[0];

	return shape->norm == FC_NORM_LEVEL ? exp(v) : v;
}

/* Parsed model metadata, cached in RnnCachedModel.aux */
typedef struct FcModelInfo
{
	FcShape		shape;
	FcSpec		spec;			/* columns; relid unset */
	char	   *relation;		/* qualified name of the training relation */
	int			n_series;
	char	  **keys;			/* sorted, for bsearch */
	double	   *mean;			/* (n_series, n_channels) */
	double	   *std;			/* (n_series, n_channels) */
	int			n_levels;
	double	   *levels;			/* conformal levels */
	double	   *q;				/* (horizon, n_levels) |residual| quantiles, z-units */
	int			skip_size;
	int			skip_lags;		/* of which lags of the value (the linear path) */
	/* one-window scorer for rnn.predict_next, made on first use */
	RnnInfer   *one;
	float	   *one_x;			/* (window) */
	float	   *one_skip;		/* (skip_size) or NULL */
	float	   *one_out;		/* (horizon) */
} FcModelInfo;

FcModelInfo *fc_model_info(RnnCachedModel *entry);
int			fc_find_series(const FcModelInfo *info, const char *key);

/*
 * forecast_warm.c: warm_start => true.  A stored forecaster's weights and
 * statistics, copied out of the model cache.
 */
typedef struct FcWarmStart
{
	char	   *name;
	int32		version;		/* the version started from */
	RnnConfig	cfg;
	size_t		n_params;
	float	   *params;			/* (n_params) */
	FcShape		shape;
	int			skip_lags;		/* > 0: linear_skip */
	FcStep		step;			/* zero: stored without one (before 0.3) */
	FcTimeKind	step_time_kind;
	char	   *series_column;	/* NULL: one series */
	int			n_features;		/* with the n_future future columns */
	char	  **feature_columns;
	int			n_future;
	FcCalendar	calendar;
	int			n_series;
	char	  **keys;			/* sorted */
	double	   *mean;			/* (n_series, 1 + n_features) */
	double	   *std;			/* (n_series, 1 + n_features) */
} FcWarmStart;

/* version <= 0: the deployed version, else the latest.  Errors name a
 * missing model or version and a model of another kind. */
FcWarmStart *fc_warm_load(const char *name, int32 version);
/* Before reading: the arguments against the stored model (season_arg 0:
 * not given, then checked by fc_warm_check_model once the step is known). */
void		fc_warm_check(const FcWarmStart *ws, RnnCellKind cell, int hidden, int layers,
						  bool linear_skip, const FcShape *shape, const FcSpec *spec,
						  int season_arg);
/* After reading: the season and the network's sizes. */
void		fc_warm_check_model(const FcWarmStart *ws, const FcShape *shape, const RnnConfig *cfg);
/* The stored mean/std for the series the model knows (after
 * fc_compute_stats, before fc_apply_stats); returns how many. */
int			fc_warm_stats(const FcWarmStart *ws, FcData *data);
void		fc_warm_params(const FcWarmStart *ws, RnnModel *model);

/*
 * forecast_score.c, shared with forecast_anomaly.c: read a relation for a
 * stored model (relid invalid: its training relation; keep > 0: only the
 * newest keep steps, padded), normalize it with the model's statistics,
 * run B windows, and the conformal half-width of step h at level.
 */
void		fc_read_for_model(FcModelInfo *info, Oid relid, int keep, FcData *data);
void		fc_use_model_stats(FcData *data, const FcModelInfo *info);
void		fc_infer_windows(RnnInfer *inf, int B, int T, const float *x, const float *skip,
							 int *lengths, float *out);
double		fc_conformal_width(const FcModelInfo *info, int h, double level);

/* 'lstm' / 'gru' / 'rnn' (or 'tanh'), else an error naming the value. */
RnnCellKind rnn_parse_cell(const char *cell);

/* Datum of a series' step-ahead timestamp, as timestamptz. */
Datum		fc_time_datum(FcTimeKind kind, int64 t, bool *isnull);
const char *fc_time_kind_name(FcTimeKind kind);

/* forecast_calendar.c */
char	   *fc_step_text(FcTimeKind kind, const FcStep *step);
bool		fc_time_at(FcTimeKind kind, const FcStep *step, int64 anchor, int64 k, int64 *t);
bool		fc_calendar_index(FcTimeKind kind, const FcStep *step, int64 anchor, int64 t,
							  int64 *k);
/* One step for all series from their sorted times (series s is
 * times[offsets[s] .. offsets[s + 1] - 1]); zero when no series has two. */
void		fc_detect_step(FcTimeKind kind, const int64 *times, const int64 *offsets,
						   int n_series, FcStep *step);
FcStep		fc_series_own_step(FcTimeKind kind, const FcStep *step, const int64 *times, int n);
int			fc_default_season(FcTimeKind kind, const FcStep *step, int horizon);
bool		fc_local_time_skipped(int64 t);
bool		fc_local_time_repeated(int64 t);

/*
 * forecast_known.c: calendar inputs and known-future columns.
 */
/* names (text[]; 'auto': the default for the step) -> cal; errors name the
 * bad entry.  fc_calendar_resolve: 'auto' and checks once the step is known. */
void		fc_calendar_parse(char **names, int n, FcCalendar *cal, bool *is_auto);
void		fc_calendar_resolve(FcCalendar *cal, bool *is_auto, FcTimeKind kind,
								const FcStep *step);
const char *fc_calendar_name(FcCalKind kind);
void		fc_calendar_load_zone(FcCalendar *cal);
/* the 2 * cal->n channel values of time t */
void		fc_calendar_encode(const FcCalendar *cal, FcTimeKind kind, int64 t, float *out);
/* After reading: set data's known layout and append the calendar channels. */
void		fc_add_known(FcData *data, const FcSpec *spec);
/* the future columns at point p of series s (p may be past its end:
 * data->future, else the last point's) */
void		fc_future_at(const FcData *data, const FcSeries *s, int p, float *out);
/* rnn.forecast: the future columns of the horizon steps, from relation
 * relid (its time and series columns as the model's), z-scored. */
void		fc_read_future(const FcSpec *spec, Oid relid, int horizon, FcData *data);

#endif							/* RNN_FORECAST_H */
