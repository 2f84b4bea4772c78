/*
 * test_learning.c -- the engine learns: two small end-to-end tasks.
 *
 *  (a) forecasting a noisy sum of sines: windows of 32 values -> the next 4,
 *      per-window normalization (inputs and targets minus the window's last
 *      value, as DESIGN.md recommends), LSTM hidden 16, regression head,
 *      Adam lr 1e-2.  The validation MSE (on the last quarter of the series,
 *      never trained on) must be well below the naive last-value forecast
 *      computed here on the same windows.
 *  (b) sequence classification "does token 1 occur": embedding, ragged
 *      lengths 3..20 (packed, sorted per batch), GRU, last-step pooling,
 *      cross-entropy.  Validation accuracy must exceed 95%.
 *  (c) determinism: the same seeds give bit-identical parameters.
 *  (d) weight averaging in rnn_fit (average_decay): the sines of (a) through
 *      rnn_fit's dataset callbacks; the averaged run learns (validation MSE
 *      below naive), returns weights other than the raw run's, and they are
 *      the weights early stopping validated (rnn_evaluate_loss of them is
 *      its best validation loss).  The same with l1_loss (absolute errors,
 *      rnn_loss_mae): its validation MAE is below the naive forecast's.
 *
 * RNN_TEST_QUICK=1 (used under valgrind) runs a few steps only and skips the
 * accuracy thresholds.  Output: TAP.
 */
#include "testutil.h"

static int	quick;

#define PI_D 3.14159265358979323846

/* ---------------------------------------------------------------------------
 * (a) forecasting
 */
#define WIN 32
#define HOR 4
#define SERIES_LEN 2400
#define FC_BATCH 32
#define FC_VAL_BATCH 64

static void
make_series(float *v, int n, uint64_t seed)
{
	RnnRng		rng;

	rnn_rng_seed(&rng, seed);
	for (int t = 0; t < n; t++)
		v[t] = (float) (sin(2.0 * PI_D * t / 20.0) +
						0.3 * sin(2.0 * PI_D * t / 7.0 + 1.0)) +
			0.1f * rnn_rng_normal(&rng);
}

/* Fills packed x (T-major, all lengths WIN) and targets for windows starting
 * at starts[0..B-1]; values are offsets from each window's last value. */
static void
fill_windows(float *x, float *y, const float *v, const int *starts, int B)
{
	for (int b = 0; b < B; b++)
	{
		const float *w = v + starts[b];
		float		last = w[WIN - 1];

		for (int t = 0; t < WIN; t++)
			x[t * B + b] = w[t] - last;
		for (int h = 0; h < HOR; h++)
			y[b * HOR + h] = w[WIN + h] - last;
	}
}

static void
test_forecast(void)
{
	RnnConfig	cfg = {
		.cell = RNN_CELL_LSTM,.num_layers = 1,.bidirectional = 0,
		.input_size = 1,.hidden_size = 16,.output_size = HOR,
		.head = RNN_HEAD_REGRESSION,.pooling = RNN_POOL_LAST,
	};
	RnnOptimConfig opt;
	RnnModel   *model = NULL;
	RnnTrainer *tr = NULL;
	float	   *v = malloc(sizeof(float) * SERIES_LEN);
	int			lengths[FC_VAL_BATCH];
	float		x[WIN * FC_VAL_BATCH],
				y[HOR * FC_VAL_BATCH];
	int			starts[FC_VAL_BATCH];
	int			split = SERIES_LEN * 3 / 4;
	int			n_train = split - WIN - HOR + 1;	/* windows inside train */
	int			steps = quick ? 20 : 600;
	int			avg = steps / 4 < 20 ? steps / 4 : 20;	/* losses averaged */
	RnnRng		rng;
	double		first_loss = 0,
				last_loss = 0,
				val_mse = 0,
				naive_mse = 0;
	int			n_val = 0;
	RnnStatus	st = RNN_OK;
	double		t0 = now_seconds();

	make_series(v, SERIES_LEN, 42);
	rnn_optim_defaults(&opt);
	opt.learning_rate = 1e-2f;
	opt.clip_norm = 1.0f;
	if (rnn_model_create(&model, &cfg) != RNN_OK)
	{
		tap_ok(0, "forecast: model");
		free(v);
		return;
	}
	rnn_model_init(model, 7);
	if (rnn_trainer_create(&tr, model, FC_VAL_BATCH, WIN, &opt, 8) != RNN_OK)
	{
		tap_ok(0, "forecast: trainer");
		rnn_model_free(model);
		free(v);
		return;
	}
	for (int b = 0; b < FC_VAL_BATCH; b++)
		lengths[b] = WIN;
	rnn_rng_seed(&rng, 9);

	for (int s = 0; s < steps && st == RNN_OK; s++)
	{
		RnnBatch	batch = {.B = FC_BATCH,.T = WIN,.lengths = lengths,.x = x};
		const float *out;
		double		loss = 0,
					norm;

		for (int b = 0; b < FC_BATCH; b++)
			starts[b] = (int) rnn_rng_below(&rng, (uint32_t) n_train);
		fill_windows(x, y, v, starts, FC_BATCH);
		st = rnn_forward(tr, &batch, 1, &out);
		if (st == RNN_OK)
			st = rnn_loss_mse(tr, y, &loss);
		if (st == RNN_OK)
		{
			rnn_zero_grad(tr);
			st = rnn_backward(tr);
		}
		if (st == RNN_OK)
			st = rnn_optim_step(tr, &norm);
		if (s < avg)
			first_loss += loss / avg;
		if (s >= steps - avg)
			last_loss += loss / avg;
	}
	tap_ok(st == RNN_OK, "forecast: %d training steps run (%s); loss %.4f -> %.4f",
		   steps, rnn_status_message(st), first_loss, last_loss);

	/* validation: every window fully inside the last quarter */
	for (int start = split; start + WIN + HOR <= SERIES_LEN && st == RNN_OK;)
	{
		int			B = 0;
		const float *out;
		RnnBatch	batch;

		while (B < FC_VAL_BATCH && start + WIN + HOR <= SERIES_LEN)
			starts[B++] = start++;
		fill_windows(x, y, v, starts, B);
		batch = (RnnBatch) {.B = B,.T = WIN,.lengths = lengths,.x = x};
		st = rnn_forward(tr, &batch, 0, &out);
		if (st != RNN_OK)
			break;
		for (int i = 0; i < B * HOR; i++)
		{
			val_mse += (out[i] - y[i]) * (double) (out[i] - y[i]);
			naive_mse += y[i] * (double) y[i];	/* last value = offset 0 */
		}
		n_val += B;
	}
	val_mse /= (double) n_val * HOR;
	naive_mse /= (double) n_val * HOR;
	tap_diag("forecast: %d validation windows, model MSE %.4f, naive last-value MSE "
			 "%.4f (ratio %.3f), %.2f s", n_val, val_mse, naive_mse,
			 val_mse / naive_mse, now_seconds() - t0);
	if (quick)
		tap_ok(st == RNN_OK && isfinite(val_mse),
			   "forecast: validation MSE < 0.5 x naive # SKIP quick mode");
	else
		tap_ok(st == RNN_OK && val_mse < 0.5 * naive_mse,
			   "forecast: validation MSE %.4f < 0.5 x naive %.4f", val_mse,
			   naive_mse);
	rnn_trainer_free(tr);
	rnn_model_free(model);
	free(v);
}

/* ---------------------------------------------------------------------------
 * (b) classification: does token 1 occur?
 */
#define VOCAB 10
#define MARKER 1
#define MINLEN 3
#define MAXLEN 20
#define CL_BATCH 32
#define CL_VAL_BATCH 64

typedef struct Seq
{
	int			len;
	int			label;
	int32_t		tok[MAXLEN];
} Seq;

static void
make_seq(Seq *s, RnnRng *rng)
{
	s->len = MINLEN + (int) rnn_rng_below(rng, MAXLEN - MINLEN + 1);
	s->label = (int) rnn_rng_below(rng, 2);
	for (int t = 0; t < s->len; t++)
		s->tok[t] = 2 + (int32_t) rnn_rng_below(rng, VOCAB - 2);
	if (s->label)
	{
		int			k = 1 + (int) rnn_rng_below(rng, 2);

		for (int i = 0; i < k; i++)
			s->tok[rnn_rng_below(rng, (uint32_t) s->len)] = MARKER;
	}
}

static int
cmp_len_desc(const void *a, const void *b)
{
	const Seq  *x = *(const Seq *const *) a;
	const Seq  *y = *(const Seq *const *) b;

	return y->len - x->len;
}

/* Sorts seqs[0..B-1] by length (descending) and packs them. */
static void
pack_seqs(const Seq **seqs, int B, int *lengths, int32_t *tokens, int *labels)
{
	int			row = 0;

	qsort(seqs, (size_t) B, sizeof(Seq *), cmp_len_desc);
	for (int b = 0; b < B; b++)
	{
		lengths[b] = seqs[b]->len;
		labels[b] = seqs[b]->label;
	}
	for (int t = 0; t < lengths[0]; t++)
		for (int b = 0; b < B && lengths[b] > t; b++)
			tokens[row++] = seqs[b]->tok[t];
}

/* Trains the classifier; returns validation accuracy (or -1), and if
 * params_out is given copies the final parameters there. */
static double
train_classifier(int steps, uint64_t seed, float **params_out, size_t *n_params,
				 double *first_loss, double *last_loss, int *agree_infer)
{
	RnnConfig	cfg = {
		.cell = RNN_CELL_GRU,.num_layers = 1,.bidirectional = 0,
		.vocab_size = VOCAB,.embedding_dim = 8,.hidden_size = 16,
		.output_size = 2,.head = RNN_HEAD_CLASSIFIER,.pooling = RNN_POOL_LAST,
	};
	RnnOptimConfig opt;
	RnnModel   *model = NULL;
	RnnTrainer *tr = NULL;
	RnnInfer   *inf = NULL;
	RnnRng		rng;
	Seq		   *train = malloc(sizeof(Seq) * 2000);
	Seq		   *val = malloc(sizeof(Seq) * 512);
	const Seq  *pick[CL_VAL_BATCH];
	int			lengths[CL_VAL_BATCH],
				labels[CL_VAL_BATCH];
	int32_t		tokens[CL_VAL_BATCH * MAXLEN];
	float		inf_out[CL_VAL_BATCH * 2];
	RnnStatus	st = RNN_OK;
	int			correct = 0,
				total = 0;
	double		acc = -1;
	int			avg = steps / 4 < 20 ? steps / 4 : 20;	/* losses averaged */

	*agree_infer = 1;
	*first_loss = *last_loss = 0;
	rnn_rng_seed(&rng, seed);
	for (int i = 0; i < 2000; i++)
		make_seq(&train[i], &rng);
	for (int i = 0; i < 512; i++)
		make_seq(&val[i], &rng);
	rnn_optim_defaults(&opt);
	opt.learning_rate = 1e-2f;
	opt.clip_norm = 1.0f;
	if (rnn_model_create(&model, &cfg) != RNN_OK)
		goto out;
	rnn_model_init(model, seed + 1);
	if (rnn_trainer_create(&tr, model, CL_VAL_BATCH, MAXLEN, &opt, seed + 2) != RNN_OK)
		goto out;
	for (int s = 0; s < steps && st == RNN_OK; s++)
	{
		RnnBatch	batch = {.B = CL_BATCH,.lengths = lengths,.tokens = tokens};
		const float *o;
		double		loss = 0,
					norm;

		for (int b = 0; b < CL_BATCH; b++)
			pick[b] = &train[rnn_rng_below(&rng, 2000)];
		pack_seqs(pick, CL_BATCH, lengths, tokens, labels);
		batch.T = lengths[0];
		st = rnn_forward(tr, &batch, 1, &o);
		if (st == RNN_OK)
			st = rnn_loss_xent(tr, labels, NULL, &loss);
		if (st == RNN_OK)
		{
			rnn_zero_grad(tr);
			st = rnn_backward(tr);
		}
		if (st == RNN_OK)
			st = rnn_optim_step(tr, &norm);
		if (s < avg)
			*first_loss += loss / avg;
		if (s >= steps - avg)
			*last_loss += loss / avg;
	}
	if (st != RNN_OK)
	{
		tap_diag("classifier training: %s", rnn_status_message(st));
		goto out;
	}
	if (rnn_infer_create(&inf, model, CL_VAL_BATCH, MAXLEN) != RNN_OK)
		*agree_infer = 0;
	for (int i = 0; i < 512; i += CL_VAL_BATCH)
	{
		RnnBatch	batch = {.B = CL_VAL_BATCH,.lengths = lengths,.tokens = tokens};
		const float *o;

		for (int b = 0; b < CL_VAL_BATCH; b++)
			pick[b] = &val[i + b];
		pack_seqs(pick, CL_VAL_BATCH, lengths, tokens, labels);
		batch.T = lengths[0];
		if (rnn_forward(tr, &batch, 0, &o) != RNN_OK)
			goto out;
		for (int b = 0; b < CL_VAL_BATCH; b++)
		{
			int			pred = o[b * 2 + 1] > o[b * 2];

			correct += pred == labels[b];
			total++;
		}
		if (inf && rnn_infer(inf, &batch, inf_out) == RNN_OK)
		{
			for (int k = 0; k < CL_VAL_BATCH * 2; k++)
				if (fabsf(inf_out[k] - o[k]) > 1e-4f + 1e-4f * fabsf(o[k]))
					*agree_infer = 0;
		}
		else
			*agree_infer = 0;
	}
	acc = (double) correct / total;
	if (params_out)
	{
		*n_params = model->n_params;
		*params_out = malloc(sizeof(float) * model->n_params);
		memcpy(*params_out, model->params, sizeof(float) * model->n_params);
	}
out:
	if (inf)
		rnn_infer_free(inf);
	if (tr)
		rnn_trainer_free(tr);
	if (model)
		rnn_model_free(model);
	free(train);
	free(val);
	return acc;
}

static void
test_classifier(void)
{
	double		t0 = now_seconds();
	double		fl,
				ll;
	int			agree;
	int			steps = quick ? 20 : 400;
	double		acc = train_classifier(steps, 31, NULL, NULL, &fl, &ll, &agree);

	tap_diag("classifier: %d steps, loss %.4f -> %.4f, validation accuracy %.2f%%, "
			 "%.2f s", steps, fl, ll, 100 * acc, now_seconds() - t0);
	tap_ok(acc >= 0, "classifier: training and validation run");
	if (quick)
		tap_ok(acc >= 0, "classifier: validation accuracy > 95%% # SKIP quick mode");
	else
		tap_ok(acc > 0.95, "classifier: validation accuracy %.2f%% > 95%%",
			   100 * acc);
	tap_ok(agree, "classifier: rnn_infer logits equal rnn_forward(training=0)");
}

/* ---------------------------------------------------------------------------
 * (c) determinism
 */
static void
test_determinism(void)
{
	float	   *p1 = NULL,
			   *p2 = NULL;
	size_t		n1 = 0,
				n2 = 0;
	double		fl,
				ll;
	int			agree;

	train_classifier(15, 5, &p1, &n1, &fl, &ll, &agree);
	train_classifier(15, 5, &p2, &n2, &fl, &ll, &agree);
	tap_ok(p1 && p2 && n1 == n2 && memcmp(p1, p2, sizeof(float) * n1) == 0,
		   "determinism: same seeds give bit-identical parameters after 15 steps");
	free(p1);
	free(p2);
}

/* ---------------------------------------------------------------------------
 * (d) weight averaging through rnn_fit
 */
typedef struct AvgData
{
	const float *v;
	int			n_train;		/* windows starting 0 .. n_train-1 train */
	int			val_first;		/* validation windows start here */
} AvgData;

static int
avg_length(void *ctx, int e)
{
	(void) ctx;
	(void) e;
	return WIN;
}

static RnnStatus
avg_load(void *ctx, const int *idx, int count, RnnBatchBuf *buf)
{
	AvgData    *d = ctx;
	int			starts[FC_VAL_BATCH];

	for (int b = 0; b < count; b++)
	{
		starts[b] = idx[b] < d->n_train ? idx[b] : d->val_first + (idx[b] - d->n_train);
		buf->lengths[b] = WIN;
	}
	fill_windows(buf->x, buf->targets, d->v, starts, count);
	return RNN_OK;
}

static RnnModel *
avg_fit(const AvgData *d, int n_valid, float decay, int l1, RnnFitResult *res)
{
	RnnConfig	cfg = {
		.cell = RNN_CELL_GRU,.num_layers = 1,.input_size = 1,.hidden_size = 16,
		.output_size = HOR,.head = RNN_HEAD_REGRESSION,.pooling = RNN_POOL_LAST,
	};
	RnnModel   *model = NULL;
	RnnDataset	ds = {0};
	RnnFitOptions fo;

	if (rnn_model_create(&model, &cfg) != RNN_OK)
		return NULL;
	rnn_model_init(model, 11);
	ds.ctx = (void *) d;
	ds.n_train = d->n_train;
	ds.n_valid = n_valid;
	ds.max_steps = WIN;
	ds.length = avg_length;
	ds.load = avg_load;
	rnn_fit_defaults(&fo);
	fo.epochs = quick ? 1 : 4;
	fo.batch_size = FC_BATCH;
	fo.batches_per_epoch = quick ? 5 : 100;
	fo.patience = 0;
	fo.length_buckets = 0;
	fo.optim.learning_rate = 1e-2f;
	fo.average_decay = decay;
	fo.l1_loss = l1;
	memset(res, 0, sizeof(*res));
	if (rnn_fit(model, &ds, &fo, res) != RNN_OK)
	{
		rnn_model_free(model);
		return NULL;
	}
	return model;
}

static void
test_averaging(void)
{
	float	   *v = malloc(sizeof(float) * SERIES_LEN);
	int			split = SERIES_LEN * 3 / 4;
	AvgData		d;
	RnnFitResult r_raw,
				r_avg,
				r_l1;
	RnnModel   *raw,
			   *avg,
			   *l1;
	double		naive_mae = 0.0;
	RnnDataset	ds = {0};
	double		again = NAN;
	double		naive = 0.0;
	int			n_valid = FC_VAL_BATCH * 4;

	make_series(v, SERIES_LEN, 7);
	d.v = v;
	d.n_train = split - WIN - HOR + 1;
	d.val_first = split - WIN;
	for (int i = 0; i < n_valid; i++)
	{
		const float *w = v + d.val_first + i;

		for (int h = 0; h < HOR; h++)
		{
			naive += (double) (w[WIN + h] - w[WIN - 1]) * (w[WIN + h] - w[WIN - 1]);
			naive_mae += fabs((double) w[WIN + h] - w[WIN - 1]);
		}
	}
	naive /= (double) n_valid * HOR;
	naive_mae /= (double) n_valid * HOR;

	raw = avg_fit(&d, n_valid, 0.0f, 0, &r_raw);
	avg = avg_fit(&d, n_valid, 0.99f, 0, &r_avg);
	l1 = avg_fit(&d, n_valid, 0.99f, 1, &r_l1);
	tap_ok(raw && avg, "averaging: rnn_fit runs with and without average_decay");
	if (raw && avg)
	{
		tap_diag("averaging: validation MSE raw %.5f (best epoch %d), averaged %.5f (best "
				 "epoch %d), naive %.5f", r_raw.best_valid_loss, r_raw.best_epoch,
				 r_avg.best_valid_loss, r_avg.best_epoch, naive);
		if (quick)
			tap_ok(1, "averaging: averaged weights beat naive # SKIP quick mode");
		else
			tap_ok(r_avg.best_epoch > 0 && r_avg.best_valid_loss < 0.5 * naive,
				   "averaging: averaged weights learn (validation MSE %.5f < half of naive %.5f)",
				   r_avg.best_valid_loss, naive);
		tap_ok(memcmp(raw->params, avg->params, sizeof(float) * raw->n_params) != 0,
			   "averaging: the averaged weights are not the raw weights");
		ds.ctx = &d;
		ds.n_train = d.n_train;
		ds.n_valid = n_valid;
		ds.max_steps = WIN;
		ds.length = avg_length;
		ds.load = avg_load;
		if (rnn_evaluate_loss(avg, &ds, d.n_train, n_valid, FC_BATCH, &again) != RNN_OK)
			again = NAN;
		tap_ok(fabs(again - r_avg.best_valid_loss) <= 1e-9 * r_avg.best_valid_loss,
			   "averaging: the returned weights are the validated average (loss %.8f = %.8f)",
			   again, r_avg.best_valid_loss);
	}
	if (quick)
		tap_ok(l1 != NULL, "l1_loss: averaged MAE training learns # SKIP quick mode");
	else
		tap_ok(l1 && r_l1.best_epoch > 0 && r_l1.best_valid_loss < 0.5 * naive_mae,
			   "l1_loss: averaged MAE training learns (validation MAE %.5f < half of naive %.5f)",
			   r_l1.best_valid_loss, naive_mae);
	if (l1)
		rnn_model_free(l1);
	if (raw)
		rnn_model_free(raw);
	if (avg)
		rnn_model_free(avg);
	free(v);
}

int
main(void)
{
	const char *q = getenv("RNN_TEST_QUICK");

	quick = q && *q && strcmp(q, "0") != 0;
	test_forecast();
	test_classifier();
	test_determinism();
	test_averaging();
	return tap_done();
}
