/*
 * engine_bench.c -- training throughput of the rnn_ext engine (src/core):
 * sequences/s for one forward + loss + backward + clip + Adam step, on the
 * shapes of test/bench/torch_bench.py, plus the OpenBLAS sgemm rate measured
 * in the same process.  Run through engine_vs_torch.sh, which builds it.
 *
 *   engine_bench SHAPE THREADS [SECONDS]     SHAPE: lstm64 | bigru128 | lstm512
 *   engine_bench sgemm THREADS [SECONDS]     sgemm GFLOP/s on reference shapes
 *   engine_bench config                      openblas_get_config()
 *   engine_bench paths                       the kernels' code paths this CPU runs
 *
 * The code path of the kernels (src/core/kernels.h) is the engine's choice:
 * RNN_ISA=generic|avx2|avx512 forces one.
 *
 * Prints one machine-readable line per measurement (read by the script):
 *   RESULT engine-PATH SHAPE THREADS seq_per_s gflop_per_s ms_per_step reps seq_per_cpu_s
 *   SGEMM  LABEL THREADS gflop_per_s gflop_per_cpu_s
 * Figures only: nothing here asserts a time.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "rnn.h"

typedef struct Shape
{
	const char *name;
	RnnCellKind cell;
	int			bidirectional;
	int			input;			/* features per step, or 0 with vocab */
	int			vocab;
	int			emb;
	int			hidden;
	int			T;
	int			B;
	int			out;
	RnnHeadKind head;
	RnnPooling	pool;
} Shape;

/* keep in step with SHAPES in torch_bench.py */
static const Shape shapes[] = {
	{"lstm64", RNN_CELL_LSTM, 0, 1, 0, 0, 64, 96, 64, 24, RNN_HEAD_REGRESSION, RNN_POOL_LAST},
	{"bigru128", RNN_CELL_GRU, 1, 0, 20000, 128, 128, 40, 50, 2, RNN_HEAD_CLASSIFIER, RNN_POOL_LAST},
	{"lstm512", RNN_CELL_LSTM, 0, 32, 0, 0, 512, 64, 64, 1, RNN_HEAD_REGRESSION, RNN_POOL_LAST},
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * Repeats of one timed operation: 3 warm-up runs, then runs are kept until
 * `seconds` have passed (at least 5, at most TIMING_MAX); medians of wall
 * and process CPU time.
 */
#define TIMING_MAX 5000
typedef struct Timing
{
	double		seconds;
	double		t_end;
	int			reps;
	double		wall[TIMING_MAX];
	double		cpu[TIMING_MAX];
} Timing;

/* run `it` started at wall t0, CPU c0 has ended: false when enough */
static int
timing_add(Timing *tm, int it, double t0, double c0)
{
	if (it == 2)
		tm->t_end = now() + tm->seconds;
	if (it >= 3)
	{
		tm->cpu[tm->reps] = cpu_now() - c0;
		tm->wall[tm->reps++] = now() - t0;
		if ((tm->reps >= 5 && now() > tm->t_end) || tm->reps == TIMING_MAX)
			return 0;
	}
	return 1;
}

static void
timing_medians(Timing *tm, double *wall, double *cpu)
{
	qsort(tm->wall, tm->reps, sizeof(double), cmp_double);
	qsort(tm->cpu, tm->reps, sizeof(double), cmp_double);
	*wall = tm->wall[tm->reps / 2];
	*cpu = tm->cpu[tm->reps / 2];
}

/*
 * FLOPs of the matrix products of one training step (forward + backward),
 * counting 2 per multiply-add; the same count is used for PyTorch.
 * Per layer-direction, with N = B*T rows (all sequences full length),
 * G = gates*H gate rows and I the layer's input width:
 *   forward   2*N*G*I  (X . W_ih^T, all steps)     + 2*N*G*H (h . W_hh^T per step)
 *   backward  2*N*G*I  (dW_ih)  + 2*N*G*H (dW_hh)  + 2*N*G*H (dgates . W_hh per step)
 *             + 2*N*G*I (dX), only when the input needs a gradient (embedding)
 * head (F = H*dirs features, O outputs): 2*B*O*F forward + 4*B*O*F backward.
 * Elementwise gate math, the embedding scatter and Adam are not counted.
 */
static double
step_flops(const Shape *s)
{
	double		N = (double) s->B * s->T;
	double		G = (double) rnn_cell_gates(s->cell) * s->hidden;
	double		In = s->vocab ? s->emb : s->input;
	double		H = s->hidden;
	int			dirs = s->bidirectional ? 2 : 1;
	double		per_dir = 2 * N * G * In + 2 * N * G * H	/* forward */
		+ 2 * N * G * In + 4 * N * G * H		/* backward */
		+ (s->vocab ? 2 * N * G * In : 0);	/* dX */
	double		F = H * dirs;

	return dirs * per_dir + 6.0 * s->B * s->out * F;
}

static int
bench_shape(const Shape *s, int threads, double seconds)
{
	RnnConfig	cfg;
	RnnModel   *model;
	RnnTrainer *tr;
	RnnOptimConfig opt;
	RnnRng		rng;
	int			N = s->B * s->T;
	int		   *lengths = malloc(sizeof(int) * s->B);
	float	   *x = s->vocab ? NULL : malloc(sizeof(float) * (size_t) N * s->input);
	int32_t    *tokens = s->vocab ? malloc(sizeof(int32_t) * N) : NULL;
	float	   *targets = malloc(sizeof(float) * (size_t) s->B * s->out);
	int		   *labels = malloc(sizeof(int) * s->B);
	static Timing tm;
	double		med,
				cpu_med;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cell = s->cell;
	cfg.num_layers = 1;
	cfg.bidirectional = s->bidirectional;
	cfg.input_size = s->input;
	cfg.vocab_size = s->vocab;
	cfg.embedding_dim = s->emb;
	cfg.hidden_size = s->hidden;
	cfg.output_size = s->out;
	cfg.head = s->head;
	cfg.pooling = s->pool;
	cfg.dropout = 0.0f;
	if (rnn_model_create(&model, &cfg) != RNN_OK)
	{
		fprintf(stderr, "engine_bench: model_create failed for %s\n", s->name);
		return 1;
	}
	rnn_model_init(model, 42);
	rnn_optim_defaults(&opt);	/* Adam 1e-3, clip 1.0: same as the torch side */
	if (rnn_trainer_create(&tr, model, s->B, s->T, &opt, 7) != RNN_OK)
	{
		fprintf(stderr, "engine_bench: trainer_create failed\n");
		return 1;
	}
	rnn_blas_set_threads(threads);

	rnn_rng_seed(&rng, 1);
	for (int b = 0; b < s->B; b++)
	{
		lengths[b] = s->T;
		labels[b] = (int) rnn_rng_below(&rng, (uint32_t) s->out);
	}
	if (x)
		for (size_t i = 0; i < (size_t) N * s->input; i++)
			x[i] = rnn_rng_normal(&rng);
	if (tokens)
		for (int i = 0; i < N; i++)
			tokens[i] = (int32_t) rnn_rng_below(&rng, (uint32_t) s->vocab);
	for (int i = 0; i < s->B * s->out; i++)
		targets[i] = rnn_rng_normal(&rng);

	RnnBatch	batch = {s->B, s->T, lengths, x, tokens, NULL};

	memset(&tm, 0, sizeof(tm));
	tm.seconds = seconds;
	for (int it = 0;; it++)
	{
		double		t0 = now(),
					c0 = cpu_now(),
					loss,
					norm;
		RnnStatus	st = rnn_forward(tr, &batch, 1, NULL);

		if (st == RNN_OK)
			st = s->head == RNN_HEAD_REGRESSION ? rnn_loss_mse(tr, targets, &loss)
				: rnn_loss_xent(tr, labels, NULL, &loss);
		rnn_zero_grad(tr);
		if (st == RNN_OK)
			st = rnn_backward(tr);
		if (st == RNN_OK)
			st = rnn_optim_step(tr, &norm);
		if (st != RNN_OK)
		{
			fprintf(stderr, "engine_bench: step failed: %s\n", rnn_status_message(st));
			return 1;
		}
		if (!timing_add(&tm, it, t0, c0))
			break;
	}
	timing_medians(&tm, &med, &cpu_med);

	/* last field: sequences per CPU-second of this process (all threads),
	 * a cross-check that a busy machine's time slicing does not move */
	printf("RESULT engine-%s %s %d %.1f %.2f %.3f %d %.1f\n", rnn_isa_name(rnn_isa_current()), s->name, threads,
		   s->B / med, step_flops(s) / med * 1e-9, med * 1e3, tm.reps, s->B / cpu_med);
	rnn_trainer_free(tr);
	rnn_model_free(model);
	free(lengths);
	free(x);
	free(tokens);
	free(targets);
	free(labels);
	return 0;
}

/* sgemm GFLOP/s, median over repeats, C = A . B^T as the engine's forward */
static void
bench_sgemm(const char *label, int M, int N, int K, int trans_b, int threads, double seconds)
{
	float	   *A = malloc(sizeof(float) * (size_t) M * K);
	float	   *B = malloc(sizeof(float) * (size_t) N * K);
	float	   *C = malloc(sizeof(float) * (size_t) M * N);
	static Timing tm;
	double		med,
				cpu_med;

	for (size_t i = 0; i < (size_t) M * K; i++)
		A[i] = (float) ((i * 7919) % 1000) / 1000.0f - 0.5f;
	for (size_t i = 0; i < (size_t) N * K; i++)
		B[i] = (float) ((i * 104729) % 1000) / 1000.0f - 0.5f;
	rnn_blas_set_threads(threads);
	memset(&tm, 0, sizeof(tm));
	tm.seconds = seconds;
	for (int it = 0;; it++)
	{
		double		t0 = now(),
					c0 = cpu_now();

		rnn_sgemm(0, trans_b, M, N, K, 1.0f, A, K, B, trans_b ? K : N, 0.0f, C, N);
		if (!timing_add(&tm, it, t0, c0))
			break;
	}
	timing_medians(&tm, &med, &cpu_med);
	printf("SGEMM %s %d %.2f %.2f\n", label, threads, 2.0 * M * N * K / med * 1e-9,
		   2.0 * M * N * K / cpu_med * 1e-9);
	free(A);
	free(B);
	free(C);
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "config") == 0)
	{
		printf("%s\n", openblas_get_config());
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "paths") == 0)
	{
		for (int i = 0; i < RNN_ISA_COUNT; i++)
			if (rnn_isa_supported((RnnIsa) i))
				printf("%s ", rnn_isa_name((RnnIsa) i));
		printf("\n");
		return 0;
	}
	if (argc < 3)
	{
		fprintf(stderr, "usage: engine_bench SHAPE|sgemm|config|paths THREADS [SECONDS]\n");
		return 2;
	}
	{
		const char *why = NULL;

		if (rnn_isa_from_env(&why) != RNN_OK)
		{
			fprintf(stderr, "engine_bench: %s\n", why);
			return 2;
		}
	}
	int			threads = atoi(argv[2]);
	double		seconds = argc > 3 ? atof(argv[3]) : 3.0;

	if (strcmp(argv[1], "sgemm") == 0)
	{
		/* square reference, then the shapes of lstm512: the all-steps
		 * products (N = 4096 rows) and the per-step recurrent ones (bt = 64) */
		bench_sgemm("512x512x512", 512, 512, 512, 1, threads, seconds / 3);
		bench_sgemm("4096x2048x512", 4096, 2048, 512, 1, threads, seconds / 3);
		bench_sgemm("64x2048x512", 64, 2048, 512, 1, threads, seconds / 3);
		/* per-step recurrent products of lstm64 and bigru128 */
		bench_sgemm("64x256x64", 64, 256, 64, 1, threads, seconds / 3);
		bench_sgemm("50x384x128", 50, 384, 128, 1, threads, seconds / 3);
		bench_sgemm("2000x384x128", 2000, 384, 128, 1, threads, seconds / 3);
		return 0;
	}
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (strcmp(argv[1], shapes[i].name) == 0)
			return bench_shape(&shapes[i], threads, seconds);
	fprintf(stderr, "engine_bench: unknown shape %s\n", argv[1]);
	return 2;
}
