/*
 * test_steps.c -- the per-step head (RNN_HEAD_STEPS: language models and
 * taggers) and truncated BPTT with the state carried between chunks.
 *
 *  1. PyTorch fixtures (gen_fixtures.py, steps_* and tbptt_*): per-step
 *     logits (N, O) at every packed row, the top layer's output, h_n, the
 *     masked cross-entropy and every gradient; for tbptt_*, a first chunk
 *     from zeros whose final state, detached, starts the second chunk, whose
 *     gradients then stop at that state as PyTorch's do after detach().
 *     The inference path (RnnInfer) gives the same logits.
 *  2. Finite differences of the per-step loss (uni- and bidirectional,
 *     dropout before the head with a fixed mask, a masked row) and of a chunk
 *     started from a fixed carried state.
 *  3. Carrying is exact: rnn_stream_nll read in chunks of 3 steps equals the
 *     negative log-likelihood of one forward over the whole stream.
 *  4. rnn_fit_stream learns what needs the carried state: a stream whose
 *     next token depends on more than bptt tokens of context ends with a
 *     validation NLL far below the best any model seeing only the last bptt
 *     tokens can reach (that bound computed from the stream itself).
 *  5. Bad input: targets out of range, a pooled config, a bidirectional
 *     language model, ids outside the vocabulary.
 */
#include "testutil.h"

#define RTOL 2e-4
#define ATOL 2e-5
#define MAX_TENSORS 64
#define MAXB 8

/* ---------------------------------------------------------------------------
 * 1. Fixtures
 */
static int
load_params(const Fixture *fx, RnnModel *model)
{
	RnnTensorInfo info[MAX_TENSORS];
	int			n = rnn_param_tensors(&model->cfg, info, MAX_TENSORS);

	for (int k = 0; k < n; k++)
	{
		char		key[64];
		size_t		cnt;
		const float *v;

		snprintf(key, sizeof(key), "p:%.60s", info[k].name);
		v = fixture_f32(fx, key, &cnt);
		if (v == NULL || cnt != (size_t) info[k].rows * info[k].cols)
		{
			tap_diag("fixture lacks %s", key);
			return 0;
		}
		memcpy(model->params + info[k].offset, v, sizeof(float) * cnt);
	}
	return 1;
}

static int
check_grads(const Fixture *fx, RnnTrainer *tr, const RnnModel *model, const char *name)
{
	RnnTensorInfo info[MAX_TENSORS];
	int			n = rnn_param_tensors(&model->cfg, info, MAX_TENSORS);
	const float *g = rnn_trainer_grads(tr);
	int			ok = 1;

	for (int k = 0; k < n; k++)
	{
		char		key[64];
		size_t		cnt;
		const float *want;

		snprintf(key, sizeof(key), "g:%.60s", info[k].name);
		want = fixture_f32(fx, key, &cnt);
		ok &= want != NULL &&
			check_close(key, g + info[k].offset, want, cnt, RTOL, ATOL);
	}
	tap_ok(ok, "%s: every gradient equals PyTorch's", name);
	return ok;
}

static void
test_fixture(const char *dir, const char *name)
{
	Fixture		fx;
	RnnConfig	cfg;
	RnnModel   *model = NULL;
	RnnTrainer *tr = NULL;
	RnnInfer   *inf = NULL;
	int			lengths[MAXB];
	size_t		nlen,
				N,
				n;
	const int32_t *len;
	RnnBatch	batch;
	const float *out;
	double		loss;
	int			counted;
	float	   *carry_h = NULL,
			   *carry_c = NULL;
	const float *h0 = NULL,
			   *c0 = NULL;
	float	   *logits = NULL;
	int			tbptt = strncmp(name, "tbptt_", 6) == 0;
	size_t		state;

	if (!tap_ok(fixture_load(&fx, dir, name) == 0, "%s: fixture loads", name))
		return;
	fixture_config(&fx, &cfg);
	len = fixture_i32(&fx, "lengths", &nlen);
	N = 0;
	for (size_t b = 0; b < nlen; b++)
		N += (size_t) (lengths[b] = len[b]);
	state = (size_t) cfg.num_layers * (cfg.bidirectional ? 2 : 1) * nlen * cfg.hidden_size;
	if (!tap_ok(cfg.head == RNN_HEAD_STEPS && rnn_config_validate(&cfg, NULL) == RNN_OK &&
				rnn_model_create(&model, &cfg) == RNN_OK && load_params(&fx, model) &&
				rnn_trainer_create(&tr, model, (int) nlen, lengths[0], NULL, 1) == RNN_OK,
				"%s: per-step model built from PyTorch's state_dict", name))
		goto out;

	memset(&batch, 0, sizeof(batch));
	batch.B = (int) nlen;
	batch.T = lengths[0];
	batch.lengths = lengths;

	if (tbptt)
	{
		/* chunk 1 from zeros; its final state is where chunk 2 starts */
		batch.tokens = fixture_i32(&fx, "chunk1_tokens", NULL);
		rnn_trainer_set_state(tr, NULL, NULL);
		tap_ok(rnn_forward(tr, &batch, 0, &out) == RNN_OK &&
			   check_close("chunk 1 logits", out, fixture_f32(&fx, "chunk1_outputs", NULL),
						   N * cfg.output_size, RTOL, ATOL) &&
			   rnn_loss_xent_steps(tr, fixture_i32(&fx, "chunk1_targets", NULL), &loss,
								   &counted) == RNN_OK &&
			   check_close1("chunk 1 loss", loss, fixture_f32(&fx, "chunk1_loss", NULL)[0],
							RTOL, ATOL) &&
			   check_close("chunk 1 h_n", rnn_trainer_h_n(tr),
						   fixture_f32(&fx, "chunk1_h_n", NULL), state, RTOL, ATOL),
			   "%s: chunk 1 (from zeros): logits, loss, final state", name);
		carry_h = malloc(sizeof(float) * state);
		memcpy(carry_h, rnn_trainer_h_n(tr), sizeof(float) * state);
		if (cfg.cell == RNN_CELL_LSTM)
		{
			tap_ok(check_close("chunk 1 c_n", rnn_trainer_c_n(tr),
							   fixture_f32(&fx, "chunk1_c_n", NULL), state, RTOL, ATOL),
				   "%s: chunk 1 cell state", name);
			carry_c = malloc(sizeof(float) * state);
			memcpy(carry_c, rnn_trainer_c_n(tr), sizeof(float) * state);
		}
		h0 = carry_h;
		c0 = carry_c;
	}

	batch.tokens = fixture_i32(&fx, "tokens", NULL);
	rnn_trainer_set_state(tr, h0, c0);
	tap_ok(rnn_forward(tr, &batch, 1, &out) == RNN_OK &&
		   check_close("logits", out, fixture_f32(&fx, "outputs", &n), N * cfg.output_size,
					   RTOL, ATOL) && n == N * cfg.output_size,
		   "%s: logits (N, O) at every packed row equal PyTorch's", name);
	tap_ok(check_close("top_output", rnn_trainer_top_output(tr),
					   fixture_f32(&fx, "top_output", NULL),
					   N * rnn_feature_size(&cfg), RTOL, ATOL) &&
		   check_close("h_n", rnn_trainer_h_n(tr), fixture_f32(&fx, "h_n", NULL), state,
					   RTOL, ATOL),
		   "%s: top layer output and h_n", name);
	logits = malloc(sizeof(float) * N * cfg.output_size);
	memcpy(logits, out, sizeof(float) * N * cfg.output_size);
	tap_ok(rnn_loss_xent_steps(tr, fixture_i32(&fx, "step_targets", NULL), &loss,
							   &counted) == RNN_OK &&
		   check_close1("loss", loss, fixture_f32(&fx, "loss", NULL)[0], RTOL, ATOL) &&
		   counted == (int) N - 1,
		   "%s: masked per-step cross-entropy (%d of %zu rows) equals PyTorch's", name,
		   counted, N);
	rnn_zero_grad(tr);
	tap_ok(rnn_backward(tr) == RNN_OK, "%s: backward", name);
	check_grads(&fx, tr, model, name);

	/* inference path, same state */
	{
		float	   *io = malloc(sizeof(float) * N * cfg.output_size);
		int			ok = rnn_infer_create(&inf, model, (int) nlen, lengths[0]) == RNN_OK;

		if (ok)
		{
			rnn_infer_set_state(inf, h0, c0);
			ok = rnn_infer(inf, &batch, io) == RNN_OK &&
				check_close("infer logits", io, logits, N * cfg.output_size, 1e-5, 1e-5);
		}
		tap_ok(ok, "%s: rnn_infer gives the same (N, O) logits", name);
		free(io);
	}
out:
	free(logits);
	free(carry_h);
	free(carry_c);
	rnn_infer_free(inf);
	rnn_trainer_free(tr);
	rnn_model_free(model);
	fixture_free(&fx);
}

/* ---------------------------------------------------------------------------
 * 2. Finite differences
 */
typedef struct FdCase
{
	const char *name;
	RnnCellKind cell;
	int			layers;
	int			bidir;
	float		dropout;
	int			carried;		/* start from a fixed random state */
	int			B;
	int			lengths[MAXB];
} FdCase;

static const FdCase FD_CASES[] = {
	{"fd_lstm_l2_uni", RNN_CELL_LSTM, 2, 0, 0, 0, 3, {5, 3, 2}},
	{"fd_gru_l1_bi", RNN_CELL_GRU, 1, 1, 0, 0, 3, {6, 4, 1}},
	{"fd_tanh_l2_bi_dropout", RNN_CELL_TANH, 2, 1, 0.3f, 0, 3, {5, 4, 2}},
	{"fd_lstm_l1_uni_carried", RNN_CELL_LSTM, 1, 0, 0, 1, 3, {4, 4, 4}},
	{"fd_gru_l2_uni_carried_dropout", RNN_CELL_GRU, 2, 0, 0.25f, 1, 2, {5, 5}},
};

typedef struct Fd
{
	const FdCase *c;
	RnnModel   *model;
	RnnTrainer *tr;
	RnnBatch	batch;
	int32_t		tokens[64];
	int32_t		targets[64];
	float		h0[256],
				c0[256];
} Fd;

/* a fresh trainer each time: its first forward draws the same dropout mask */
static double
fd_loss(Fd *f)
{
	double		loss = NAN;

	rnn_trainer_free(f->tr);
	f->tr = NULL;
	if (rnn_trainer_create(&f->tr, f->model, f->c->B, f->c->lengths[0], NULL, 77) != RNN_OK)
		return NAN;
	if (f->c->carried)
		rnn_trainer_set_state(f->tr, f->h0, f->c->cell == RNN_CELL_LSTM ? f->c0 : NULL);
	if (rnn_forward(f->tr, &f->batch, 1, NULL) != RNN_OK ||
		rnn_loss_xent_steps(f->tr, f->targets, &loss, NULL) != RNN_OK)
		return NAN;
	return loss;
}

static void
test_fd(const FdCase *c)
{
	Fd			f;
	RnnConfig	cfg;
	RnnRng		rng;
	RnnTensorInfo info[MAX_TENSORS];
	int			n_info,
				N = 0;
	float	   *an;
	const double eps = 1e-2;

	memset(&f, 0, sizeof(f));
	f.c = c;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = c->cell;
	cfg.num_layers = c->layers;
	cfg.bidirectional = c->bidir;
	cfg.vocab_size = 7;
	cfg.embedding_dim = 3;
	cfg.hidden_size = 4;
	cfg.output_size = 5;
	cfg.head = RNN_HEAD_STEPS;
	cfg.pooling = RNN_POOL_LAST;
	cfg.dropout = c->dropout;
	if (!tap_ok(rnn_model_create(&f.model, &cfg) == RNN_OK, "%s: model", c->name))
		return;
	rnn_model_init(f.model, 5);
	rnn_rng_seed(&rng, 11);
	for (int b = 0; b < c->B; b++)
		N += c->lengths[b];
	for (int r = 0; r < N; r++)
	{
		f.tokens[r] = (int32_t) rnn_rng_below(&rng, 7);
		f.targets[r] = r == 2 ? -1 : (int32_t) rnn_rng_below(&rng, 5);
	}
	for (int i = 0; i < 256; i++)
	{
		f.h0[i] = 0.5f * rnn_rng_normal(&rng);
		f.c0[i] = 0.5f * rnn_rng_normal(&rng);
	}
	f.batch.B = c->B;
	f.batch.T = c->lengths[0];
	f.batch.lengths = c->lengths;
	f.batch.tokens = f.tokens;

	if (!tap_ok(isfinite(fd_loss(&f)), "%s: forward and loss", c->name))
		goto out;
	rnn_zero_grad(f.tr);
	rnn_backward(f.tr);
	an = malloc(sizeof(float) * f.model->n_params);
	memcpy(an, rnn_trainer_grads(f.tr), sizeof(float) * f.model->n_params);
	n_info = rnn_param_tensors(&cfg, info, MAX_TENSORS);
	{
		int			bad = 0,
					checked = 0;
		double		max_err = 0;

		for (int k = 0; k < n_info; k++)
		{
			size_t		cnt = (size_t) info[k].rows * info[k].cols;

			for (int j = 0; j < 5; j++)
			{
				size_t		idx = rnn_rng_below(&rng, (uint32_t) cnt);
				float	   *p = f.model->params + info[k].offset + idx;
				float		saved = *p;
				double		lp,
							lm,
							fd,
							g,
							err;

				if (strstr(info[k].name, "embedding"))
					idx = (size_t) f.tokens[j % N] * info[k].cols + idx % info[k].cols,
						p = f.model->params + info[k].offset + idx,
						saved = *p;
				*p = saved + (float) eps;
				lp = fd_loss(&f);
				*p = saved - (float) eps;
				lm = fd_loss(&f);
				*p = saved;
				fd = (lp - lm) / (2 * eps);
				g = an[info[k].offset + idx];
				err = fabs(fd - g);
				checked++;
				if (!(err <= 1e-3 + 2e-2 * fmax(fabs(fd), fabs(g))))
				{
					bad++;
					tap_diag("  %s[%zu]: analytic %.6g, numeric %.6g", info[k].name, idx, g, fd);
				}
				if (err > max_err)
					max_err = err;
			}
		}
		tap_ok(bad == 0, "%s: %d coordinates of %d tensors match central differences "
			   "(max err %.2g)", c->name, checked, n_info, max_err);
	}
	free(an);
out:
	rnn_trainer_free(f.tr);
	rnn_model_free(f.model);
}

/* ---------------------------------------------------------------------------
 * 3. Chunked evaluation equals one forward over the whole stream
 */
static void
test_stream_nll_exact(void)
{
	RnnConfig	cfg = {.cell = RNN_CELL_LSTM,.num_layers = 2,.vocab_size = 6,
	.embedding_dim = 3,.hidden_size = 5,.output_size = 6,.head = RNN_HEAD_STEPS};
	RnnModel   *model;
	RnnInfer   *inf;
	RnnRng		rng;
	int32_t		toks[41];
	float		logits[40 * 6];
	int			len = 40;
	RnnBatch	batch = {.B = 1,.T = 40,.lengths = &len,.tokens = toks};
	double		whole = 0,
				chunked;
	size_t		count;
	RnnStatus	st;

	rnn_model_create(&model, &cfg);
	rnn_model_init(model, 3);
	rnn_rng_seed(&rng, 4);
	for (int i = 0; i < 41; i++)
		toks[i] = (int32_t) rnn_rng_below(&rng, 6);
	rnn_infer_create(&inf, model, 1, 40);
	rnn_infer(inf, &batch, logits);
	for (int t = 0; t < 40; t++)
	{
		double		mx = -1e30,
					se = 0;

		for (int c = 0; c < 6; c++)
			mx = fmax(mx, logits[t * 6 + c]);
		for (int c = 0; c < 6; c++)
			se += exp(logits[t * 6 + c] - mx);
		whole += mx + log(se) - logits[t * 6 + toks[t + 1]];
	}
	st = rnn_stream_nll(model, toks, 41, 1, 3, &chunked, &count);
	tap_ok(st == RNN_OK && count == 40 && check_close1("chunked nll", chunked, whole, 1e-5, 1e-5),
		   "rnn_stream_nll in chunks of 3 steps (state carried) = one forward over 40 steps "
		   "(%.6f vs %.6f)", chunked, whole);
	rnn_infer_free(inf);
	rnn_model_free(model);
}

/* ---------------------------------------------------------------------------
 * 4. Learning across chunk boundaries
 */

/*
 * H(next | last k tokens) of a periodic stream, in nats: the best mean NLL
 * any predictor that sees only the last k tokens can reach.
 */
static double
order_k_entropy(const int32_t *block, int P, int k)
{
	double		h = 0;

	for (int i = 0; i < P; i++)
	{
		int			same = 0,
					same_next = 0;

		for (int j = 0; j < P; j++)
		{
			int			match = 1;

			for (int d = 1; d <= k && match; d++)
				match = block[(i - d + P) % P] == block[(j - d + P) % P];
			if (!match)
				continue;
			same++;
			same_next += block[i] == block[j];
		}
		h -= log((double) same_next / same);
	}
	return h / P;
}

static void
test_learns_across_chunks(void)
{
	/* 7 a's then b, 7 a's then c: where a run ends and which letter ends it
	 * take 8 to 16 tokens of memory */
	int32_t		block[16];
	int			P = 16,
				bptt = 4;
	size_t		n_train = 16 * 150,
				n_valid = 16 * 20;
	int32_t    *train = malloc(sizeof(int32_t) * n_train);
	int32_t    *valid = malloc(sizeof(int32_t) * n_valid);
	RnnConfig	cfg = {.cell = RNN_CELL_LSTM,.num_layers = 1,.vocab_size = 5,
	.embedding_dim = 4,.hidden_size = 32,.output_size = 5,.head = RNN_HEAD_STEPS};
	RnnModel   *model;
	RnnStreamOptions opt;
	RnnFitResult res;
	RnnStatus	st;
	double		bound,
				nll;
	size_t		count;
	double		t0 = now_seconds();

	for (int i = 0; i < P; i++)
		block[i] = i == 7 ? 3 : i == 15 ? 4 : 2;
	for (size_t i = 0; i < n_train; i++)
		train[i] = block[i % P];
	for (size_t i = 0; i < n_valid; i++)
		valid[i] = block[(i + 5) % P];
	bound = order_k_entropy(block, P, bptt);

	rnn_model_create(&model, &cfg);
	rnn_model_init(model, 1);
	rnn_stream_defaults(&opt);
	opt.epochs = 400;
	opt.batch_size = 8;
	opt.bptt = bptt;
	opt.patience = 0;
	opt.optim.learning_rate = 1e-2f;
	memset(&res, 0, sizeof(res));
	st = rnn_fit_stream(model, train, n_train, valid, n_valid, &opt, &res);
	rnn_stream_nll(model, valid, n_valid, 1, bptt, &nll, &count);
	nll /= (double) count;
	tap_ok(st == RNN_OK && nll < 0.25 * bound,
		   "rnn_fit_stream (bptt %d) learns %d-token dependencies: validation %.4f nats/token, "
		   "best possible from the last %d tokens %.4f (%d epochs, %.1f s)",
		   bptt, P, nll, bptt, bound, res.epochs_run, now_seconds() - t0);
	/* 8 streams of 40 tokens, each starting from zeros, lose some context */
	tap_ok(st == RNN_OK && res.best_valid_loss < bound && res.best_valid_loss >= nll,
		   "its reported validation loss %.4f (8 streams from zero states) is between "
		   "one stream's %.4f and the bound", res.best_valid_loss, nll);
	rnn_model_free(model);
	free(train);
	free(valid);
}

/* ---------------------------------------------------------------------------
 * 5. Bad input
 */
static void
test_bad_input(void)
{
	RnnConfig	cfg = {.cell = RNN_CELL_GRU,.num_layers = 1,.vocab_size = 5,
	.embedding_dim = 2,.hidden_size = 3,.output_size = 4,.head = RNN_HEAD_STEPS};
	RnnModel   *model;
	RnnTrainer *tr;
	int			len[2] = {2, 1};
	int32_t		toks[3] = {1, 2, 3};
	int32_t		bad_t[3] = {0, 4, 1};
	RnnBatch	batch = {.B = 2,.T = 2,.lengths = len,.tokens = toks};
	double		loss;
	RnnStreamOptions opt;
	RnnFitResult res;
	int32_t		stream[10] = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4};
	int32_t		outside[4] = {0, 1, 5, 2};
	uint8_t    *blob;
	size_t		blob_len;
	RnnModel   *back = NULL;

	tap_ok(rnn_model_create(&model, &cfg) == RNN_OK, "a per-step config is valid");
	rnn_trainer_create(&tr, model, 2, 2, NULL, 1);
	rnn_forward(tr, &batch, 1, NULL);
	tap_ok(rnn_loss_xent_steps(tr, bad_t, &loss, NULL) == RNN_ERR_INPUT,
		   "a target >= output_size is RNN_ERR_INPUT");
	rnn_trainer_free(tr);
	cfg.pooling = RNN_POOL_MAX;
	tap_ok(rnn_config_validate(&cfg, NULL) == RNN_ERR_CONFIG, "a per-step head with pooling is refused");
	cfg.pooling = RNN_POOL_LAST;
	cfg.output_size = 1;
	tap_ok(rnn_config_validate(&cfg, NULL) == RNN_ERR_CONFIG, "a per-step head of one output is refused");

	rnn_stream_defaults(&opt);
	opt.epochs = 1;
	opt.bptt = 3;
	memset(&res, 0, sizeof(res));
	{
		/* output_size 4 < vocab_size 5: the targets 4 are masked */
		double		nll;
		size_t		count = 0;

		tap_ok(rnn_fit_stream(model, stream, 10, stream, 10, &opt, &res) == RNN_OK &&
			   isfinite(res.best_valid_loss),
			   "rnn_fit_stream: output_size below vocab_size trains");
		tap_ok(rnn_stream_nll(model, stream, 10, 1, 3, &nll, &count) == RNN_OK && count == 7 &&
			   isfinite(nll),
			   "rnn_stream_nll: targets at or above output_size are not counted (7 of 9)");
	}
	rnn_model_free(model);
	cfg.output_size = 6;
	rnn_model_create(&model, &cfg);
	tap_ok(rnn_fit_stream(model, stream, 10, NULL, 0, &opt, &res) == RNN_ERR_CONFIG,
		   "rnn_fit_stream: output_size above vocab_size is RNN_ERR_CONFIG");
	rnn_model_free(model);
	cfg.output_size = 5;
	rnn_model_create(&model, &cfg);
	tap_ok(rnn_fit_stream(model, outside, 4, NULL, 0, &opt, &res) == RNN_ERR_INPUT,
		   "rnn_fit_stream: an id outside the vocabulary is RNN_ERR_INPUT");
	tap_ok(rnn_fit_stream(model, stream, 10, stream, 1, &opt, &res) == RNN_ERR_CONFIG,
		   "rnn_fit_stream: a validation stream of one token is RNN_ERR_CONFIG");
	tap_ok(rnn_fit_stream(model, stream, 10, NULL, 0, &opt, &res) == RNN_OK &&
		   res.epochs_run == 1, "rnn_fit_stream: no validation stream trains");
	tap_ok(rnn_model_encode(model, &blob, &blob_len) == RNN_OK &&
		   rnn_model_decode(blob, blob_len, &back) == RNN_OK &&
		   back->cfg.head == RNN_HEAD_STEPS &&
		   memcmp(back->params, model->params, sizeof(float) * model->n_params) == 0,
		   "a per-step model round-trips through the weight blob");
	rnn_free(blob);
	rnn_model_free(back);
	rnn_model_free(model);

	cfg.bidirectional = 1;
	rnn_model_create(&model, &cfg);
	tap_ok(rnn_fit_stream(model, stream, 10, NULL, 0, &opt, &res) == RNN_ERR_CONFIG,
		   "rnn_fit_stream: a bidirectional language model is RNN_ERR_CONFIG");
	rnn_model_free(model);
}

int
main(int argc, char **argv)
{
	const char *dir = fixture_dir(argc, argv);
	char		path[1024];
	char		name[128];
	FILE	   *mf;
	int			nfix = 0;

	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	mf = fopen(path, "r");
	if (!tap_ok(mf != NULL, "fixture manifest %s", path))
		return tap_done();
	while (fgets(name, sizeof(name), mf))
	{
		name[strcspn(name, "\r\n")] = '\0';
		if (strncmp(name, "steps_", 6) != 0 && strncmp(name, "tbptt_", 6) != 0)
			continue;
		tap_diag("---- %s", name);
		test_fixture(dir, name);
		nfix++;
	}
	fclose(mf);
	tap_ok(nfix >= 5, "%d per-step fixtures", nfix);
	tap_diag("---- finite differences");
	for (size_t i = 0; i < sizeof(FD_CASES) / sizeof(FD_CASES[0]); i++)
		test_fd(&FD_CASES[i]);
	tap_diag("---- carried state");
	test_stream_nll_exact();
	test_learns_across_chunks();
	tap_diag("---- bad input");
	test_bad_input();
	return tap_done();
}
