/*
 * m4_engine.c -- the seasonal 'level' forecaster of rnn.train_forecaster
 * (seasonal => true, normalization => 'level', GRU, no linear path) on M4
 * Hourly, run on the engine alone, without PostgreSQL: the same windows,
 * scaling and rnn_fit options as forecast_train.c / forecast_data.c, the
 * series in file order (the SQL call reads them in key order, so batches
 * differ).  For choosing options on validation while the shared lock is
 * busy; test/bench/m4_engine.sh builds and runs it and scores the output.
 *
 *   m4_engine IN FORECASTS RESIDUALS
 *   IN: one series a line (values); FORECASTS: a line a series, the 48
 *   forecasts (original units) and the series' scale; RESIDUALS: a line a
 *   validation window, its series index and 48 errors (model units).
 *   Options from the environment: VF (0.07), POWER (0.5), HIDDEN (128),
 *   WINDOW (336), LAYERS (1), DROPOUT (0), SEED (42), EPOCHS (40),
 *   BATCH (64), PATIENCE (10), BPE (1000), LR (1e-3), EMA (0: raw
 *   weights; average_decay), L1 (0: MSE; 1: absolute errors).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rnn.h"

#define H 48
#define S 24
typedef struct { int n, n_train; float *v; double sd; } Ser;
static Ser *ser; static int NS; static int W = 336;
typedef struct { int count; long *cum; int *first; } Win;
static Win wt, wv;

static double envd(const char *k, double d) { const char *v = getenv(k); return v ? atof(v) : d; }

static void win_init(Win *w, int valid)
{
	w->cum = calloc(NS + 1, sizeof(long)); w->first = calloc(NS, sizeof(int));
	for (int s = 0; s < NS; s++) {
		int lo, hi;
		if (!valid) { lo = 0; hi = ser[s].n_train - W - H; }
		else { lo = ser[s].n_train - W; if (lo < 0) lo = 0; hi = ser[s].n - W - H; if (ser[s].n_train == ser[s].n) hi = lo - 1; }
		w->first[s] = lo; w->cum[s + 1] = w->cum[s] + (hi - lo + 1 > 0 ? hi - lo + 1 : 0);
	}
	w->count = w->cum[NS];
}
static void locate(const Win *w, long i, int *s, int *st)
{
	int lo = 0, hi = NS - 1;
	while (lo < hi) { int mid = (lo + hi + 1) / 2; if (w->cum[mid] <= i) lo = mid; else hi = mid - 1; }
	*s = lo; *st = w->first[lo] + (int) (i - w->cum[lo]);
}
/* x packed (T, ldx, S) */
static void fill(const float *v, float *x, int ldx, float *target, float *base)
{
	int T = W / S; double ref = 0;
	for (int k = W - S; k < W; k++) ref += v[k];
	ref /= S;
	if (x) for (int t = 0; t < T; t++) for (int p = 0; p < S; p++) x[(size_t) t * ldx * S + p] = v[t * S + p] - ref;
	for (int h = 0; h < H; h++) {
		float b = v[W - S + h % S];
		if (target) target[h] = v[W + h] - b;
		if (base) base[h] = b;
	}
}
static int f_length(void *c, int e) { return W / S; }
static RnnStatus f_load(void *c, const int *idx, int count, RnnBatchBuf *buf)
{
	for (int b = 0; b < count; b++) {
		const Win *w = idx[b] < wt.count ? &wt : &wv;
		long i = idx[b] < wt.count ? idx[b] : idx[b] - wt.count;
		int s, st; locate(w, i, &s, &st);
		buf->lengths[b] = W / S;
		fill(ser[s].v + st, buf->x + (size_t) b * S, count, buf->targets + (size_t) b * H, NULL);
	}
	return RNN_OK;
}
static int on_epoch(void *c, const RnnEpochReport *r)
{
	fprintf(stderr, "epoch %d train %.5f valid %.5f%s %.0fs\n", r->epoch, r->train_loss, r->valid_loss, r->best_epoch == r->epoch ? " *" : "", r->seconds);
	return 0;
}

int main(int argc, char **argv)
{
	FILE *f = fopen(argv[1], "r"); char *line = NULL; size_t cap = 0;
	double vf = envd("VF", 0.07), power = envd("POWER", 0.5);
	int hidden = (int) envd("HIDDEN", 128);
	W = (int) envd("WINDOW", 336);
	ser = calloc(1000, sizeof(Ser));
	while (getline(&line, &cap, f) > 0) {
		Ser *s = &ser[NS++]; char *p = line, *e; s->v = malloc(sizeof(float) * 2000);
		for (;;) { double x = strtod(p, &e); if (e == p) break; s->v[s->n++] = logf((float) x); p = e; }
	}
	fclose(f);
	for (int i = 0; i < NS; i++) {
		Ser *s = &ser[i]; int nval = (int) floor(s->n * vf);
		s->n_train = s->n - nval;
		if (!(s->n_train >= W + H && nval >= H)) s->n_train = s->n;
		double sum = 0; for (int k = S; k < s->n_train; k++) sum += fabs(s->v[k] - s->v[k - S]);
		double d = sum / (s->n_train - S); if (!(d > 1e-8)) d = 1;
		s->sd = pow(d, power);
		for (int k = 0; k < s->n; k++) s->v[k] = (float) (s->v[k] / s->sd);
	}
	win_init(&wt, 0); win_init(&wv, 1);
	fprintf(stderr, "%d series, %d train windows, %d valid windows\n", NS, wt.count, wv.count);

	RnnConfig cfg; memset(&cfg, 0, sizeof cfg);
	cfg.cell = RNN_CELL_GRU; cfg.num_layers = (int) envd("LAYERS", 1); cfg.input_size = S; cfg.hidden_size = hidden;
	cfg.output_size = H; cfg.head = RNN_HEAD_REGRESSION; cfg.pooling = RNN_POOL_LAST; cfg.dropout = (float) envd("DROPOUT", 0);
	RnnModel *model; if (rnn_model_create(&model, &cfg) != RNN_OK) return 1;
	uint64_t seed = (uint64_t) envd("SEED", 42);
	rnn_model_init(model, seed);
	memset(model->p.head_w, 0, sizeof(float) * H * rnn_feature_size(&cfg));
	memset(model->p.head_b, 0, sizeof(float) * H);

	RnnDataset ds; memset(&ds, 0, sizeof ds);
	ds.n_train = wt.count; ds.n_valid = wv.count; ds.max_steps = W / S; ds.length = f_length; ds.load = f_load;
	RnnFitOptions fo; rnn_fit_defaults(&fo);
	fo.epochs = (int) envd("EPOCHS", 40); fo.batch_size = (int) envd("BATCH", 64); fo.patience = (int) envd("PATIENCE", 10);
	fo.batches_per_epoch = (int) envd("BPE", 1000); fo.length_buckets = 0; fo.seed = seed;
	fo.optim.learning_rate = (float) envd("LR", 1e-3); fo.optim.clip_norm = 1.0f;
	fo.average_decay = (float) envd("EMA", 0);
	fo.on_epoch = on_epoch; fo.l1_loss = (int) envd("L1", 0);
	RnnFitResult fr; memset(&fr, 0, sizeof fr);
	clock_t c0 = clock();
	if (rnn_fit(model, &ds, &fo, &fr) != RNN_OK) { fprintf(stderr, "fit failed\n"); return 1; }
	fprintf(stderr, "best epoch %d of %d, cpu %.0f s\n", fr.best_epoch, fr.epochs_run, (double) (clock() - c0) / CLOCKS_PER_SEC);

	/* forecasts and validation residuals */
	int T = W / S; RnnInfer *inf; rnn_infer_create(&inf, model, 1, T);
	float x[T * S], base[H], tg[H], out[H]; int len = T;
	RnnBatch b = {1, T, &len, x, NULL, NULL};
	FILE *fo_f = fopen(argv[2], "w"), *fr_f = fopen(argv[3], "w");
	for (int s = 0; s < NS; s++) {
		/* window = last W values: fill reads v[0..W) and base from v[W-S..W) */
		fill(ser[s].v + ser[s].n - W, x, 1, NULL, base);
		rnn_infer(inf, &b, out);
		for (int h = 0; h < H; h++) fprintf(fo_f, "%s%.9g", h ? " " : "", exp((out[h] + base[h]) * ser[s].sd));
		fprintf(fo_f, " %.9g\n", ser[s].sd);
	}
	for (long i = 0; i < wv.count; i++) {
		int s, st; locate(&wv, i, &s, &st);
		fill(ser[s].v + st, x, 1, tg, base); rnn_infer(inf, &b, out);
		fprintf(fr_f, "%d", s);
		for (int h = 0; h < H; h++) fprintf(fr_f, " %.6g", out[h] - tg[h]);
		fprintf(fr_f, "\n");
	}
	fclose(fo_f); fclose(fr_f);
	return 0;
}
