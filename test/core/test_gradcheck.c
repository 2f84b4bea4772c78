/*
 * test_gradcheck.c -- finite-difference gradient checks of rnn_backward.
 *
 * Tiny models (rnn_model_init, random inputs from RnnRng) for every cell,
 * uni- and bidirectional, one and two layers, ragged lengths (the packing
 * and masking path), every pooling, both heads, the embedding and the skip
 * path.  For each parameter tensor a random subset of coordinates is
 * perturbed by +-eps and the central difference of the engine's (double)
 * loss is compared with the analytic gradient.
 *
 * The forward runs in float32, so with eps = 1e-2 the difference carries
 * about 1e-5 of rounding noise and O(eps^2) truncation; the tolerance is
 * |fd - an| <= 1e-3 + 2e-2 * max(|fd|, |an|) per coordinate, which a wrong
 * gate, a missing term or a mis-masked step exceeds by orders of magnitude.
 *
 * Max pooling is only piecewise smooth; its cases use eps = 1e-3 so that
 * the two probes stay on one side of an argmax switch (with 1e-2 one
 * coordinate of tanh_l1_uni_max_cls_emb crossed a near-tie).
 *
 * Dropout: rnn_forward(training = 1) draws the dropout mask from the
 * trainer's RNG, so two forwards of one trainer use different masks.  The
 * dropout case keeps the mask fixed by creating a fresh trainer with the same
 * seed before every forward (analytic and each perturbed one): a fresh
 * trainer's first forward draws the same mask.  The test first checks that
 * premise (same seed -> identical outputs) and that dropout changes the
 * outputs at all.
 *
 * Output: TAP, one line per case and parameter group.
 */
#include "testutil.h"

static double EPS = 1e-2;
#define GC_ATOL 1e-3
#define GC_RTOL 2e-2
#define COORDS_PER_TENSOR 6
#define MAX_TENSORS 64
#define MAXB 8

typedef struct GcCase
{
	const char *name;
	RnnCellKind cell;
	int			layers;
	int			bidir;
	int			vocab;			/* > 0: embedding, emb = 3 */
	int			hidden;
	int			out;
	RnnHeadKind head;
	RnnPooling	pool;
	int			skip;
	float		dropout;
	int			B;
	int			lengths[MAXB];
	int			masked;			/* every third target NaN: masked out of the loss */
	int			l1;				/* MAE instead of MSE */
} GcCase;

static const GcCase CASES[] = {
	{"tanh_l2_bi_last_reg", RNN_CELL_TANH, 2, 1, 0, 3, 2, RNN_HEAD_REGRESSION, RNN_POOL_LAST, 0, 0, 3, {5, 3, 2}, 0, 0},
	{"tanh_l1_uni_max_cls_emb", RNN_CELL_TANH, 1, 0, 7, 4, 3, RNN_HEAD_CLASSIFIER, RNN_POOL_MAX, 0, 0, 3, {6, 4, 1}, 0, 0},
	{"tanh_l1_bi_mean_cls", RNN_CELL_TANH, 1, 1, 0, 3, 3, RNN_HEAD_CLASSIFIER, RNN_POOL_MEAN, 0, 0, 4, {5, 5, 3, 2}, 0, 0},
	{"gru_l1_uni_last_reg_skip", RNN_CELL_GRU, 1, 0, 0, 4, 2, RNN_HEAD_REGRESSION, RNN_POOL_LAST, 3, 0, 3, {6, 4, 3}, 0, 0},
	{"gru_l2_bi_mean_cls_emb", RNN_CELL_GRU, 2, 1, 7, 3, 2, RNN_HEAD_CLASSIFIER, RNN_POOL_MEAN, 0, 0, 3, {5, 3, 2}, 0, 0},
	{"gru_l2_bi_max_reg", RNN_CELL_GRU, 2, 1, 0, 3, 2, RNN_HEAD_REGRESSION, RNN_POOL_MAX, 0, 0, 3, {4, 3, 1}, 0, 0},
	{"gru_l1_bi_last_cls", RNN_CELL_GRU, 1, 1, 0, 4, 3, RNN_HEAD_CLASSIFIER, RNN_POOL_LAST, 0, 0, 3, {5, 2, 2}, 0, 0},
	{"lstm_l2_bi_last_cls_emb", RNN_CELL_LSTM, 2, 1, 7, 3, 3, RNN_HEAD_CLASSIFIER, RNN_POOL_LAST, 0, 0, 3, {5, 3, 2}, 0, 0},
	{"lstm_l1_bi_mean_reg_skip", RNN_CELL_LSTM, 1, 1, 0, 3, 2, RNN_HEAD_REGRESSION, RNN_POOL_MEAN, 2, 0, 3, {5, 4, 2}, 0, 0},
	{"lstm_l1_uni_max_reg", RNN_CELL_LSTM, 1, 0, 0, 4, 2, RNN_HEAD_REGRESSION, RNN_POOL_MAX, 0, 0, 3, {6, 3, 3}, 0, 0},
	{"lstm_l2_uni_mean_cls", RNN_CELL_LSTM, 2, 0, 0, 3, 2, RNN_HEAD_CLASSIFIER, RNN_POOL_MEAN, 0, 0, 2, {4, 2}, 0, 0},
	/* dropout between the layers and before the head, mask kept fixed */
	{"lstm_l2_bi_last_reg_dropout", RNN_CELL_LSTM, 2, 1, 0, 3, 2, RNN_HEAD_REGRESSION, RNN_POOL_LAST, 0, 0.3f, 3, {5, 3, 2}, 0, 0},
	{"gru_l2_uni_max_cls_dropout", RNN_CELL_GRU, 2, 0, 0, 4, 2, RNN_HEAD_CLASSIFIER, RNN_POOL_MAX, 0, 0.25f, 3, {4, 4, 2}, 0, 0},
	/* a forecaster's interpolated targets are NaN: no loss, no gradient */
	{"gru_l1_uni_last_reg_skip_masked", RNN_CELL_GRU, 1, 0, 0, 4, 3, RNN_HEAD_REGRESSION, RNN_POOL_LAST, 3, 0, 3, {6, 4, 3}, 1, 0},
	{"lstm_l1_uni_last_reg_skip_masked_l1", RNN_CELL_LSTM, 1, 0, 0, 4, 3, RNN_HEAD_REGRESSION, RNN_POOL_LAST, 3, 0, 3, {6, 4, 3}, 1, 1},
};

#define TRAINER_SEED 777

typedef struct Ctx
{
	const GcCase *c;
	RnnConfig	cfg;
	RnnModel   *model;
	RnnTrainer *tr;
	RnnBatch	batch;
	int			lengths[MAXB];
	float	   *x;
	int32_t    *tokens;
	float	   *skip;
	float	   *targets;
	int			labels[MAXB];
	int			N;
	int			fresh;			/* recreate the trainer before each forward */
} Ctx;

static RnnStatus
fresh_trainer(Ctx *x)
{
	RnnOptimConfig opt;

	if (x->tr)
		rnn_trainer_free(x->tr);
	x->tr = NULL;
	rnn_optim_defaults(&opt);
	return rnn_trainer_create(&x->tr, x->model, x->c->B, x->c->lengths[0],
							  &opt, TRAINER_SEED);
}

/* training forward + loss; NAN on error */
static double
eval_loss(Ctx *x, const float **outputs)
{
	double		loss = NAN;
	const float *o;
	RnnStatus	st;

	if (x->fresh && fresh_trainer(x) != RNN_OK)
		return NAN;
	st = rnn_forward(x->tr, &x->batch, 1, &o);
	if (st != RNN_OK)
		return NAN;
	if (outputs)
		*outputs = o;
	if (x->cfg.head == RNN_HEAD_REGRESSION && x->c->l1)
		st = rnn_loss_mae(x->tr, x->targets, &loss);
	else if (x->cfg.head == RNN_HEAD_REGRESSION)
		st = rnn_loss_mse(x->tr, x->targets, &loss);
	else
		st = rnn_loss_xent(x->tr, x->labels, NULL, &loss);
	return st == RNN_OK ? loss : NAN;
}

static void
ctx_free(Ctx *x)
{
	if (x->tr)
		rnn_trainer_free(x->tr);
	if (x->model)
		rnn_model_free(x->model);
	free(x->x);
	free(x->tokens);
	free(x->skip);
	free(x->targets);
}

static int
ctx_setup(Ctx *x, const GcCase *c, uint64_t seed)
{
	RnnRng		rng;
	const char *why = NULL;
	int			T = c->lengths[0];
	int			I;
	float	   *padded;

	memset(x, 0, sizeof(*x));
	x->c = c;
	x->cfg.cell = c->cell;
	x->cfg.num_layers = c->layers;
	x->cfg.bidirectional = c->bidir;
	x->cfg.input_size = c->vocab ? 0 : 3;
	x->cfg.vocab_size = c->vocab;
	x->cfg.embedding_dim = c->vocab ? 3 : 0;
	x->cfg.hidden_size = c->hidden;
	x->cfg.output_size = c->out;
	x->cfg.head = c->head;
	x->cfg.pooling = c->pool;
	x->cfg.skip_size = c->skip;
	x->cfg.dropout = c->dropout;
	x->fresh = c->dropout > 0;
	if (rnn_config_validate(&x->cfg, &why) != RNN_OK)
	{
		tap_diag("%s: config rejected (%s)", c->name, why ? why : "?");
		return -1;
	}
	if (rnn_model_create(&x->model, &x->cfg) != RNN_OK)
		return -1;
	rnn_model_init(x->model, seed);
	if (fresh_trainer(x) != RNN_OK)
		return -1;

	rnn_rng_seed(&rng, seed + 1);
	for (int b = 0; b < c->B; b++)
		x->lengths[b] = c->lengths[b];
	x->N = 0;
	for (int b = 0; b < c->B; b++)
		x->N += c->lengths[b];
	I = c->vocab ? 1 : 3;
	padded = calloc((size_t) c->B * T * I, sizeof(float));
	for (int b = 0; b < c->B; b++)
		for (int t = 0; t < c->lengths[b]; t++)
			for (int i = 0; i < I; i++)
				padded[((size_t) b * T + t) * I + i] = c->vocab
					? (float) rnn_rng_below(&rng, (uint32_t) c->vocab)
					: rnn_rng_normal(&rng);
	if (c->vocab)
	{
		float	   *packed = calloc(x->N, sizeof(float));

		pack_padded(packed, padded, x->lengths, c->B, 1);
		x->tokens = calloc(x->N, sizeof(int32_t));
		for (int i = 0; i < x->N; i++)
			x->tokens[i] = (int32_t) packed[i];
		free(packed);
	}
	else
	{
		x->x = calloc((size_t) x->N * 3, sizeof(float));
		pack_padded(x->x, padded, x->lengths, c->B, 3);
	}
	if (c->skip)
	{
		/* last K values of feature 0 of each sequence, oldest first */
		x->skip = calloc((size_t) c->B * c->skip, sizeof(float));
		for (int b = 0; b < c->B; b++)
			for (int k = 0; k < c->skip; k++)
				x->skip[b * c->skip + k] =
					padded[((size_t) b * T + c->lengths[b] - c->skip + k) * I];
	}
	free(padded);
	x->targets = calloc((size_t) c->B * c->out, sizeof(float));
	for (int i = 0; i < c->B * c->out; i++)
		x->targets[i] = c->masked && i % 3 == 1 ? NAN : rnn_rng_normal(&rng);
	for (int b = 0; b < c->B; b++)
		x->labels[b] = (int) rnn_rng_below(&rng, (uint32_t) c->out);

	x->batch.B = c->B;
	x->batch.T = T;
	x->batch.lengths = x->lengths;
	x->batch.x = x->x;
	x->batch.tokens = x->tokens;
	x->batch.skip = x->skip;
	return 0;
}

/* The dropout premise: fresh trainer, same seed -> same mask; and dropout
 * does change the outputs in training mode. */
static int
check_dropout_premise(Ctx *x)
{
	int			n = x->c->B * x->c->out;
	float		a[MAXB * 8],
				b[MAXB * 8],
				e[MAXB * 8];
	const float *o;
	int			same = 1,
				differs = 0;

	if (isnan(eval_loss(x, &o)))
		return 0;
	memcpy(a, o, sizeof(float) * n);
	if (isnan(eval_loss(x, &o)))
		return 0;
	memcpy(b, o, sizeof(float) * n);
	if (rnn_forward(x->tr, &x->batch, 0, &o) != RNN_OK)
		return 0;
	memcpy(e, o, sizeof(float) * n);
	for (int i = 0; i < n; i++)
	{
		same &= a[i] == b[i];
		differs |= fabsf(a[i] - e[i]) > 1e-6f;
	}
	tap_diag("%s: same-seed trainers agree: %s; dropout changes outputs: %s",
			 x->c->name, same ? "yes" : "no", differs ? "yes" : "no");
	return same && differs;
}

/*
 * The masked loss is the mean over the targets that are not NaN, computed
 * here from the outputs; the gradient checks below then show that the
 * masked targets have no gradient (a NaN one would fail every coordinate).
 */
static void
check_masked_loss(Ctx *x, double loss)
{
	const float *o;
	double		sum = 0.0;
	int			n = 0;

	if (x->fresh)
		return;
	if (rnn_forward(x->tr, &x->batch, 1, &o) != RNN_OK)
	{
		tap_ok(0, "%s: forward", x->c->name);
		return;
	}
	for (int i = 0; i < x->c->B * x->c->out; i++)
	{
		double		d;

		if (isnan(x->targets[i]))
			continue;
		d = (double) o[i] - x->targets[i];
		sum += x->c->l1 ? fabs(d) : d * d;
		n++;
	}
	tap_ok(n < x->c->B * x->c->out && fabs(loss - sum / n) <= 1e-6 * (1 + fabs(loss)),
		   "%s: loss %.6f is the mean over the %d of %d targets not masked (%.6f)",
		   x->c->name, loss, n, x->c->B * x->c->out, sum / n);
}

static void
run_case(const GcCase *c, uint64_t seed)
{
	Ctx			x;
	RnnTensorInfo info[MAX_TENSORS];
	int			n_info;
	float	   *an;
	double		loss0;
	RnnRng		pick;
	/* max pooling is piecewise smooth: a step of 1e-2 can move the argmax
	 * of a near-tie and cross a kink, so those cases use a smaller step */
	double		eps = c->pool == RNN_POOL_MAX ? EPS / 10 : EPS;

	if (ctx_setup(&x, c, seed) != 0)
	{
		tap_ok(0, "%s: setup", c->name);
		ctx_free(&x);
		return;
	}
	if (x.fresh)
		tap_ok(check_dropout_premise(&x),
			   "%s: dropout mask is reproducible from the trainer seed and active",
			   c->name);

	/* analytic gradient */
	loss0 = eval_loss(&x, NULL);
	rnn_zero_grad(x.tr);
	if (!tap_ok(isfinite(loss0) && rnn_backward(x.tr) == RNN_OK,
				"%s: forward/loss/backward (loss %.6f)", c->name, loss0))
	{
		ctx_free(&x);
		return;
	}
	an = malloc(sizeof(float) * x.model->n_params);
	memcpy(an, rnn_trainer_grads(x.tr), sizeof(float) * x.model->n_params);
	if (c->masked)
		check_masked_loss(&x, loss0);

	n_info = rnn_param_tensors(&x.cfg, info, MAX_TENSORS);
	rnn_rng_seed(&pick, seed + 99);
	for (int k = 0; k < n_info; k++)
	{
		size_t		cnt = (size_t) info[k].rows * info[k].cols;
		int			ncoord = cnt < COORDS_PER_TENSOR ? (int) cnt : COORDS_PER_TENSOR;
		double		max_err = 0.0,
					max_g = 0.0;
		int			bad = 0;
		int			is_emb = strstr(info[k].name, "embedding") != NULL;

		for (int j = 0; j < ncoord; j++)
		{
			size_t		idx;
			float	   *p;
			float		saved,
						hi,
						lo;
			double		lp,
						lm,
						fd,
						g,
						err;

			if (cnt <= COORDS_PER_TENSOR)
				idx = (size_t) j;
			else if (is_emb && j < ncoord - 1)
			{
				/* a row some token uses (the last pick: any row) */
				int			tok = x.tokens[rnn_rng_below(&pick, (uint32_t) x.N)];

				idx = (size_t) tok * info[k].cols +
					rnn_rng_below(&pick, (uint32_t) info[k].cols);
			}
			else
				idx = rnn_rng_below(&pick, (uint32_t) cnt);
			p = x.model->params + info[k].offset + idx;
			saved = *p;
			hi = (float) (saved + eps);
			lo = (float) (saved - eps);
			*p = hi;
			lp = eval_loss(&x, NULL);
			*p = lo;
			lm = eval_loss(&x, NULL);
			*p = saved;
			fd = (lp - lm) / ((double) hi - (double) lo);
			g = an[info[k].offset + idx];
			err = fabs(fd - g);
			if (!(err <= GC_ATOL + GC_RTOL * fmax(fabs(fd), fabs(g))))
			{
				bad++;
				tap_diag("  %s[%zu]: analytic %.6g, numeric %.6g", info[k].name,
						 idx, g, fd);
			}
			if (err > max_err || isnan(err))
				max_err = err;
			if (fabs(g) > max_g)
				max_g = fabs(g);
		}
		tap_ok(bad == 0, "%s: %s (%d coords, max |grad| %.3g, max err %.2g)",
			   c->name, info[k].name, ncoord, max_g, max_err);
	}
	free(an);
	ctx_free(&x);
}

int
main(void)
{
	int			ncase = (int) (sizeof(CASES) / sizeof(CASES[0]));

	if (getenv("GC_EPS"))
		EPS = atof(getenv("GC_EPS"));

	for (int i = 0; i < ncase; i++)
	{
		tap_diag("---- %s", CASES[i].name);
		run_case(&CASES[i], 1000 + (uint64_t) i);
	}
	return tap_done();
}
