/*
 * test_isa.c -- the code paths of the engine's kernels (kernels.h).
 *
 *  - RNN_ISA (run_tests.sh sets it for each path this CPU has) selects the
 *    path every other test binary then runs: this one checks it did, so a
 *    forced path that silently fell back to another fails here;
 *  - names parse, and a path the CPU lacks is refused, the path in use
 *    unchanged;
 *  - on every path this CPU supports: the matrix-vector product and the
 *    small GEMM of the recurrent steps against double-precision references
 *    over shapes that exercise each register block and tail, sigmoid and
 *    tanh, Adam and the squared norm against double references, and a
 *    forward + backward of every cell against the generic path (the PyTorch fixtures in test_engine check one path per
 *    run; this checks that all paths agree with each other in one run).
 *
 * Output: TAP.  test_isa --supported prints the paths this CPU runs.
 */
#include "testutil.h"
#include "kernels.h"

static double
max_rel_diff(const float *got, const double *want, size_t n, double floor)
{
	double		m = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		double		d = fabs(got[i] - want[i]) / (fabs(want[i]) > floor ? fabs(want[i]) : floor);

		if (!(d <= m))
			m = d;				/* NaN too */
	}
	return m;
}

static void
fill_uniform(RnnRng *rng, float *x, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = lo + (hi - lo) * rnn_rng_uniform(rng);
}

/* ---------------------------------------------------------------------------
 * Selection
 */
static void
test_selection(void)
{
	const char *want = getenv("RNN_ISA");
	const char *why = NULL;
	RnnIsa		isa,
				before;
	int			n_supported = 0;

	RnnStatus	st = rnn_isa_from_env(&why);

	tap_ok(st == RNN_OK, "RNN_ISA=%s selects a path%s%s", want ? want : "<unset>",
		   why ? ": " : "", why ? why : "");
	if (want && want[0] && strcmp(want, "auto") != 0)
		tap_ok(strcmp(rnn_isa_name(rnn_isa_current()), want) == 0 &&
			   rnn_kernels()->isa == rnn_isa_current(),
			   "the path in use is the forced one: %s", rnn_isa_name(rnn_isa_current()));
	else
		tap_ok(rnn_isa_current() == rnn_isa_best(),
			   "auto uses the best path of this CPU: %s", rnn_isa_name(rnn_isa_current()));

	for (int i = 0; i < RNN_ISA_COUNT; i++)
	{
		n_supported += rnn_isa_supported((RnnIsa) i);
		tap_diag("path %-8s %s", rnn_isa_name((RnnIsa) i),
				 rnn_isa_supported((RnnIsa) i) ? "supported" : "not supported by this CPU");
	}
	tap_ok(rnn_isa_supported(RNN_ISA_GENERIC) && rnn_isa_supported(rnn_isa_best()),
		   "generic and the best path (%s) are supported", rnn_isa_name(rnn_isa_best()));

	tap_ok(rnn_isa_parse("avx2", &isa) && isa == RNN_ISA_AVX2 &&
		   rnn_isa_parse("avx512", &isa) && isa == RNN_ISA_AVX512 &&
		   rnn_isa_parse("generic", &isa) && isa == RNN_ISA_GENERIC &&
		   rnn_isa_parse("auto", &isa) && isa == rnn_isa_best() &&
		   !rnn_isa_parse("AVX2", &isa) && !rnn_isa_parse("sse", &isa) &&
		   !rnn_isa_parse("", &isa),
		   "path names parse (auto, generic, avx2, avx512; nothing else)");

	before = rnn_isa_current();
	if (n_supported < RNN_ISA_COUNT)
	{
		RnnIsa		missing = RNN_ISA_AVX512;

		for (int i = 0; i < RNN_ISA_COUNT; i++)
			if (!rnn_isa_supported((RnnIsa) i))
				missing = (RnnIsa) i;
		tap_ok(rnn_isa_set(missing) == RNN_ERR_CONFIG && rnn_isa_current() == before,
			   "a path this CPU lacks (%s) is refused and the path stays %s",
			   rnn_isa_name(missing), rnn_isa_name(before));
	}
	else
		printf("ok %d - # SKIP every path is supported on this CPU\n", ++tap_count);
}

/* ---------------------------------------------------------------------------
 * Kernels against double references, on one path
 */
static void
test_matvec(const RnnKernels *k)
{
	/* GH: every block size (24/16/12/8/4/2/1 vectors) and the scalar tail */
	static const int ghs[] = {1, 3, 4, 7, 8, 12, 16, 17, 24, 40, 48, 64, 96, 100, 128,
	191, 192, 256, 383, 384, 385, 400, 512, 520, 768, 1024, 1537};
	static const int hs[] = {1, 5, 32, 128};
	RnnRng		rng;
	double		worst = 0.0;

	rnn_rng_seed(&rng, 5);
	for (size_t a = 0; a < sizeof(ghs) / sizeof(ghs[0]); a++)
		for (size_t b = 0; b < sizeof(hs) / sizeof(hs[0]); b++)
		{
			int			GH = ghs[a],
						H = hs[b];
			float	   *w = malloc(sizeof(float) * (size_t) GH * H);
			float	   *h = malloc(sizeof(float) * H);
			float	   *out = malloc(sizeof(float) * (GH + 1));
			double	   *ref = malloc(sizeof(double) * GH);
			double	   *mag = malloc(sizeof(double) * GH);

			fill_uniform(&rng, w, (size_t) GH * H, -1, 1);
			fill_uniform(&rng, h, H, -1, 1);
			out[GH] = 12345.0f;	/* canary: nothing written past GH */
			k->recur_matvec(out, h, w, GH, H);
			for (int c = 0; c < GH; c++)
			{
				ref[c] = 0.0;
				mag[c] = 0.0;
				for (int j = 0; j < H; j++)
				{
					ref[c] += (double) h[j] * w[(size_t) j * GH + c];
					mag[c] += fabs((double) h[j] * w[(size_t) j * GH + c]);
				}
			}
			/* error relative to sum |h_j w_jc| (cancellation-proof) */
			for (int c = 0; c < GH; c++)
			{
				double		e = fabs(out[c] - ref[c]) / (mag[c] > 1e-30 ? mag[c] : 1e-30);

				if (!(e <= worst))
					worst = e;
			}
			if (out[GH] != 12345.0f)
				worst = INFINITY;
			free(w);
			free(h);
			free(out);
			free(ref);
			free(mag);
		}
	tap_ok(worst < 1e-6, "%s: recur_matvec over %zu shapes (GH 1..1537, H 1..128): "
		   "max error %.2g of sum|h w| (< 1e-6)", rnn_isa_name(k->isa),
		   sizeof(ghs) / sizeof(ghs[0]) * sizeof(hs) / sizeof(hs[0]), worst);
}

static void
test_gemm_small(const RnnKernels *k)
{
	/* M: every row tile (1..MR) and several full ones; N: vector blocks and
	 * tails; K: the shapes of the cells and odd ones */
	static const int ms[] = {1, 2, 3, 5, 6, 7, 13, 50, 64};
	static const int ns[] = {1, 3, 8, 13, 16, 24, 33, 64, 100, 384};
	static const int ks[] = {1, 7, 64, 129};
	RnnRng		rng;
	double		worst = 0.0;
	int			shapes = 0;

	rnn_rng_seed(&rng, 6);
	for (size_t a = 0; a < sizeof(ms) / sizeof(ms[0]); a++)
		for (size_t b = 0; b < sizeof(ns) / sizeof(ns[0]); b++)
			for (size_t c = 0; c < sizeof(ks) / sizeof(ks[0]); c++)
				for (int acc = 0; acc < 2; acc++)
				{
					int			M = ms[a],
								N = ns[b],
								K = ks[c];
					int			lda = K + 3,
								ldb = N + 5,
								ldc = N + 2;	/* strides wider than the rows */
					float	   *A = malloc(sizeof(float) * (size_t) M * lda);
					float	   *B = malloc(sizeof(float) * (size_t) K * ldb);
					float	   *C = malloc(sizeof(float) * (size_t) M * ldc);

					fill_uniform(&rng, A, (size_t) M * lda, -1, 1);
					fill_uniform(&rng, B, (size_t) K * ldb, -1, 1);
					fill_uniform(&rng, C, (size_t) M * ldc, -1, 1);
					{
						float	   *C0 = malloc(sizeof(float) * (size_t) M * ldc);

						memcpy(C0, C, sizeof(float) * (size_t) M * ldc);
						k->gemm_small(C, ldc, A, lda, B, ldb, M, N, K, acc);
						for (int i = 0; i < M; i++)
							for (int j = 0; j < ldc; j++)
							{
								double		ref = acc ? C0[i * ldc + j] : 0.0,
											mag = fabs(ref);
								double		e;

								if (j >= N)
								{
									/* the stride's padding is left alone */
									if (C[i * ldc + j] != C0[i * ldc + j])
										worst = INFINITY;
									continue;
								}
								for (int q = 0; q < K; q++)
								{
									ref += (double) A[i * lda + q] * B[q * ldb + j];
									mag += fabs((double) A[i * lda + q] * B[q * ldb + j]);
								}
								e = fabs(C[i * ldc + j] - ref) / (mag > 1e-30 ? mag : 1e-30);
								if (!(e <= worst))
									worst = e;
							}
						free(C0);
					}
					shapes++;
					free(A);
					free(B);
					free(C);
				}
	tap_ok(worst < 1e-6, "%s: gemm_small over %d shapes (M 1..64, N 1..384, K 1..129, = and +=): "
		   "max error %.2g of sum|a b| (< 1e-6)", rnn_isa_name(k->isa), shapes, worst);
}

/* sigmoid and tanh (vmath.h) against double on [-100, 100] and near 0 */
static void
test_activations(const RnnKernels *k)
{
	enum
	{
		N = 200001
	};
	float	   *x = malloc(sizeof(float) * (N + 2000)),
			   *sig = malloc(sizeof(float) * (N + 2000)),
			   *th = malloc(sizeof(float) * (N + 2000));
	double		err_sig = 0.0,
				err_tanh = 0.0,
				rel_tanh_small = 0.0;
	int			n = 0;

	for (int i = 0; i < N; i++)
		x[n++] = -100.0f + 200.0f * i / (N - 1);
	for (int i = 1; i <= 1000; i++)
	{
		x[n++] = 1e-6f * i;		/* tiny |x|: tanh must keep relative accuracy */
		x[n++] = -7e-4f * i;
	}
	k->sigmoid_tanh(sig, th, x, n);
	for (int i = 0; i < n; i++)
	{
		double		s = 1.0 / (1.0 + exp(-(double) x[i])),
					t = tanh((double) x[i]);

		if (!(fabs(sig[i] - s) <= err_sig))
			err_sig = fabs(sig[i] - s);
		if (!(fabs(th[i] - t) <= err_tanh))
			err_tanh = fabs(th[i] - t);
		if (fabs(x[i]) < 0.7 && x[i] != 0 && !(fabs(th[i] - t) / fabs(t) <= rel_tanh_small))
			rel_tanh_small = fabs(th[i] - t) / fabs(t);
	}
	tap_ok(err_sig < 1e-6 && err_tanh < 1e-6 && rel_tanh_small < 1e-6,
		   "%s: sigmoid, tanh on [-100, 100]: max abs error %.2g, %.2g (< 1e-6); "
		   "tanh relative below |x| 0.7: %.2g", rnn_isa_name(k->isa), err_sig, err_tanh,
		   rel_tanh_small);
	free(x);
	free(sig);
	free(th);
}

static void
test_optim_loops(const RnnKernels *k)
{
	enum
	{
		N = 1029				/* not a multiple of any vector width */
	};
	float		w[N],
				m[N],
				v[N],
				g[N];
	double		rw[N],
				rm[N],
				rv[N];
	RnnAdamStep s = {0.9f, 0.999f, 0.01f, 0.5f, 1e-3f / (1.0f - 0.9f * 0.9f),
	sqrtf(1.0f - 0.999f * 0.999f), 1e-8f};
	RnnRng		rng;
	double		sq = 0.0,
				err_w,
				err_m,
				err_v;

	rnn_rng_seed(&rng, 9);
	fill_uniform(&rng, w, N, -1, 1);
	fill_uniform(&rng, m, N, -0.1f, 0.1f);
	fill_uniform(&rng, v, N, 0, 0.01f);
	fill_uniform(&rng, g, N, -2, 2);
	for (int i = 0; i < N; i++)
	{
		double		gi = (double) s.clip * g[i] + (double) s.weight_decay * w[i];

		sq += (double) g[i] * g[i];
		rm[i] = s.beta1 * (double) m[i] + (1.0 - s.beta1) * gi;
		rv[i] = s.beta2 * (double) v[i] + (1.0 - s.beta2) * gi * gi;
		rw[i] = w[i] - (double) s.step_size * rm[i] / (sqrt(rv[i]) / s.sqrt_bc2 + s.eps);
	}
	tap_ok(fabs(k->sum_squares(g, N) - sq) <= 1e-12 * sq,
		   "%s: sum_squares of %d floats equals the double sum", rnn_isa_name(k->isa), N);
	k->adam_update(w, m, v, g, N, &s);
	err_w = max_rel_diff(w, rw, N, 1e-3);
	err_m = max_rel_diff(m, rm, N, 1e-2);	/* m cancels: relative to its scale */
	err_v = max_rel_diff(v, rv, N, 1e-9);
	tap_ok(err_w < 1e-5 && err_m < 1e-5 && err_v < 1e-5,
		   "%s: adam_update of %d parameters against double (max rel w %.2g, m %.2g, v %.2g)",
		   rnn_isa_name(k->isa), N, err_w, err_m, err_v);
}

/* ---------------------------------------------------------------------------
 * A training step and a one-at-a-time scoring pass on one path
 */
typedef struct StepResult
{
	float	   *outputs;		/* (B, O) */
	float	   *grads;			/* (n_params) */
	float	   *scores;			/* (B, O) prepared inference, one text at a time */
	size_t		n_params;
} StepResult;

static int
run_step(RnnIsa isa, RnnCellKind cell, int bidir, int H, StepResult *res)
{
	enum
	{
		B = 6, T = 19, V = 50, O = 3
	};
	RnnConfig	cfg;
	RnnModel   *model = NULL;
	RnnTrainer *tr = NULL;
	RnnInfer   *inf = NULL;
	RnnRng		rng;
	int			lengths[B] = {19, 17, 12, 12, 5, 1};
	int			labels[B] = {0, 2, 1, 1, 0, 2};
	int32_t		tokens[B * T];
	int			batch_sizes[T],
				offsets[T];
	const float *out;
	double		loss;
	int			N,
				ok = 1;

	if (rnn_isa_set(isa) != RNN_OK)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = cell;
	cfg.num_layers = 2;
	cfg.bidirectional = bidir;
	cfg.vocab_size = V;
	cfg.embedding_dim = 24;
	cfg.hidden_size = H;
	cfg.output_size = O;
	cfg.head = RNN_HEAD_CLASSIFIER;
	cfg.pooling = RNN_POOL_MAX;
	N = rnn_pack_layout(lengths, B, batch_sizes, offsets);
	rnn_rng_seed(&rng, 3);
	for (int i = 0; i < N; i++)
		tokens[i] = (int32_t) rnn_rng_below(&rng, V);
	if (rnn_model_create(&model, &cfg) != RNN_OK)
		return 0;
	rnn_model_init(model, 17);
	ok &= rnn_trainer_create(&tr, model, B, T, NULL, 1) == RNN_OK;
	if (ok)
	{
		RnnBatch	batch = {B, T, lengths, NULL, tokens, NULL};

		rnn_zero_grad(tr);
		ok &= rnn_forward(tr, &batch, 1, &out) == RNN_OK;	/* no dropout: deterministic */
		if (ok)
			memcpy(res->outputs, out, sizeof(float) * B * O);
		ok &= ok && rnn_loss_xent(tr, labels, NULL, &loss) == RNN_OK;
		ok &= ok && rnn_backward(tr) == RNN_OK;
		if (ok)
			memcpy(res->grads, rnn_trainer_grads(tr), sizeof(float) * model->n_params);
		res->n_params = model->n_params;
	}
	/* each text alone through the prepared path (matrix-vector products) */
	ok &= ok && rnn_infer_create(&inf, model, 1, T) == RNN_OK;
	ok &= ok && rnn_infer_prepare(inf, (size_t) 1 << 26, NULL) == RNN_OK;
	for (int b = 0; ok && b < B; b++)
	{
		int32_t		one[T];
		int			len = lengths[b];
		RnnBatch	single = {1, len, &len, NULL, one, NULL};

		for (int t = 0; t < len; t++)
			one[t] = tokens[offsets[t] + b];
		ok &= rnn_infer(inf, &single, res->scores + b * O) == RNN_OK;
	}
	rnn_infer_free(inf);
	rnn_trainer_free(tr);
	rnn_model_free(model);
	return ok;
}

static void
test_paths_agree(RnnIsa isa)
{
	static const RnnCellKind cells[] = {RNN_CELL_TANH, RNN_CELL_GRU, RNN_CELL_LSTM};
	static const char *const names[] = {"tanh", "gru", "lstm"};
	static const int hs[] = {13, 64};

	for (int c = 0; c < 3; c++)
		for (int hi = 0; hi < 2; hi++)
		{
			int			H = hs[hi];
			float		out_g[18],
						out_x[18],
						sc_g[18],
						sc_x[18];
			float	   *gr_g = malloc(sizeof(float) * 200000),
					   *gr_x = malloc(sizeof(float) * 200000);
			StepResult	rg = {out_g, gr_g, sc_g, 0},
						rx = {out_x, gr_x, sc_x, 0};
			int			ok = run_step(RNN_ISA_GENERIC, cells[c], 1, H, &rg) &&
				run_step(isa, cells[c], 1, H, &rx) && rg.n_params == rx.n_params &&
				rg.n_params <= 200000;

			tap_diag("%s vs generic, bidirectional %s, 2 layers, H %d:", rnn_isa_name(isa),
					 names[c], H);
			ok = ok && check_close("logits", out_x, out_g, 18, 1e-5, 1e-6);
			ok = ok && check_close("gradients", gr_x, gr_g, rg.n_params, 1e-4, 1e-6);
			ok = ok && check_close("one-at-a-time scores", sc_x, sc_g, 18, 1e-5, 1e-6);
			ok = ok && check_close("one-at-a-time vs batch", sc_x, out_x, 18, 1e-5, 1e-6);
			tap_ok(ok, "%s: bidirectional %s H %d agrees with generic (logits, gradients, "
				   "prepared scoring)", rnn_isa_name(isa), names[c], H);
			free(gr_g);
			free(gr_x);
		}
}

/* test_isa --supported: the paths this CPU runs, for run_tests.sh */
static int
list_supported(void)
{
	for (int i = 0; i < RNN_ISA_COUNT; i++)
		if (rnn_isa_supported((RnnIsa) i))
			printf("%s%s", i ? " " : "", rnn_isa_name((RnnIsa) i));
	printf("\n");
	return 0;
}

int
main(int argc, char **argv)
{
	RnnIsa		forced;

	if (argc > 1 && strcmp(argv[1], "--supported") == 0)
		return list_supported();
	test_selection();
	forced = rnn_isa_current();
	for (int i = 0; i < RNN_ISA_COUNT; i++)
	{
		RnnIsa		isa = (RnnIsa) i;

		if (!rnn_isa_supported(isa))
			continue;
		if (rnn_isa_set(isa) != RNN_OK)
		{
			tap_ok(0, "%s: rnn_isa_set", rnn_isa_name(isa));
			continue;
		}
		test_matvec(rnn_kernels());
		test_gemm_small(rnn_kernels());
		test_activations(rnn_kernels());
		test_optim_loops(rnn_kernels());
		if (isa != RNN_ISA_GENERIC)
			test_paths_agree(isa);
	}
	rnn_isa_set(forced);
	return tap_done();
}
