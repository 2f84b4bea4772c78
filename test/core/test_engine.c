/*
 * test_engine.c -- the engine against PyTorch reference dumps.
 *
 * For every fixture listed in fixtures/MANIFEST (written by gen_fixtures.py):
 * build the model from the file's config, take PyTorch's parameters, run one
 * training forward, the loss and one backward, and compare the top layer's
 * packed output, h_n, c_n, the head outputs, the loss and every gradient
 * tensor with a tolerant checker.  The Adam fixture then takes five
 * optimizer steps with clipping and compares each step's loss and gradient
 * norm and the final parameters.  A few API checks (pack layout, config
 * validation, malformed batches, weight blob round trip) close the file.
 *
 * Usage: test_engine [fixture-dir]   (default $RNN_FIXTURES or ./fixtures)
 * Output: TAP.
 */
#include "testutil.h"
#include "codec.h"

#define RTOL 1e-4
#define ATOL 1e-5
#define MAX_TENSORS 64

/* ---------------------------------------------------------------------------
 * One fixture: model, batch, trainer
 */
typedef struct Case
{
	Fixture		fx;
	RnnConfig	cfg;
	RnnModel   *model;
	RnnTrainer *tr;
	RnnBatch	batch;
	int			lengths[64];
	int			B,
				T;
	RnnTensorInfo info[MAX_TENSORS];
	int			n_info;
} Case;

static void
case_free(Case *c)
{
	if (c->tr)
		rnn_trainer_free(c->tr);
	if (c->model)
		rnn_model_free(c->model);
	fixture_free(&c->fx);
	memset(c, 0, sizeof(*c));
}

/*
 * Checks that the engine's parameter layout is PyTorch's state_dict order
 * (names, shapes, contiguous offsets) and copies the fixture's parameters
 * (prefix "p:" or "final:") into buf.  Returns 1 if everything matched.
 */
static int
layout_matches(Case *c, const char *prefix, float *buf, int verbose)
{
	int			k = 0;
	size_t		offset = 0;
	int			ok = 1;
	size_t		plen = strlen(prefix);

	for (int i = 0; i < c->fx.n_tensors; i++)
	{
		FixTensor  *t = &c->fx.t[i];
		int			rows,
					cols;

		if (strncmp(t->name, prefix, plen) != 0)
			continue;
		rows = t->ndim >= 1 ? t->dims[0] : 1;
		cols = t->ndim >= 2 ? t->dims[1] : 1;
		if (k >= c->n_info)
		{
			if (verbose)
				tap_diag("engine has %d tensors, PyTorch has more (%s)",
						 c->n_info, t->name + plen);
			return 0;
		}
		if (strcmp(c->info[k].name, t->name + plen) != 0 ||
			c->info[k].rows != rows || c->info[k].cols != cols ||
			c->info[k].offset != offset)
		{
			if (verbose)
				tap_diag("tensor %d: engine %s (%d,%d) @%zu, PyTorch %s (%d,%d) @%zu",
						 k, c->info[k].name, c->info[k].rows, c->info[k].cols,
						 c->info[k].offset, t->name + plen, rows, cols, offset);
			ok = 0;
		}
		if (buf && c->info[k].offset + t->n <= c->model->n_params)
			memcpy(buf + c->info[k].offset, t->data, sizeof(float) * t->n);
		offset += t->n;
		k++;
	}
	if (k != c->n_info)
	{
		if (verbose)
			tap_diag("engine has %d tensors, PyTorch %d", c->n_info, k);
		ok = 0;
	}
	if (offset != c->model->n_params)
	{
		if (verbose)
			tap_diag("n_params: engine %zu, PyTorch %zu", c->model->n_params, offset);
		ok = 0;
	}
	return ok;
}

/* Loads a fixture and builds model + trainer; 0 on success. */
static int
case_setup(Case *c, const char *dir, const char *name)
{
	const int32_t *len;
	size_t		nlen;
	RnnStatus	st;
	const char *why = NULL;
	RnnOptimConfig opt;
	const float *o;

	memset(c, 0, sizeof(*c));
	if (fixture_load(&c->fx, dir, name) != 0)
		return -1;
	fixture_config(&c->fx, &c->cfg);
	len = fixture_i32(&c->fx, "lengths", &nlen);
	if (!len || nlen > 64)
		return -1;
	c->B = (int) nlen;
	for (int b = 0; b < c->B; b++)
		c->lengths[b] = len[b];
	c->T = c->lengths[0];

	st = rnn_config_validate(&c->cfg, &why);
	if (st != RNN_OK)
	{
		tap_diag("%s: config rejected: %s (%s)", name, rnn_status_message(st),
				 why ? why : "?");
		return -1;
	}
	st = rnn_model_create(&c->model, &c->cfg);
	if (st != RNN_OK)
	{
		tap_diag("%s: rnn_model_create: %s", name, rnn_status_message(st));
		return -1;
	}
	c->n_info = rnn_param_tensors(&c->cfg, c->info, MAX_TENSORS);

	rnn_optim_defaults(&opt);
	if ((o = fixture_f32(&c->fx, "opt", NULL)) != NULL)
	{
		opt.learning_rate = o[0];
		opt.beta1 = o[1];
		opt.beta2 = o[2];
		opt.eps = o[3];
		opt.weight_decay = o[4];
		opt.clip_norm = o[5];
	}
	st = rnn_trainer_create(&c->tr, c->model, c->B, c->T, &opt, 1234);
	if (st != RNN_OK)
	{
		tap_diag("%s: rnn_trainer_create: %s", name, rnn_status_message(st));
		return -1;
	}

	c->batch.B = c->B;
	c->batch.T = c->T;
	c->batch.lengths = c->lengths;
	c->batch.x = fixture_f32(&c->fx, "x", NULL);
	c->batch.tokens = fixture_i32(&c->fx, "tokens", NULL);
	c->batch.skip = fixture_f32(&c->fx, "skip", NULL);
	return 0;
}

/* forward (training), loss, zero_grad, backward */
static RnnStatus
train_pass(Case *c, const float **outputs, double *loss)
{
	RnnStatus	st;

	st = rnn_forward(c->tr, &c->batch, 1, outputs);
	if (st != RNN_OK)
		return st;
	if (c->cfg.head == RNN_HEAD_REGRESSION)
		st = rnn_loss_mse(c->tr, fixture_f32(&c->fx, "targets", NULL), loss);
	else
	{
		size_t		n;
		const int32_t *lab = fixture_i32(&c->fx, "labels", &n);
		int			labels[64];

		for (size_t i = 0; i < n && i < 64; i++)
			labels[i] = lab[i];
		st = rnn_loss_xent(c->tr, labels, NULL, loss);
	}
	if (st != RNN_OK)
		return st;
	rnn_zero_grad(c->tr);
	return rnn_backward(c->tr);
}

/* ---------------------------------------------------------------------------
 * Forward and backward against PyTorch
 */
static void
test_fixture(const char *dir, const char *name)
{
	Case		c;
	const float *outputs = NULL;
	double		loss = NAN;
	RnnStatus	st;
	size_t		n;
	const float *want;
	int			ok;

	if (case_setup(&c, dir, name) != 0)
	{
		tap_ok(0, "%s: setup", name);
		case_free(&c);
		return;
	}
	tap_ok(layout_matches(&c, "p:", c.model->params, 1),
		   "%s: parameter layout is PyTorch's state_dict order", name);

	st = train_pass(&c, &outputs, &loss);
	if (!tap_ok(st == RNN_OK, "%s: forward/loss/backward return OK (%s)",
				name, rnn_status_message(st)))
	{
		case_free(&c);
		return;
	}

	want = fixture_f32(&c.fx, "top_output", &n);
	tap_ok(check_close("top_output", rnn_trainer_top_output(c.tr), want, n,
					   RTOL, ATOL), "%s: top layer packed output", name);

	want = fixture_f32(&c.fx, "h_n", &n);
	ok = check_close("h_n", rnn_trainer_h_n(c.tr), want, n, RTOL, ATOL);
	if (c.cfg.cell == RNN_CELL_LSTM)
	{
		want = fixture_f32(&c.fx, "c_n", &n);
		ok &= check_close("c_n", rnn_trainer_c_n(c.tr), want, n, RTOL, ATOL);
	}
	else if (rnn_trainer_c_n(c.tr) != NULL)
	{
		tap_diag("c_n is not NULL for a non-LSTM cell");
		ok = 0;
	}
	tap_ok(ok, "%s: final states h_n%s", name,
		   c.cfg.cell == RNN_CELL_LSTM ? ", c_n" : "");

	want = fixture_f32(&c.fx, "outputs", &n);
	tap_ok(check_close("outputs", outputs, want, n, RTOL, ATOL),
		   "%s: head outputs", name);

	want = fixture_f32(&c.fx, "loss", NULL);
	tap_ok(want && check_close1("loss", loss, want[0], RTOL, ATOL),
		   "%s: loss", name);

	/* every gradient tensor, by the engine's names */
	{
		const float *grads = rnn_trainer_grads(c.tr);
		char		key[64];
		char		bad[256] = "";

		ok = 1;
		for (int i = 0; i < c.n_info; i++)
		{
			const float *g;
			size_t		gn;
			size_t		cnt = (size_t) c.info[i].rows * c.info[i].cols;

			snprintf(key, sizeof(key), "g:%s", c.info[i].name);
			g = fixture_f32(&c.fx, key, &gn);
			if (!g || gn != cnt ||
				!check_close(key, grads + c.info[i].offset, g, cnt, RTOL, ATOL))
			{
				if (!g || gn != cnt)
					tap_diag("%s: missing in fixture or size mismatch", key);
				ok = 0;
				if (strlen(bad) + strlen(c.info[i].name) + 2 < sizeof(bad))
				{
					strcat(bad, " ");
					strcat(bad, c.info[i].name);
				}
			}
		}
		tap_ok(ok, "%s: all %d gradient tensors%s%s", name, c.n_info,
			   ok ? "" : ", bad:", bad);
	}

	/* rnn_head_forward on PyTorch's pooled features (last-step pooling:
	 * the top layer's h_n, forward then reverse) gives the head outputs */
	if (c.cfg.pooling == RNN_POOL_LAST && c.cfg.skip_size == 0)
	{
		int			D = c.cfg.bidirectional ? 2 : 1;
		int			H = c.cfg.hidden_size;
		int			L = c.cfg.num_layers;
		const float *hn = fixture_f32(&c.fx, "h_n", NULL);
		float		feats[64 * 16],
					hout[64 * 16];

		for (int b = 0; b < c.B; b++)
			for (int d = 0; d < D; d++)
				memcpy(feats + ((size_t) b * D + d) * H,
					   hn + (((size_t) (L - 1) * D + d) * c.B + b) * H,
					   sizeof(float) * H);
		rnn_head_forward(c.model, feats, c.B, hout);
		want = fixture_f32(&c.fx, "outputs", &n);
		tap_ok(check_close("rnn_head_forward", hout, want, n, RTOL, ATOL),
			   "%s: rnn_head_forward on the top layer's h_n", name);
	}

	/* weighted cross-entropy: sum(w * loss) / sum(w) and its gradients */
	if (fixture_f32(&c.fx, "xent_weights", NULL))
	{
		const float *w = fixture_f32(&c.fx, "xent_weights", NULL);
		const float *wl = fixture_f32(&c.fx, "wloss", NULL);
		const int32_t *lab = fixture_i32(&c.fx, "labels", &n);
		int			labels[64];
		const float *grads;
		char		key[64];

		for (size_t i = 0; i < n && i < 64; i++)
			labels[i] = lab[i];
		st = rnn_forward(c.tr, &c.batch, 1, &outputs);
		if (st == RNN_OK)
			st = rnn_loss_xent(c.tr, labels, w, &loss);
		if (st == RNN_OK)
		{
			rnn_zero_grad(c.tr);
			st = rnn_backward(c.tr);
		}
		ok = st == RNN_OK && wl && check_close1("weighted loss", loss, wl[0], RTOL, ATOL);
		grads = rnn_trainer_grads(c.tr);
		for (int i = 0; st == RNN_OK && i < c.n_info; i++)
		{
			const float *g;
			size_t		gn;

			snprintf(key, sizeof(key), "gw:%s", c.info[i].name);
			g = fixture_f32(&c.fx, key, &gn);
			ok &= g != NULL && gn == (size_t) c.info[i].rows * c.info[i].cols &&
				check_close(key, grads + c.info[i].offset, g, gn, RTOL, ATOL);
		}
		tap_ok(ok, "%s: weighted cross-entropy loss and gradients", name);
	}

	/* inference path (no training buffers) gives the same head outputs */
	{
		RnnInfer   *inf = NULL;
		float		out[64 * 16];

		want = fixture_f32(&c.fx, "outputs", &n);
		st = rnn_infer_create(&inf, c.model, c.B, c.T);
		if (st == RNN_OK)
			st = rnn_infer(inf, &c.batch, out);
		if (st != RNN_OK)
			tap_diag("rnn_infer: %s", rnn_status_message(st));
		ok = st == RNN_OK && n <= 64 * 16 &&
			check_close("infer outputs", out, want, n, RTOL, ATOL);
		if (st == RNN_OK)
		{
			want = fixture_f32(&c.fx, "h_n", &n);
			ok &= check_close("infer h_n", rnn_infer_h_n(inf), want, n, RTOL, ATOL);
			if (c.cfg.cell == RNN_CELL_LSTM)
			{
				want = fixture_f32(&c.fx, "c_n", &n);
				ok &= check_close("infer c_n", rnn_infer_c_n(inf), want, n, RTOL, ATOL);
			}
		}
		tap_ok(ok, "%s: rnn_infer outputs and final states", name);
		if (inf)
			rnn_infer_free(inf);
	}
	case_free(&c);
}

/* ---------------------------------------------------------------------------
 * Streaming inference: rnn_infer_set_state / rnn_infer_h_n / rnn_infer_c_n
 */

/* Rows offsets[t] + b of packed x/tokens for sequence b, steps t0..t1-1. */
static void
slice_seq(Case *c, int b, int t0, int t1, float *x, int32_t *tok)
{
	int			bs[64],
				off[64];
	int			I = c->cfg.input_size;

	rnn_pack_layout(c->lengths, c->B, bs, off);
	for (int t = t0; t < t1; t++)
	{
		size_t		row = (size_t) off[t] + b;

		if (c->batch.x)
			memcpy(x + (size_t) (t - t0) * I, c->batch.x + row * I, sizeof(float) * I);
		if (c->batch.tokens)
			tok[t - t0] = c->batch.tokens[row];
	}
}

static void
test_stream(const char *dir, const char *name)
{
	Case		c;
	RnnInfer   *inf = NULL;
	RnnStatus	st;
	float		out[64 * 16];
	const float *want,
			   *h0,
			   *c0;
	size_t		n;
	int			ok;

	if (case_setup(&c, dir, name) != 0)
	{
		tap_ok(0, "%s: setup", name);
		case_free(&c);
		return;
	}
	layout_matches(&c, "p:", c.model->params, 0);
	h0 = fixture_f32(&c.fx, "h0", NULL);
	c0 = fixture_f32(&c.fx, "c0", NULL);
	st = rnn_infer_create(&inf, c.model, c.B, c.T);
	if (st == RNN_OK)
	{
		rnn_infer_set_state(inf, h0, c0);
		st = rnn_infer(inf, &c.batch, out);
	}
	want = fixture_f32(&c.fx, "outputs", &n);
	tap_ok(st == RNN_OK && check_close("outputs from h0", out, want, n, RTOL, ATOL),
		   "%s: rnn_infer from given initial states (%s)", name,
		   rnn_status_message(st));
	ok = st == RNN_OK;
	if (ok)
	{
		want = fixture_f32(&c.fx, "h_n", &n);
		ok &= check_close("h_n from h0", rnn_infer_h_n(inf), want, n, RTOL, ATOL);
		if (c.cfg.cell == RNN_CELL_LSTM)
		{
			want = fixture_f32(&c.fx, "c_n", &n);
			ok &= check_close("c_n from c0", rnn_infer_c_n(inf), want, n, RTOL, ATOL);
		}
	}
	tap_ok(ok, "%s: rnn_infer_h_n%s after starting from h0", name,
		   c.cfg.cell == RNN_CELL_LSTM ? "/c_n" : "");
	if (inf)
		rnn_infer_free(inf);
	inf = NULL;

	/* pieces: each sequence fed in two parts, state carried, equals whole */
	if (!c.cfg.bidirectional && c.cfg.pooling == RNN_POOL_LAST)
	{
		int			LD = c.cfg.num_layers;
		int			H = c.cfg.hidden_size;
		int			O = c.cfg.output_size;
		int			I = c.cfg.input_size > 0 ? c.cfg.input_size : 1;
		float	   *hb = calloc((size_t) LD * H, sizeof(float));
		float	   *cb = calloc((size_t) LD * H, sizeof(float));
		float	   *hm = calloc((size_t) LD * H, sizeof(float));
		float	   *cm = calloc((size_t) LD * H, sizeof(float));
		float	   *x = calloc((size_t) c.T * I, sizeof(float));
		int32_t    *tok = calloc((size_t) c.T, sizeof(int32_t));
		float		piece_out[64 * 16],
					first_out[16];
		int			n_split = 0;

		want = fixture_f32(&c.fx, "outputs", NULL);
		ok = rnn_infer_create(&inf, c.model, 1, c.T) == RNN_OK;
		for (int b = 0; ok && b < c.B; b++)
		{
			int			len = c.lengths[b];
			int			k = len / 2;
			RnnBatch	one = {.B = 1,.x = x,.tokens = c.batch.tokens ? tok : NULL};
			int			lens[1];

			/* this sequence's slice of h0/c0 ((L, B, H) -> (L, 1, H)) */
			for (int l = 0; l < LD; l++)
			{
				memcpy(hb + (size_t) l * H, h0 + ((size_t) l * c.B + b) * H, sizeof(float) * H);
				if (c0)
					memcpy(cb + (size_t) l * H, c0 + ((size_t) l * c.B + b) * H, sizeof(float) * H);
			}
			one.lengths = lens;
			if (k >= 1)
			{
				slice_seq(&c, b, 0, k, x, tok);
				lens[0] = k;
				one.T = k;
				rnn_infer_set_state(inf, hb, c0 ? cb : NULL);
				ok &= rnn_infer(inf, &one, first_out) == RNN_OK;
				memcpy(hm, rnn_infer_h_n(inf), sizeof(float) * LD * H);
				if (c0)
					memcpy(cm, rnn_infer_c_n(inf), sizeof(float) * LD * H);
				n_split++;
			}
			else
			{
				memcpy(hm, hb, sizeof(float) * LD * H);
				memcpy(cm, cb, sizeof(float) * LD * H);
			}
			slice_seq(&c, b, k, len, x, tok);
			lens[0] = len - k;
			one.T = len - k;
			rnn_infer_set_state(inf, hm, c0 ? cm : NULL);
			ok &= rnn_infer(inf, &one, piece_out + (size_t) b * O) == RNN_OK;
		}
		ok = ok && check_close("outputs fed in pieces", piece_out, want,
							   (size_t) c.B * O, RTOL, ATOL);
		tap_ok(ok, "%s: %d sequences fed in two pieces (state carried) match "
			   "PyTorch on the whole", name, n_split);
		if (inf)
			rnn_infer_free(inf);
		free(hb);
		free(cb);
		free(hm);
		free(cm);
		free(x);
		free(tok);
	}
	case_free(&c);
}

/* ---------------------------------------------------------------------------
 * Adam + clipping against torch.optim.Adam + clip_grad_norm_
 */
static void
test_adam(const char *dir, const char *name)
{
	Case		c;
	size_t		steps,
				n;
	const float *want_loss,
			   *want_norm;
	int			ok_loss = 1,
				ok_norm = 1,
				ok_st = 1;
	float	   *final;

	if (case_setup(&c, dir, name) != 0)
	{
		tap_ok(0, "%s: setup", name);
		case_free(&c);
		return;
	}
	layout_matches(&c, "p:", c.model->params, 0);
	want_loss = fixture_f32(&c.fx, "step_loss", &steps);
	want_norm = fixture_f32(&c.fx, "step_norm", NULL);
	if (!want_loss || !want_norm)
	{
		tap_ok(0, "%s: Adam fixture tensors", name);
		case_free(&c);
		return;
	}
	for (size_t s = 0; s < steps; s++)
	{
		const float *outputs;
		double		loss = NAN,
					norm = NAN;
		char		label[64];
		RnnStatus	st = train_pass(&c, &outputs, &loss);

		if (st == RNN_OK)
			st = rnn_optim_step(c.tr, &norm);
		if (st != RNN_OK)
		{
			tap_diag("step %zu: %s", s, rnn_status_message(st));
			ok_st = 0;
			break;
		}
		snprintf(label, sizeof(label), "step %zu loss", s);
		ok_loss &= check_close1(label, loss, want_loss[s], RTOL, ATOL);
		snprintf(label, sizeof(label), "step %zu grad norm", s);
		ok_norm &= check_close1(label, norm, want_norm[s], RTOL, ATOL);
	}
	tap_ok(ok_st, "%s: %zu optimizer steps return OK", name, steps);
	tap_ok(ok_st && ok_loss, "%s: loss before each Adam step", name);
	tap_ok(ok_st && ok_norm, "%s: gradient norm before clipping, each step", name);

	n = c.model->n_params;
	final = calloc(n, sizeof(float));
	layout_matches(&c, "final:", final, 0);
	tap_ok(ok_st && check_close("final params", c.model->params, final, n,
								RTOL, 1e-5),
		   "%s: parameters after %zu Adam steps with clipping", name, steps);
	free(final);
	case_free(&c);
}

/* ---------------------------------------------------------------------------
 * API checks that need no PyTorch
 */

/*
 * After a forward and a loss on tr: one Adam step must leave the parameters
 * [lo, hi) exactly as they were, move most of the others, and report the
 * gradient norm over the others only.
 */
static void
check_frozen_step(const char *what, const char *part, RnnTrainer *tr, RnnModel *m,
				  size_t lo, size_t hi)
{
	float	   *before = malloc(sizeof(float) * m->n_params);
	const float *g;
	double		norm = 0,
				want = 0;
	int			same = 1,
				moved = 0;
	size_t		trained = m->n_params - (hi - lo);

	memcpy(before, m->params, sizeof(float) * m->n_params);
	rnn_zero_grad(tr);
	rnn_backward(tr);
	g = rnn_trainer_grads(tr);
	for (size_t i = 0; i < m->n_params; i++)
		if (i < lo || i >= hi)
			want += (double) g[i] * g[i];
	tap_ok(rnn_optim_step(tr, &norm) == RNN_OK, "%s: Adam step", what);
	for (size_t i = 0; i < m->n_params; i++)
	{
		if (i >= lo && i < hi)
			same &= m->params[i] == before[i];
		else
			moved += m->params[i] != before[i];
	}
	tap_ok(same, "%s: the %zu %s are unchanged", what, hi - lo, part);
	tap_ok(moved > (int) trained / 2, "%s: %d of %zu others moved", what, moved, trained);
	tap_ok(fabs(norm - sqrt(want)) < 1e-6 * (1 + sqrt(want)),
		   "%s: gradient norm %.6g over the trained part (%.6g)", what, norm, sqrt(want));
	free(before);
}

/*
 * RnnOptimConfig.frozen_prefix: an Adam step leaves the first parameters
 * (the embedding) exactly as they were, moves the others, and the reported
 * gradient norm is the norm over the trained part only.
 */
static void
test_frozen_prefix(void)
{
	RnnConfig	cfg;
	RnnModel   *m = NULL;
	RnnTrainer *tr = NULL;
	RnnOptimConfig opt;
	size_t		frozen;
	int			lengths[2] = {3, 2};
	int32_t		tokens[5] = {1, 2, 3, 4, 2};	/* packed: t0 b0 b1, t1 b0 b1, t2 b0 */
	int			labels[2] = {0, 1};
	RnnBatch	batch = {2, 3, lengths, NULL, tokens, NULL};
	double		loss = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = RNN_CELL_GRU;
	cfg.num_layers = 1;
	cfg.vocab_size = 6;
	cfg.embedding_dim = 3;
	cfg.hidden_size = 4;
	cfg.output_size = 2;
	cfg.head = RNN_HEAD_CLASSIFIER;
	rnn_optim_defaults(&opt);
	opt.learning_rate = 0.1f;
	opt.weight_decay = 0.01f;	/* decay must not touch the frozen part either */
	opt.clip_norm = 0;
	frozen = (size_t) cfg.vocab_size * cfg.embedding_dim;
	opt.frozen_prefix = frozen;
	if (rnn_model_create(&m, &cfg) != RNN_OK ||
		rnn_trainer_create(&tr, m, 2, 3, &opt, 1) != RNN_OK)
	{
		tap_ok(0, "frozen prefix: setup");
		return;
	}
	rnn_model_init(m, 5);
	rnn_forward(tr, &batch, 1, NULL);
	rnn_loss_xent(tr, labels, NULL, &loss);
	check_frozen_step("frozen prefix", "embedding parameters", tr, m, 0, frozen);
	rnn_trainer_free(tr);
	rnn_model_free(m);
}

/*
 * RnnOptimConfig.frozen_suffix: a forecaster's linear path (head bias and
 * skip weights, last in the layout) kept at its start while the recurrent
 * weights and the head's weights train; the gradient norm covers the
 * trained part only.
 */
static void
test_frozen_suffix(void)
{
	RnnConfig	cfg;
	RnnModel   *m = NULL;
	RnnTrainer *tr = NULL;
	RnnOptimConfig opt;
	size_t		first_frozen,
				frozen;
	int			lengths[2] = {3, 2};
	float		x[5 * 2] = {0.5f, -1, 0.25f, 2, -0.5f, 1, 1.5f, -0.75f, 0.1f, 0.3f};
	float		skip[2 * 3] = {1, -2, 0.5f, 0.25f, 1, -1};
	float		targets[2 * 2] = {0.3f, -0.2f, 1.0f, 0.4f};
	RnnBatch	batch = {2, 3, lengths, x, NULL, skip};
	double		loss = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = RNN_CELL_LSTM;
	cfg.num_layers = 1;
	cfg.input_size = 2;
	cfg.hidden_size = 4;
	cfg.output_size = 2;
	cfg.head = RNN_HEAD_REGRESSION;
	cfg.pooling = RNN_POOL_LAST;
	cfg.skip_size = 3;
	rnn_optim_defaults(&opt);
	opt.learning_rate = 0.1f;
	opt.weight_decay = 0.01f;	/* decay must not touch the frozen part either */
	opt.clip_norm = 0;
	if (rnn_model_create(&m, &cfg) != RNN_OK)
	{
		tap_ok(0, "frozen suffix: setup");
		return;
	}
	first_frozen = (size_t) (m->p.head_b - m->params);
	frozen = m->n_params - first_frozen;
	opt.frozen_suffix = frozen;
	if (rnn_trainer_create(&tr, m, 2, 3, &opt, 1) != RNN_OK)
	{
		tap_ok(0, "frozen suffix: setup");
		rnn_model_free(m);
		return;
	}
	rnn_model_init(m, 5);
	for (int i = 0; i < cfg.output_size * cfg.skip_size; i++)
		m->p.skip_w[i] = 0.1f * (i + 1);	/* as a ridge start would */
	tap_ok(frozen == (size_t) cfg.output_size * (1 + cfg.skip_size),
		   "frozen suffix: head bias and skip weights are the last %zu parameters", frozen);
	rnn_forward(tr, &batch, 1, NULL);
	rnn_loss_mse(tr, targets, &loss);
	check_frozen_step("frozen suffix", "parameters of the linear path", tr, m, first_frozen,
					  m->n_params);
	rnn_trainer_free(tr);
	rnn_model_free(m);
}

static void
test_pack_layout(void)
{
	int			lengths[] = {6, 4, 4, 1};
	int			bs[6],
				off[6];
	int			want_bs[] = {4, 3, 3, 3, 1, 1};
	int			want_off[] = {0, 4, 7, 10, 13, 14};
	int			N = rnn_pack_layout(lengths, 4, bs, off);
	int			ok = N == 15;
	int			bad[] = {3, 4, 1};
	int			bs2[4],
				off2[4];

	for (int t = 0; ok && t < 6; t++)
		ok = bs[t] == want_bs[t] && off[t] == want_off[t];
	tap_ok(ok, "rnn_pack_layout: batch_sizes and offsets of lengths {6,4,4,1}");
	tap_ok(rnn_pack_layout(bad, 3, bs2, off2) == -1,
		   "rnn_pack_layout: rejects lengths that are not descending");
}

static void
test_config_validation(void)
{
	RnnConfig	good = {
		.cell = RNN_CELL_GRU,.num_layers = 2,.bidirectional = 1,
		.input_size = 3,.hidden_size = 4,.output_size = 2,
		.head = RNN_HEAD_REGRESSION,.pooling = RNN_POOL_LAST,.skip_size = 3,
	};
	RnnConfig	c;
	int			ok = rnn_config_validate(&good, NULL) == RNN_OK;

	c = good;
	c.num_layers = 0;
	ok &= rnn_config_validate(&c, NULL) == RNN_ERR_CONFIG;
	c = good;
	c.num_layers = RNN_MAX_LAYERS + 1;
	ok &= rnn_config_validate(&c, NULL) == RNN_ERR_CONFIG;
	c = good;
	c.hidden_size = 0;
	ok &= rnn_config_validate(&c, NULL) == RNN_ERR_CONFIG;
	c = good;
	c.head = RNN_HEAD_CLASSIFIER;	/* skip path is regression only */
	ok &= rnn_config_validate(&c, NULL) == RNN_ERR_CONFIG;
	c = good;
	c.input_size = 0;
	ok &= rnn_config_validate(&c, NULL) == RNN_ERR_CONFIG;
	c = good;
	c.dropout = -0.5f;
	ok &= rnn_config_validate(&c, NULL) == RNN_ERR_CONFIG;
	c = good;
	c.cell = (RnnCellKind) 7;
	ok &= rnn_config_validate(&c, NULL) == RNN_ERR_CONFIG;
	tap_ok(ok, "rnn_config_validate: accepts a good config, rejects bad fields");
	tap_ok(rnn_cell_gates(RNN_CELL_TANH) == 1 && rnn_cell_gates(RNN_CELL_GRU) == 3 &&
		   rnn_cell_gates(RNN_CELL_LSTM) == 4, "rnn_cell_gates: 1, 3, 4");
	tap_ok(rnn_feature_size(&good) == 8 && rnn_layer_input_size(&good, 0) == 3 &&
		   rnn_layer_input_size(&good, 1) == 8,
		   "rnn_feature_size / rnn_layer_input_size");
}

/* rnn_model_init: PyTorch's bounds, and a pure function of the seed */
static void
test_model_init(void)
{
	RnnConfig	cfg = {
		.cell = RNN_CELL_LSTM,.num_layers = 2,.bidirectional = 1,
		.vocab_size = 50,.embedding_dim = 6,.hidden_size = 9,.output_size = 3,
		.head = RNN_HEAD_CLASSIFIER,.pooling = RNN_POOL_MAX,
	};
	RnnModel   *a = NULL,
			   *b = NULL;
	RnnTensorInfo info[MAX_TENSORS];
	int			n_info,
				ok_bounds = 1,
				ok_spread = 1;

	if (rnn_model_create(&a, &cfg) != RNN_OK || rnn_model_create(&b, &cfg) != RNN_OK)
	{
		tap_ok(0, "rnn_model_init: create");
		if (a)
			rnn_model_free(a);
		return;
	}
	n_info = rnn_param_tensors(&cfg, info, MAX_TENSORS);
	rnn_model_init(a, 11);
	rnn_model_init(b, 11);
	tap_ok(memcmp(a->params, b->params, sizeof(float) * a->n_params) == 0,
		   "rnn_model_init: same seed, same parameters");
	rnn_model_init(b, 12);
	tap_ok(memcmp(a->params, b->params, sizeof(float) * a->n_params) != 0,
		   "rnn_model_init: another seed, other parameters");
	for (int i = 0; i < n_info; i++)
	{
		const float *p = a->params + info[i].offset;
		size_t		cnt = (size_t) info[i].rows * info[i].cols;
		double		bound,
					maxabs = 0;

		if (strcmp(info[i].name, "embedding.weight") == 0)
			continue;			/* N(0, 1) */
		if (strncmp(info[i].name, "head.", 5) == 0)
			bound = 1.0 / sqrt((double) rnn_feature_size(&cfg));
		else
			bound = 1.0 / sqrt((double) cfg.hidden_size);
		for (size_t k = 0; k < cnt; k++)
		{
			double		v = fabs(p[k]);

			/* LSTM forget-gate biases may be set to 1 */
			if (strstr(info[i].name, "bias") && strncmp(info[i].name, "rnn.", 4) == 0 &&
				k >= (size_t) cfg.hidden_size && k < 2 * (size_t) cfg.hidden_size)
				continue;
			if (v > maxabs)
				maxabs = v;
		}
		if (maxabs > bound * (1 + 1e-6))
		{
			tap_diag("%s: max |w| %.4f > 1/sqrt(fan) %.4f", info[i].name, maxabs, bound);
			ok_bounds = 0;
		}
		if (cnt >= 16 && maxabs < 0.5 * bound)
		{
			tap_diag("%s: max |w| %.4f, not spread over U(-%.4f, %.4f)",
					 info[i].name, maxabs, bound, bound);
			ok_spread = 0;
		}
	}
	tap_ok(ok_bounds && ok_spread,
		   "rnn_model_init: weights U(-1/sqrt(fan), 1/sqrt(fan)) (H for the cells, F for the head)");
	rnn_model_free(a);
	rnn_model_free(b);
}

static void
test_bad_batches(const char *dir)
{
	Case		c;
	int32_t		tok[64];
	size_t		n;
	const int32_t *t0;
	const float *out;
	RnnStatus	st1,
				st2,
				st3;

	if (case_setup(&c, dir, "gru_l1_uni_last_cls_emb") != 0)
	{
		tap_ok(0, "malformed batches: setup");
		case_free(&c);
		return;
	}
	layout_matches(&c, "p:", c.model->params, 0);
	t0 = fixture_i32(&c.fx, "tokens", &n);
	if (!t0 || n == 0 || n > 64)
	{
		tap_ok(0, "malformed batches: fixture tokens");
		case_free(&c);
		return;
	}
	memcpy(tok, t0, n * sizeof(int32_t));
	tok[n - 1] = c.cfg.vocab_size;	/* out of range */
	c.batch.tokens = tok;
	st1 = rnn_forward(c.tr, &c.batch, 1, &out);
	tok[n - 1] = -1;
	st2 = rnn_forward(c.tr, &c.batch, 0, &out);
	c.batch.tokens = t0;
	{
		int			asc[3] = {2, 3, 5};

		c.batch.lengths = asc;
		c.batch.T = 5;
		st3 = rnn_forward(c.tr, &c.batch, 1, &out);
		c.batch.lengths = c.lengths;
		c.batch.T = c.T;
	}
	tap_diag("token = V: %s; token = -1: %s; ascending lengths: %s",
			 rnn_status_message(st1), rnn_status_message(st2),
			 rnn_status_message(st3));
	tap_ok(st1 == RNN_ERR_INPUT && st2 == RNN_ERR_INPUT && st3 == RNN_ERR_INPUT,
		   "rnn_forward: rejects out-of-range tokens and unsorted lengths");
	/* and still works afterwards */
	tap_ok(rnn_forward(c.tr, &c.batch, 1, &out) == RNN_OK &&
		   check_close("outputs after errors", out,
					   fixture_f32(&c.fx, "outputs", NULL),
					   (size_t) c.B * c.cfg.output_size, RTOL, ATOL),
		   "rnn_forward: a good batch after rejected ones");
	case_free(&c);
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

/* Rewrites the trailing CRC so that a modified blob reaches deeper checks. */
static void
repair_crc(uint8_t *blob, size_t len)
{
	put_le32(blob + len - 4, rnn_crc32(0, blob, len - 4));
}

static RnnStatus
decode_status(const uint8_t *blob, size_t len)
{
	RnnModel   *m = NULL;
	RnnStatus	st = rnn_model_decode(blob, len, &m);

	if (m)
		rnn_model_free(m);
	return st;
}

static void
test_codec(const char *dir)
{
	Case		c;
	uint8_t    *blob = NULL,
			   *tmp;
	size_t		len = 0;
	RnnModel   *back = NULL;
	RnnStatus	st;
	int			ok;
	const char *digits = "123456789";

	tap_ok(rnn_crc32(0, digits, 9) == 0xCBF43926u &&
		   rnn_crc32(rnn_crc32(0, digits, 4), digits + 4, 5) == 0xCBF43926u,
		   "rnn_crc32: check value of \"123456789\" is 0xCBF43926, chained too");

	if (case_setup(&c, dir, "lstm_l2_bi_max_cls_emb") != 0)
	{
		tap_ok(0, "codec: setup");
		case_free(&c);
		return;
	}
	layout_matches(&c, "p:", c.model->params, 0);
	st = rnn_model_encode(c.model, &blob, &len);
	ok = st == RNN_OK && blob && len == RNN_BLOB_OVERHEAD + 4 * c.model->n_params;
	if (ok)
	{
		ok = memcmp(blob, RNN_BLOB_MAGIC, 4) == 0 &&
			fix_le32(blob + 4) == RNN_FORMAT_VERSION &&
			fix_le32(blob + 8) == RNN_BLOB_HEADER_BYTES;
		for (int i = 0; i < 11; i++)
			ok &= fix_le32(blob + 12 + 4 * i) == c.fx.cfg[i];
		ok &= (uint32_t) fix_le32(blob + len - 4) == rnn_crc32(0, blob, len - 4);
		ok &= memcmp(blob + RNN_BLOB_HEADER_BYTES, c.model->params,
					 4 * c.model->n_params) == 0;	/* little-endian host */
	}
	tap_ok(ok, "codec: blob layout (%s, %zu bytes): magic, version, header, "
		   "config, payload, CRC", rnn_status_message(st), len);
	if (!ok || !blob)
	{
		tap_ok(0, "codec: round trip");
		tap_ok(0, "codec: rejects damaged blobs");
		rnn_free(blob);
		case_free(&c);
		return;
	}

	st = rnn_model_decode(blob, len, &back);
	ok = st == RNN_OK && back &&
		back->n_params == c.model->n_params &&
		memcmp(&back->cfg, &c.model->cfg, sizeof(RnnConfig)) == 0 &&
		memcmp(back->params, c.model->params,
			   sizeof(float) * c.model->n_params) == 0;
	tap_ok(ok, "codec: decode(encode(model)) is the same model (%s)",
		   rnn_status_message(st));
	if (back)
		rnn_model_free(back);

	/* damaged copies */
	tmp = malloc(len + 8);
	{
		RnnStatus	s_magic,
					s_sum,
					s_trunc,
					s_short,
					s_version,
					s_nparams,
					s_hidden;

		memcpy(tmp, blob, len);
		tmp[0] ^= 0xff;
		s_magic = decode_status(tmp, len);

		memcpy(tmp, blob, len);
		tmp[len - 12] ^= 0x01;	/* a payload byte */
		s_sum = decode_status(tmp, len);

		s_trunc = decode_status(blob, len - 5);
		s_short = decode_status(blob, 10);

		memcpy(tmp, blob, len);
		put_le32(tmp + 4, RNN_FORMAT_VERSION + 1);
		repair_crc(tmp, len);
		s_version = decode_status(tmp, len);

		/* n_params that disagrees with the config (blob length consistent) */
		memcpy(tmp, blob, len);
		memcpy(tmp + len, tmp + len - 4, 4);	/* room for one more float */
		put_le32(tmp + 60, (uint32_t) c.model->n_params + 1);
		repair_crc(tmp, len + 4);
		s_nparams = decode_status(tmp, len + 4);

		/* a config field out of range */
		memcpy(tmp, blob, len);
		put_le32(tmp + 36, 0);	/* hidden_size */
		repair_crc(tmp, len);
		s_hidden = decode_status(tmp, len);

		tap_diag("bad magic: %s; flipped payload byte: %s; truncated by 5: %s; "
				 "10 bytes: %s; version+1: %s; n_params+1: %s; hidden_size 0: %s",
				 rnn_status_message(s_magic), rnn_status_message(s_sum),
				 rnn_status_message(s_trunc), rnn_status_message(s_short),
				 rnn_status_message(s_version), rnn_status_message(s_nparams),
				 rnn_status_message(s_hidden));
		tap_ok(s_magic == RNN_ERR_MAGIC && s_sum == RNN_ERR_CHECKSUM &&
			   s_trunc == RNN_ERR_TRUNCATED && s_short == RNN_ERR_TRUNCATED &&
			   s_version == RNN_ERR_VERSION && s_nparams != RNN_OK &&
			   s_hidden != RNN_OK,
			   "codec: rejects bad magic, checksum, truncation, newer version, "
			   "inconsistent n_params and config");
	}
	free(tmp);
	rnn_free(blob);
	case_free(&c);
}

/* ---------------------------------------------------------------------------
 */
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
		if (!name[0])
			continue;
		if (strncmp(name, "steps_", 6) == 0 || strncmp(name, "tbptt_", 6) == 0)
			continue;			/* per-step head: test_steps.c */
		tap_diag("---- %s", name);
		if (strncmp(name, "stream_", 7) == 0)
			test_stream(dir, name);
		else if (strncmp(name, "adam_", 5) == 0)
		{
			test_fixture(dir, name);
			test_adam(dir, name);
		}
		else
			test_fixture(dir, name);
		nfix++;
	}
	fclose(mf);
	tap_diag("---- API");
	test_pack_layout();
	test_frozen_prefix();
	test_frozen_suffix();
	test_config_validation();
	test_model_init();
	test_bad_batches(dir);
	test_codec(dir);
	tap_diag("%d fixtures", nfix);
	return tap_done();
}
