/*
 * test_infer_fast.c -- rnn_infer_prepare (the scoring fast path: the first
 * layer folded into a per-token table, W_hh transposed for a matrix-vector
 * product per step) against the plain rnn_infer of the same model.
 *
 * For each cell (tanh, GRU, LSTM), 1 and 2 layers, uni- and bidirectional,
 * every pooling, and hidden sizes that exercise the 16-float column blocks
 * and their tails: score random token sequences one at a time (the path
 * rnn.sentiment takes) and in a batch of several (the fast path applies to
 * steps with one running sequence only), with and without folding
 * (max_fold_bytes 0), and require outputs and h_n/c_n within 1e-5.  A token
 * id out of range must still fail with RNN_ERR_INPUT when folded, and
 * streaming from a given h0 must agree too.
 *
 * Output: TAP.
 */
#include "testutil.h"

#define TOL 1e-5

static void
random_tokens(RnnRng *rng, int32_t *ids, int n, int V)
{
	for (int i = 0; i < n; i++)
		ids[i] = (int32_t) rnn_rng_below(rng, (uint32_t) V);
}

/* max |a - b| */
static double
max_diff(const float *a, const float *b, size_t n)
{
	double		m = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];

		if (!(d <= m))
			m = d;				/* also catches NaN */
	}
	return m;
}

static void
one_config(RnnCellKind cell, int layers, int bidir, RnnPooling pool, int H, int E)
{
	RnnConfig	cfg;
	RnnModel   *model = NULL;
	RnnInfer   *plain = NULL,
			   *fast = NULL,
			   *nofold = NULL;
	RnnRng		rng;
	enum
	{
		T = 37, V = 300, NB = 5
	};
	int32_t		ids[NB * T];
	int			ok = 1,
				folded = -1,
				folded0 = -1;
	int			dirs = bidir ? 2 : 1;
	double		worst = 0.0;
	const char *cname = cell == RNN_CELL_GRU ? "gru" : cell == RNN_CELL_LSTM ? "lstm" : "tanh";

	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = cell;
	cfg.num_layers = layers;
	cfg.bidirectional = bidir;
	cfg.vocab_size = V;
	cfg.embedding_dim = E;
	cfg.hidden_size = H;
	cfg.output_size = 3;
	cfg.head = RNN_HEAD_CLASSIFIER;
	cfg.pooling = pool;

	if (rnn_model_create(&model, &cfg) != RNN_OK)
	{
		tap_ok(0, "%s L%d bi%d pool%d H%d: model", cname, layers, bidir, pool, H);
		return;
	}
	rnn_model_init(model, 11 + H);
	ok &= rnn_infer_create(&plain, model, NB, T) == RNN_OK;
	ok &= rnn_infer_create(&fast, model, NB, T) == RNN_OK;
	ok &= rnn_infer_create(&nofold, model, NB, T) == RNN_OK;
	if (ok)
	{
		ok &= rnn_infer_prepare(fast, (size_t) 1 << 30, &folded) == RNN_OK;
		ok &= rnn_infer_prepare(nofold, 0, &folded0) == RNN_OK;
		ok &= folded == 1 && folded0 == 0;
	}
	rnn_rng_seed(&rng, 5);

	/* one sequence at a time, lengths 1..T, repeated tokens (folded rows reused) */
	for (int rep = 0; ok && rep < 12; rep++)
	{
		int			len = rep == 0 ? 1 : rep == 1 ? T : 1 + (int) rnn_rng_below(&rng, T);
		RnnBatch	b;
		float		o1[3],
					o2[3],
					o3[3];
		size_t		nh = (size_t) layers * dirs * H;

		random_tokens(&rng, ids, len, rep < 6 ? 20 : V);
		memset(&b, 0, sizeof(b));
		b.B = 1;
		b.T = len;
		b.lengths = &len;
		b.tokens = ids;
		ok &= rnn_infer(plain, &b, o1) == RNN_OK;
		ok &= rnn_infer(fast, &b, o2) == RNN_OK;
		ok &= rnn_infer(nofold, &b, o3) == RNN_OK;
		if (!ok)
			break;
		worst = fmax(worst, max_diff(o1, o2, 3));
		worst = fmax(worst, max_diff(o1, o3, 3));
		worst = fmax(worst, max_diff(rnn_infer_h_n(plain), rnn_infer_h_n(fast), nh));
		if (cell == RNN_CELL_LSTM)
			worst = fmax(worst, max_diff(rnn_infer_c_n(plain), rnn_infer_c_n(fast), nh));
	}

	/* a batch of NB sequences of different lengths (steps with bt > 1 and 1) */
	if (ok)
	{
		int			lengths[NB] = {T, 30, 17, 9, 2};
		int			N = 0;
		RnnBatch	b;
		float		o1[NB * 3],
					o2[NB * 3];

		for (int i = 0; i < NB; i++)
			N += lengths[i];
		random_tokens(&rng, ids, N, V);
		memset(&b, 0, sizeof(b));
		b.B = NB;
		b.T = T;
		b.lengths = lengths;
		b.tokens = ids;
		ok &= rnn_infer(plain, &b, o1) == RNN_OK;
		ok &= rnn_infer(fast, &b, o2) == RNN_OK;
		if (ok)
			worst = fmax(worst, max_diff(o1, o2, NB * 3));
	}

	/* streaming from a given state */
	if (ok)
	{
		int			len = 7;
		size_t		nh = (size_t) layers * dirs * H;
		float	   *h0 = calloc(nh, sizeof(float));
		float	   *c0 = calloc(nh, sizeof(float));
		RnnBatch	b;
		float		o1[3],
					o2[3];

		for (size_t i = 0; i < nh; i++)
		{
			h0[i] = rnn_rng_uniform(&rng) - 0.5f;
			c0[i] = rnn_rng_uniform(&rng) - 0.5f;
		}
		random_tokens(&rng, ids, len, V);
		memset(&b, 0, sizeof(b));
		b.B = 1;
		b.T = len;
		b.lengths = &len;
		b.tokens = ids;
		rnn_infer_set_state(plain, h0, cell == RNN_CELL_LSTM ? c0 : NULL);
		rnn_infer_set_state(fast, h0, cell == RNN_CELL_LSTM ? c0 : NULL);
		ok &= rnn_infer(plain, &b, o1) == RNN_OK;
		ok &= rnn_infer(fast, &b, o2) == RNN_OK;
		if (ok)
			worst = fmax(worst, max_diff(o1, o2, 3));
		rnn_infer_set_state(plain, NULL, NULL);
		rnn_infer_set_state(fast, NULL, NULL);
		free(h0);
		free(c0);
	}

	/* a bad token id is still refused */
	if (ok)
	{
		int			len = 3;
		int32_t		bad[3] = {1, V, 2};
		RnnBatch	b;
		float		o[3];

		memset(&b, 0, sizeof(b));
		b.B = 1;
		b.T = len;
		b.lengths = &len;
		b.tokens = bad;
		ok &= rnn_infer(fast, &b, o) == RNN_ERR_INPUT;
		bad[1] = -1;
		ok &= rnn_infer(fast, &b, o) == RNN_ERR_INPUT;
	}

	if (worst > TOL)
		tap_diag("max |fast - plain| = %.3g", worst);
	tap_ok(ok && worst <= TOL, "%s L%d %s pool %d H %d E %d: folded/transposed inference within 1e-5 (max %.2g)",
		   cname, layers, bidir ? "bi" : "uni", (int) pool, H, E, worst);
	rnn_infer_free(plain);
	rnn_infer_free(fast);
	rnn_infer_free(nofold);
	rnn_model_free(model);
}

int
main(void)
{
	static const RnnCellKind cells[] = {RNN_CELL_TANH, RNN_CELL_GRU, RNN_CELL_LSTM};
	static const int hs[] = {5, 16, 128, 130};

	for (int c = 0; c < 3; c++)
		for (int h = 0; h < 4; h++)
			one_config(cells[c], 1, 1, RNN_POOL_MAX, hs[h], 24);
	for (int c = 0; c < 3; c++)
	{
		one_config(cells[c], 2, 1, RNN_POOL_LAST, 32, 8);
		one_config(cells[c], 1, 0, RNN_POOL_LAST, 64, 16);
		one_config(cells[c], 2, 0, RNN_POOL_MEAN, 24, 7);
	}
	return tap_done();
}
