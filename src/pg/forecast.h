/*
 * forecast.h -- time-series forecasting on ordered table rows.
 *
 * forecast_data.c  reads series through SPI (with the caller's rights),
 *                  validates columns, time steps and missing values, keeps
 *                  per-series statistics and cuts windows on the fly;
 * forecast_calendar.c  a series' step as a calendar interval (minutes to
 *                  years) and the position of each time on it;
 * forecast_train.c rnn.train_forecaster;
 * forecast_score.c rnn.forecast, rnn.predict_next, rnn.evaluate.
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

/* Which columns of which relation, and how to read them. */
typedef struct FcSpec
{
	Oid			relid;
	char	   *time_column;
	char	   *value_column;
	char	   *series_column;	/* NULL: one series */
	int			n_features;		/* covariates */
	char	  **feature_columns;
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

/* Window geometry and the model's options, as stored in hyperparams. */
typedef struct FcShape
{
	int			window;
	int			horizon;
	int			season;			/* seasonal-naive period, in steps */
	bool		window_norm;	/* subtract the window's last value */
} FcShape;

/*
 * Fill one example: x (window, n_channels) at row stride ldx (for packed
 * batches: the batch size), skip (skip_size) the last values of channel 0,
 * target (horizon) in network units; *last gets the window's last z-value.
 * start is the index (within the series) of the window's first point.
 */
void		fc_fill_window(const FcData *data, const FcSeries *s, int start,
						   const FcShape *shape, float *x, int ldx, float *skip,
						   int skip_size, float *target, float *last);

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
 * (windows used, horizon), and *n_resid their count.
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

/* Model units -> original units for series s, step h */
static inline double
fc_denormalize(const FcSeries *s, double z)
{
	return z * s->std[0] + s->mean[0];
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
	/* one-window scorer for rnn.predict_next, made on first use */
	RnnInfer   *one;
	float	   *one_x;			/* (window) */
	float	   *one_skip;		/* (skip_size) or NULL */
	float	   *one_out;		/* (horizon) */
} FcModelInfo;

FcModelInfo *fc_model_info(RnnCachedModel *entry);
int			fc_find_series(const FcModelInfo *info, const char *key);

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

#endif							/* RNN_FORECAST_H */
