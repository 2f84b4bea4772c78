/*
 * forecast_warm.c -- rnn.train_forecaster(..., warm_start => true): start a
 * training from a stored forecaster instead of from random weights.
 *
 *   -- last night's model, retrained on tonight's table in a few epochs
 *   SELECT * FROM rnn.train_forecaster('load', 'readings', 'ts', 'kw',
 *            series_column => 'site', cell => 'gru', window_size => 336,
 *            horizon => 48, epochs => 8, warm_start => true);
 *
 * Notes:
 * 1. The stored version (the deployed one, else the latest; or
 *    warm_start_version) must have the architecture the call asks for: the
 *    same cell, hidden_size, num_layers, window_size, horizon, linear_skip,
 *    normalization, seasonal, season_length, series_column (present or
 *    not), feature_columns, future_columns and calendar_inputs (same names,
 *    same order; a calendar's time zone is kept) and time step.  Anything
 *    else is an error naming the first argument that differs, before a row
 *    is read.  The optimiser's settings (epochs, learning_rate, batch_size,
 *    patience, dropout, batches_per_epoch, ...) are free.
 * 2. Statistics are kept, not re-estimated: each series the stored model
 *    knows is z-scored (or, 'level', scaled) with the stored mean and std;
 *    only series new to the model get statistics from their own training
 *    part.  The weights map inputs to outputs in those units, so keeping
 *    them makes epoch 0 of the warm start exactly the stored model on the
 *    new rows (early stopping compares every epoch with it, so a retrain
 *    never ends worse on validation than the model it started from), and a
 *    nightly job's versions forecast a series in the same units.  A level
 *    that drifts is absorbed by the window's own reference ('window' and
 *    'level' normalization); a scale that drifts far wants a cold start now
 *    and then.
 * 3. Neither the ridge start of the linear path nor the seasonal model's
 *    zeroed head is applied: the stored weights are the start.  Adam's
 *    moments are not stored, so they start from zero.  The conformal widths
 *    are recomputed from the new validation part, as in every training.
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "forecast.h"

static const char *
norm_name(FcNorm norm)
{
	return norm == FC_NORM_SERIES ? "series" : norm == FC_NORM_LEVEL ? "level" : "window";
}

static const char *
bool_name(bool b)
{
	return b ? "true" : "false";
}

/* The one error of a mismatch: which argument, ours and the stored value. */
static void
mismatch(const FcWarmStart *ws, const char *arg, const char *given, const char *stored)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("warm_start: %s = %s does not match version %d of model \"%s\", which has %s",
					arg, given, ws->version, ws->name, stored),
			 errdetail("A warm start continues from the stored weights, so the architecture must "
					   "be the same: cell, hidden_size, num_layers, window_size, horizon, "
					   "linear_skip, normalization, seasonal, season_steps, season_length, "
					   "series_column, feature_columns, future_columns, calendar_inputs and the "
					   "time step."),
			 errhint("Pass %s => %s, or train without warm_start.", arg, stored)));
}

static void
check_int(const FcWarmStart *ws, const char *arg, int given, int stored)
{
	if (given != stored)
		mismatch(ws, arg, psprintf("%d", given), psprintf("%d", stored));
}

static char *
text_array_literal(char **items, int n)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "'{");
	for (int i = 0; i < n; i++)
		appendStringInfo(&b, "%s%s", i ? "," : "", items[i]);
	appendStringInfoString(&b, "}'");
	return b.data;
}

FcWarmStart *
fc_warm_load(const char *name, int32 version)
{
	RnnModelRow row;
	RnnCachedModel *entry;
	FcModelInfo *info;
	FcWarmStart *ws;
	int			C;

	if (!rnn_lookup_model(name, version, true, &row))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 version > 0 ?
				 errmsg("warm_start: model \"%s\" version %d does not exist", name, version) :
				 errmsg("warm_start: model \"%s\" has no stored version to start from", name),
				 version > 0 ?
				 errhint("SELECT version FROM rnn.models WHERE name = %s lists its versions.",
						 quote_literal_cstr(name)) :
				 errhint("Train it once without warm_start.")));
	if (strcmp(row.kind, RNN_KIND_FORECASTER) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("warm_start: model \"%s\" version %d is a %s, not a forecaster",
						name, row.version, row.kind)));

	entry = rnn_cache_get(NULL, name, row.version);
	info = fc_model_info(entry);
	C = 1 + info->spec.n_features + 2 * info->spec.calendar.n;

	/* copies: the cache entry may go with the next lookup */
	ws = palloc0(sizeof(FcWarmStart));
	ws->name = pstrdup(name);
	ws->version = entry->version;
	ws->cfg = entry->model->cfg;
	ws->n_params = entry->model->n_params;
	ws->params = palloc_extended(sizeof(float) * Max(ws->n_params, 1), MCXT_ALLOC_HUGE);
	memcpy(ws->params, entry->model->params, sizeof(float) * ws->n_params);
	ws->shape = info->shape;
	ws->skip_lags = info->skip_lags;
	ws->step = info->spec.step;
	ws->step_time_kind = info->spec.step_time_kind;
	ws->series_column = info->spec.series_column ? pstrdup(info->spec.series_column) : NULL;
	ws->n_features = info->spec.n_features;
	ws->feature_columns = palloc(sizeof(char *) * Max(ws->n_features, 1));
	for (int i = 0; i < ws->n_features; i++)
		ws->feature_columns[i] = pstrdup(info->spec.feature_columns[i]);
	ws->n_future = info->spec.n_future;
	ws->calendar = info->spec.calendar;
	ws->calendar.zone = info->spec.calendar.zone ? pstrdup(info->spec.calendar.zone) : NULL;
	ws->calendar.tz = NULL;
	ws->n_series = info->n_series;
	ws->keys = palloc(sizeof(char *) * Max(ws->n_series, 1));
	for (int i = 0; i < ws->n_series; i++)
		ws->keys[i] = pstrdup(info->keys[i]);
	ws->mean = palloc(sizeof(double) * Max(ws->n_series, 1) * C);
	ws->std = palloc(sizeof(double) * Max(ws->n_series, 1) * C);
	memcpy(ws->mean, info->mean, sizeof(double) * ws->n_series * C);
	memcpy(ws->std, info->std, sizeof(double) * ws->n_series * C);
	return ws;
}

void
fc_warm_check(const FcWarmStart *ws, RnnCellKind cell, int hidden, int layers, bool linear_skip,
			  const FcShape *shape, const FcSpec *spec, int season_arg)
{
	if (cell != ws->cfg.cell)
		mismatch(ws, "cell", psprintf("'%s'", rnn_cell_name(cell)),
				 psprintf("'%s'", rnn_cell_name(ws->cfg.cell)));
	check_int(ws, "hidden_size", hidden, ws->cfg.hidden_size);
	check_int(ws, "num_layers", layers, ws->cfg.num_layers);
	check_int(ws, "window_size", shape->window, ws->shape.window);
	check_int(ws, "horizon", shape->horizon, ws->shape.horizon);
	if (linear_skip != (ws->skip_lags > 0))
		mismatch(ws, "linear_skip", bool_name(linear_skip), bool_name(ws->skip_lags > 0));
	if (shape->norm != ws->shape.norm)
		mismatch(ws, "normalization", psprintf("'%s'", norm_name(shape->norm)),
				 psprintf("'%s'", norm_name(ws->shape.norm)));
	if (shape->seasonal != ws->shape.seasonal)
		mismatch(ws, "seasonal", bool_name(shape->seasonal), bool_name(ws->shape.seasonal));
	if (shape->season_steps != ws->shape.season_steps)
		mismatch(ws, "season_steps", bool_name(shape->season_steps),
				 bool_name(ws->shape.season_steps));
	/* a season given here; a default one is checked once the step is known */
	if (season_arg > 0)
		check_int(ws, "season_length", season_arg, ws->shape.season);
	/* present or not: the keys, not the column's name, find the statistics */
	if ((spec->series_column != NULL) != (ws->series_column != NULL))
		mismatch(ws, "series_column",
				 spec->series_column ? quote_literal_cstr(spec->series_column) : "NULL",
				 ws->series_column ? quote_literal_cstr(ws->series_column) : "NULL");
	{
		int			nr = spec->n_features - spec->n_future,
					ws_nr = ws->n_features - ws->n_future;
		bool		same = nr == ws_nr;

		for (int i = 0; same && i < ws_nr; i++)
			same = strcmp(spec->feature_columns[i], ws->feature_columns[i]) == 0;
		if (!same)
			mismatch(ws, "feature_columns",
					 text_array_literal(spec->feature_columns, nr),
					 text_array_literal(ws->feature_columns, ws_nr));
		same = spec->n_future == ws->n_future;
		for (int i = 0; same && i < ws->n_future; i++)
			same = strcmp(spec->feature_columns[nr + i], ws->feature_columns[ws_nr + i]) == 0;
		if (!same)
			mismatch(ws, "future_columns",
					 text_array_literal(spec->feature_columns + nr, spec->n_future),
					 text_array_literal(ws->feature_columns + ws_nr, ws->n_future));
	}
	{
		bool		same = spec->calendar.n == ws->calendar.n;
		char	   *given[FC_CAL_N_KINDS],
				   *stored[FC_CAL_N_KINDS];

		for (int i = 0; i < spec->calendar.n; i++)
			given[i] = (char *) fc_calendar_name(spec->calendar.kind[i]);
		for (int i = 0; i < ws->calendar.n; i++)
		{
			stored[i] = (char *) fc_calendar_name(ws->calendar.kind[i]);
			same = same && spec->calendar.kind[i] == ws->calendar.kind[i];
		}
		if (!same)
			mismatch(ws, "calendar_inputs", text_array_literal(given, spec->calendar.n),
					 text_array_literal(stored, ws->calendar.n));
	}
}

void
fc_warm_check_model(const FcWarmStart *ws, const FcShape *shape, const RnnConfig *cfg)
{
	check_int(ws, "season_length", shape->season, ws->shape.season);
	/* can't happen once the arguments agree */
	if (rnn_param_count(cfg) != ws->n_params || cfg->input_size != ws->cfg.input_size ||
		cfg->skip_size != ws->cfg.skip_size || cfg->output_size != ws->cfg.output_size)
		elog(ERROR, "warm_start: version %d of \"%s\" has %zu parameters and input size %d, "
			 "the new model %zu and %d", ws->version, ws->name, ws->n_params,
			 ws->cfg.input_size, rnn_param_count(cfg), cfg->input_size);
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int
fc_warm_stats(const FcWarmStart *ws, FcData *data)
{
	int			C = data->n_channels;
	int			known = 0;

	for (int s = 0; s < data->n_series; s++)
	{
		const char *key = data->series[s].key;
		char	  **hit = ws->n_series > 0 ?
			bsearch(&key, ws->keys, ws->n_series, sizeof(char *), cmp_key) : NULL;

		if (hit != NULL)
		{
			size_t		k = hit - ws->keys;

			memcpy(data->series[s].mean, ws->mean + k * C, sizeof(double) * C);
			memcpy(data->series[s].std, ws->std + k * C, sizeof(double) * C);
			known++;
		}
	}
	return known;
}

void
fc_warm_params(const FcWarmStart *ws, RnnModel *model)
{
	Assert(model->n_params == ws->n_params);
	memcpy(model->params, ws->params, sizeof(float) * ws->n_params);
}
