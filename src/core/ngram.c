/*
 * ngram.c -- the n-gram linear path of a text classifier (see ngram.h):
 * bigram index, scoring, the blob, and the naive Bayes fit with
 * out-of-fold scores and a fitted scale.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ngram.h"
#include "tokenizer.h"

/* ---------------------------------------------------------------------------
 * Bigram index: open addressing over the sorted keys
 */
static inline uint64_t
bigram_key(int32_t a, int32_t b)
{
	return ((uint64_t) (uint32_t) a << 32) | (uint32_t) b;
}

static inline size_t
slot_of(uint64_t key, size_t mask)
{
	return (size_t) ((key * 0x9E3779B97F4A7C15ULL) >> 17) & mask;
}

static RnnStatus
build_index(RnnNgram *ng)
{
	size_t		n_slots = 16;

	while (n_slots < 2 * ng->n_bigrams)
		n_slots *= 2;
	ng->slots = rnn_alloc(sizeof(int32_t) * n_slots);
	if (ng->slots == NULL)
		return RNN_ERR_NOMEM;
	ng->n_slots = n_slots;
	memset(ng->slots, 0xff, sizeof(int32_t) * n_slots);	/* -1 */
	for (size_t k = 0; k < ng->n_bigrams; k++)
	{
		size_t		s = slot_of(ng->keys[k], n_slots - 1);

		while (ng->slots[s] >= 0)
			s = (s + 1) & (n_slots - 1);
		ng->slots[s] = (int32_t) k;
	}
	return RNN_OK;
}

/* Row of bigram (a, b), or -1 when it has none. */
static inline long
bigram_row(const RnnNgram *ng, int32_t a, int32_t b)
{
	uint64_t	key = bigram_key(a, b);
	size_t		mask = ng->n_slots - 1;
	size_t		s = slot_of(key, mask);

	for (;;)
	{
		int32_t		k = ng->slots[s];

		if (k < 0)
			return -1;
		if (ng->keys[k] == key)
			return (long) ng->vocab_size + k;
		s = (s + 1) & mask;
	}
}

static inline int32_t
clamp_id(const RnnNgram *ng, int32_t id)
{
	return id >= 0 && id < ng->vocab_size ? id : RNN_VOCAB_UNK;
}

void
rnn_ngram_free(RnnNgram *ng)
{
	if (ng == NULL)
		return;
	rnn_free(ng->keys);
	rnn_free(ng->weights);
	rnn_free(ng->slots);
	rnn_free(ng);
}

/* ---------------------------------------------------------------------------
 * Scoring
 */
void
rnn_ngram_accumulate(const RnnNgram *ng, const int32_t *ids, size_t n, int32_t prev,
					 float *logits)
{
	const int	C = ng->n_classes;

	for (size_t t = 0; t < n; t++)
	{
		int32_t		id = clamp_id(ng, ids[t]);
		const float *w = ng->weights + (size_t) id * C;

		for (int c = 0; c < C; c++)
			logits[c] += w[c];
		if (ng->order >= 2 && prev >= 0)
		{
			long		row = bigram_row(ng, prev, id);

			if (row >= 0)
			{
				w = ng->weights + (size_t) row * C;
				for (int c = 0; c < C; c++)
					logits[c] += w[c];
			}
		}
		prev = id;
	}
}

/* ---------------------------------------------------------------------------
 * Blob
 */
static void
put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t) get_u32(p) | (uint64_t) get_u32(p + 4) << 32;
}

static void
put_f32(uint8_t *p, float f)
{
	uint32_t	u;

	memcpy(&u, &f, 4);
	put_u32(p, u);
}

static float
get_f32(const uint8_t *p)
{
	uint32_t	u = get_u32(p);
	float		f;

	memcpy(&f, &u, 4);
	return f;
}

RnnStatus
rnn_ngram_encode(const RnnNgram *ng, uint8_t **out, size_t *out_len)
{
	size_t		rows,
				total;
	uint8_t    *blob,
			   *p;

	if (ng == NULL || out == NULL || out_len == NULL)
		return RNN_ERR_INPUT;
	rows = (size_t) ng->vocab_size + ng->n_bigrams;
	total = RNN_NGRAM_HEADER_BYTES + 8 * ng->n_bigrams + 4 * rows * ng->n_classes + 4;
	for (size_t i = 0; i < rows * ng->n_classes; i++)
		if (!isfinite(ng->weights[i]))
			return RNN_ERR_NONFINITE;
	blob = rnn_alloc(total);
	if (blob == NULL)
		return RNN_ERR_NOMEM;
	memcpy(blob, RNN_NGRAM_MAGIC, 4);
	put_u32(blob + 4, RNN_NGRAM_FORMAT_VERSION);
	put_u32(blob + 8, (uint32_t) ng->order);
	put_u32(blob + 12, (uint32_t) ng->n_classes);
	put_u32(blob + 16, (uint32_t) ng->vocab_size);
	put_u32(blob + 20, 0);
	put_u64(blob + 24, ng->n_bigrams);
	p = blob + RNN_NGRAM_HEADER_BYTES;
	for (size_t k = 0; k < ng->n_bigrams; k++, p += 8)
		put_u64(p, ng->keys[k]);
	for (size_t i = 0; i < rows * ng->n_classes; i++, p += 4)
		put_f32(p, ng->weights[i]);
	put_u32(p, rnn_crc32(0, blob, total - 4));
	*out = blob;
	*out_len = total;
	return RNN_OK;
}

RnnStatus
rnn_ngram_decode(const uint8_t *blob, size_t len, RnnNgram **out)
{
	uint32_t	order,
				C,
				V;
	uint64_t	nb;
	size_t		rows;
	RnnNgram   *ng;
	const uint8_t *p;
	RnnStatus	st;

	*out = NULL;
	if (len < 4 || memcmp(blob, RNN_NGRAM_MAGIC, 4) != 0)
		return RNN_ERR_MAGIC;
	if (len < RNN_NGRAM_HEADER_BYTES + 4)
		return RNN_ERR_TRUNCATED;
	if (get_u32(blob + 4) > RNN_NGRAM_FORMAT_VERSION)
		return RNN_ERR_VERSION;
	order = get_u32(blob + 8);
	C = get_u32(blob + 12);
	V = get_u32(blob + 16);
	nb = get_u64(blob + 24);
	if (get_u32(blob + 4) == 0 || order < 1 || order > RNN_NGRAM_MAX_ORDER ||
		C < 1 || C > RNN_MAX_OUTPUT || V < 2 || V > RNN_MAX_VOCAB ||
		get_u32(blob + 20) != 0 || (order == 1 && nb != 0) || nb > (uint64_t) INT32_MAX)
		return RNN_ERR_CORRUPT;
	rows = (size_t) V + (size_t) nb;
	if ((len - RNN_NGRAM_HEADER_BYTES - 4) / 4 < 2 * (size_t) nb + rows * C)
		return RNN_ERR_TRUNCATED;
	if (len != RNN_NGRAM_HEADER_BYTES + 8 * (size_t) nb + 4 * rows * C + 4)
		return RNN_ERR_CORRUPT;
	if (get_u32(blob + len - 4) != rnn_crc32(0, blob, len - 4))
		return RNN_ERR_CHECKSUM;

	ng = rnn_alloc(sizeof(RnnNgram));
	if (ng == NULL)
		return RNN_ERR_NOMEM;
	ng->order = (int) order;
	ng->n_classes = (int) C;
	ng->vocab_size = (int) V;
	ng->n_bigrams = (size_t) nb;
	ng->keys = rnn_alloc(sizeof(uint64_t) * (nb > 0 ? nb : 1));
	ng->weights = rnn_alloc(sizeof(float) * rows * C);
	if (ng->keys == NULL || ng->weights == NULL)
	{
		rnn_ngram_free(ng);
		return RNN_ERR_NOMEM;
	}
	p = blob + RNN_NGRAM_HEADER_BYTES;
	for (size_t k = 0; k < nb; k++, p += 8)
	{
		ng->keys[k] = get_u64(p);
		/* ascending and unique, ids inside the vocabulary */
		if ((k > 0 && ng->keys[k] <= ng->keys[k - 1]) ||
			(ng->keys[k] >> 32) >= V || (ng->keys[k] & 0xffffffffULL) >= V)
		{
			rnn_ngram_free(ng);
			return RNN_ERR_CORRUPT;
		}
	}
	for (size_t i = 0; i < rows * C; i++, p += 4)
	{
		ng->weights[i] = get_f32(p);
		if (!isfinite(ng->weights[i]))
		{
			rnn_ngram_free(ng);
			return RNN_ERR_CORRUPT;
		}
	}
	st = build_index(ng);
	if (st != RNN_OK)
	{
		rnn_ngram_free(ng);
		return st;
	}
	*out = ng;
	return RNN_OK;
}

size_t
rnn_model_blob_size(const uint8_t *blob, size_t len)
{
	uint64_t	n;

	/* codec.h: u64 n_params at offset 60, then the floats and a CRC */
	if (len < RNN_BLOB_HEADER_BYTES || memcmp(blob, RNN_BLOB_MAGIC, 4) != 0 ||
		get_u32(blob + 8) != RNN_BLOB_HEADER_BYTES)
		return len;
	n = get_u64(blob + 60);
	if (n > (uint64_t) ((len - RNN_BLOB_OVERHEAD) / 4))
		return len;
	return RNN_BLOB_OVERHEAD + 4 * (size_t) n;
}

/* ---------------------------------------------------------------------------
 * Fitting
 *
 *  1. bigram keys: every (ids[t-1], ids[t]) of the training texts, sorted,
 *     unique;
 *  2. counts per fold: cnt[k][row][c] = occurrences of feature row in the
 *     texts of class c in fold k (folds: a seeded shuffle, position mod K);
 *  3. for each smoothing alpha: every text's naive Bayes log-likelihoods
 *     under the counts of the other folds, split by order (a bigram unseen
 *     there has no row, as at scoring time), then the scale per order and
 *     the class biases that minimise the out-of-fold log loss
 *     (logistic regression in 2 + C parameters, by Adam);
 *  4. the weights from all counts at the best alpha, times the scales,
 *     centred over the classes (softmax ignores a shift common to all
 *     classes, and centred weights keep the sums small).
 */
#define N_ALPHAS 4
static const double alphas[N_ALPHAS] = {0.1, 0.25, 0.5, 1.0};

#define SCALE_FIT_MAX_TEXTS 20000
#define SCALE_FIT_STEPS 600

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a,
				y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

static size_t
count_bigram_slots(const RnnNgramData *d)
{
	size_t		n = 0;

	for (int i = 0; i < d->n; i++)
		if (d->off[i + 1] > d->off[i])
			n += d->off[i + 1] - d->off[i] - 1;
	return n;
}

size_t
rnn_ngram_fit_memory(const RnnNgramData *d, const RnnNgramFitOptions *opt)
{
	size_t		nb = opt->order >= 2 ? count_bigram_slots(d) : 0;
	size_t		rows = (size_t) d->vocab_size + nb;
	size_t		C = (size_t) d->n_classes;

	size_t		P = C == 2 ? 1 : C;
	size_t		ids = d->n > 0 ? d->off[d->n] : 0;

	/* naive Bayes, then NBSVM: binarized counts, distinct rows per text,
	 * ratio and SVM weights, two weight sets, dual variables, two score sets */
	return sizeof(uint64_t) * nb * 2 + sizeof(int32_t) * (4 * nb + 16) +
		sizeof(double) * rows * C * (opt->folds + 1) + sizeof(float) * rows * C +
		sizeof(double) * (size_t) d->n * C * 4 + sizeof(int) * (size_t) d->n * 2 +
		sizeof(double) * rows * C * (opt->folds + 1) + sizeof(long) * (ids + nb) +
		sizeof(double) * rows * (2 + 2 * P) + (sizeof(double) * 2 + sizeof(int) + sizeof(size_t)) * (size_t) d->n +
		sizeof(double) * (size_t) d->n * C * 2 + sizeof(double) * SCALE_FIT_MAX_TEXTS * C;
}

/*
 * Scale per order and class biases minimising the mean log loss of
 * softmax(s1 U + s2 B + b) over m texts (U, B: (m, C)); returns the loss.
 */
static double
fit_scale(const double *U, const double *B, const int *y, int m, int C, double *s,
		  double *b, double *acc_out)
{
	int			P = 2 + C;
	double	   *th = rnn_alloc(sizeof(double) * P * 4);
	double	   *g,
			   *mo,
			   *ve;
	double	   *z = rnn_alloc(sizeof(double) * C);
	double		loss = NAN;
	int			correct = 0;

	if (th == NULL || z == NULL)
	{
		rnn_free(th);
		rnn_free(z);
		return NAN;
	}
	g = th + P;
	mo = g + P;
	ve = mo + P;
	th[0] = s[0];
	th[1] = s[1];
	for (int c = 0; c < C; c++)
		th[2 + c] = b[c];
	for (int step = 0; step <= SCALE_FIT_STEPS; step++)
	{
		double		lr = 0.05 * 0.5 * (1 + cos(3.14159265358979323846 * step / SCALE_FIT_STEPS));

		memset(g, 0, sizeof(double) * P);
		loss = 0;
		correct = 0;
		for (int i = 0; i < m; i++)
		{
			double		max = -INFINITY,
						sum = 0;
			int			best = 0;

			for (int c = 0; c < C; c++)
			{
				z[c] = th[0] * U[(size_t) i * C + c] + th[1] * B[(size_t) i * C + c] + th[2 + c];
				if (z[c] > max)
				{
					max = z[c];
					best = c;
				}
			}
			for (int c = 0; c < C; c++)
				sum += (z[c] = exp(z[c] - max));
			correct += best == y[i];
			loss -= log(z[y[i]] / sum);
			for (int c = 0; c < C; c++)
			{
				double		dz = z[c] / sum - (c == y[i]);

				g[0] += dz * U[(size_t) i * C + c];
				g[1] += dz * B[(size_t) i * C + c];
				g[2 + c] += dz;
			}
		}
		loss /= m;
		if (step == SCALE_FIT_STEPS)
			break;
		/* Adam */
		for (int p = 0; p < P; p++)
		{
			double		gp = g[p] / m;

			mo[p] = 0.9 * mo[p] + 0.1 * gp;
			ve[p] = 0.999 * ve[p] + 0.001 * gp * gp;
			th[p] -= lr * (mo[p] / (1 - pow(0.9, step + 1))) /
				(sqrt(ve[p] / (1 - pow(0.999, step + 1))) + 1e-8);
		}
	}
	s[0] = th[0];
	s[1] = th[1];
	for (int c = 0; c < C; c++)
		b[c] = th[2 + c];
	*acc_out = m > 0 ? (double) correct / m : NAN;
	rnn_free(th);
	rnn_free(z);
	return loss;
}

typedef struct FitWork
{
	const RnnNgramData *d;
	RnnNgram   *ng;				/* keys and index so far */
	int			K;
	int		   *fold;			/* (n) */
	double	   *cnt;			/* (K + 1, rows, C): folds, then the total */
	double	   *class_tokens;	/* (K + 1, C) feature occurrences per class */
	double	   *U;				/* (n, C) out-of-fold unigram log-likelihoods */
	double	   *B;				/* (n, C) bigram */
	long	   *rows;			/* (2 * longest text) text_rows scratch */
} FitWork;

/*
 * The feature rows of one text, in scoring order: for each token its
 * unigram row, then its bigram's row when the bigram has one.  rows_out
 * holds 2 * len; returns the count, *n_uni the unigram rows among them
 * (rows below vocab_size are unigrams).
 */
static size_t
text_rows(const RnnNgram *ng, const int32_t *ids, size_t len, long *rows_out)
{
	size_t		n = 0;
	int32_t		prev = -1;

	for (size_t t = 0; t < len; t++)
	{
		int32_t		id = clamp_id(ng, ids[t]);

		rows_out[n++] = id;
		if (ng->order >= 2 && prev >= 0)
		{
			long		row = bigram_row(ng, prev, id);

			if (row >= 0)
				rows_out[n++] = row;
		}
		prev = id;
	}
	return n;
}

/* Out-of-fold log-likelihoods of every text at smoothing alpha. */
static void
oof_scores(FitWork *w, double alpha)
{
	const RnnNgramData *d = w->d;
	const int	C = d->n_classes;
	const int	K = w->K;
	const size_t rows = (size_t) d->vocab_size + w->ng->n_bigrams;
	const double *tot = w->cnt + (size_t) K * rows * C;
	double	   *log_den = rnn_alloc(sizeof(double) * K * C);

	if (log_den == NULL)
		return;
	for (int k = 0; k < K; k++)
		for (int c = 0; c < C; c++)
			log_den[k * C + c] = log(alpha * rows + w->class_tokens[K * C + c] -
									 w->class_tokens[k * C + c]);
	for (int i = 0; i < d->n; i++)
	{
		const int32_t *ids = d->ids + d->off[i];
		size_t		len = d->off[i + 1] - d->off[i];
		int			k = w->fold[i];
		const double *own = w->cnt + (size_t) k * rows * C;
		double	   *u = w->U + (size_t) i * C;
		double	   *bg = w->B + (size_t) i * C;

		memset(u, 0, sizeof(double) * C);
		memset(bg, 0, sizeof(double) * C);
		size_t		nr = text_rows(w->ng, ids, len, w->rows);

		for (size_t j = 0; j < nr; j++)
		{
			long		r = w->rows[j];
			double	   *acc = r < d->vocab_size ? u : bg;
			double		seen = 0;

			/* a bigram the other folds never saw has no row at scoring time */
			for (int c = 0; c < C; c++)
				seen += tot[r * C + c] - own[r * C + c];
			if (r >= d->vocab_size && seen == 0)
				continue;
			for (int c = 0; c < C; c++)
				acc[c] += log(alpha + tot[r * C + c] - own[r * C + c]) - log_den[k * C + c];
		}
	}
	rnn_free(log_den);
}

/* ---------------------------------------------------------------------------
 * NBSVM (Wang & Manning 2012), the second candidate fit.
 *
 * For each binary problem (C = 2: class 1 against class 0; C > 2: class c
 * against the rest) over the texts outside fold k (all texts for k = K):
 *   r    = log((p + 1) / |p + 1|_1) - log((q + 1) / |q + 1|_1), p and q
 *          the number of texts of the positive and the other classes
 *          containing each feature row (binarized counts), over the rows
 *          those texts contain (any other row gets weight 0, as a feature
 *          unseen in training has no row at scoring time);
 *   w, b = an L2-regularised squared-hinge SVM on the binarized features
 *          scaled by r, a constant 1 for the bias (liblinear's dual
 *          coordinate descent, Hsieh et al. 2008, as test/bench's NBSVM);
 *   u    = ((1 - beta) mean|w| + beta w) r, the paper's interpolation
 *          towards naive Bayes, beta = 0.25.
 * The text's score is then sum over its feature rows (counts, as at
 * scoring: the binarized fit scored on counts, which keeps streaming exact
 * and lost nothing on MR's validation parts) of u, plus b.  The penalty C
 * is chosen among svm_cs by out-of-fold log loss after the same scale and
 * bias fit as naive Bayes, and so is NBSVM against naive Bayes.
 */
#define NBSVM_BETA 0.25
#define SVM_MAX_EPOCHS 30
#define SVM_TOLERANCE 0.1
#define N_SVM_CS 2
static const double svm_cs[N_SVM_CS] = {0.1, 1.0};

typedef struct SvmWork
{
	size_t	   *uoff;			/* (n + 1) text i's distinct rows: urow[uoff[i] .. uoff[i+1]) */
	long	   *urow;
	double	   *bcnt;			/* (K + 1, rows, C) texts containing the row: folds, total */
	double	   *r;				/* (rows) log-count ratio of one problem */
	double	   *w;				/* (rows) SVM weights */
	double	   *dual;			/* (n) */
	double	   *qd;				/* (n) diagonal of the dual's Hessian */
	int		   *perm;			/* (n) */
} SvmWork;

static int
cmp_long(const void *a, const void *b)
{
	long		x = *(const long *) a,
				y = *(const long *) b;

	return x < y ? -1 : x > y;
}

/* The distinct feature rows of every text, and the binarized counts. */
static RnnStatus
svm_prepare(FitWork *w, SvmWork *sw, size_t rows)
{
	const RnnNgramData *d = w->d;
	const int	C = d->n_classes;
	const int	K = w->K;
	size_t		total = 0;

	sw->uoff = rnn_alloc(sizeof(size_t) * (d->n + 1));
	if (sw->uoff == NULL)
		return RNN_ERR_NOMEM;
	for (int i = 0; i < d->n; i++)
		total += text_rows(w->ng, d->ids + d->off[i], d->off[i + 1] - d->off[i], w->rows);
	sw->urow = rnn_alloc(sizeof(long) * (total > 0 ? total : 1));
	sw->bcnt = rnn_alloc(sizeof(double) * (K + 1) * rows * C);
	sw->r = rnn_alloc(sizeof(double) * rows);
	sw->w = rnn_alloc(sizeof(double) * rows);
	sw->dual = rnn_alloc(sizeof(double) * d->n);
	sw->qd = rnn_alloc(sizeof(double) * d->n);
	sw->perm = rnn_alloc(sizeof(int) * d->n);
	if (!sw->urow || !sw->bcnt || !sw->r || !sw->w || !sw->dual || !sw->qd || !sw->perm)
		return RNN_ERR_NOMEM;
	total = 0;
	for (int i = 0; i < d->n; i++)
	{
		size_t		nr = text_rows(w->ng, d->ids + d->off[i], d->off[i + 1] - d->off[i], w->rows),
					u = 0;
		long	   *dst = sw->urow + total;
		double	   *own = sw->bcnt + (size_t) w->fold[i] * rows * C;
		double	   *tot = sw->bcnt + (size_t) K * rows * C;

		qsort(w->rows, nr, sizeof(long), cmp_long);
		for (size_t j = 0; j < nr; j++)
			if (u == 0 || w->rows[j] != dst[u - 1])
				dst[u++] = w->rows[j];
		sw->uoff[i] = total;
		for (size_t j = 0; j < u; j++)
		{
			own[dst[j] * C + d->label[i]] += 1;
			tot[dst[j] * C + d->label[i]] += 1;
		}
		total += u;
	}
	sw->uoff[d->n] = total;
	return RNN_OK;
}

static void
svm_free(SvmWork *sw)
{
	rnn_free(sw->uoff);
	rnn_free(sw->urow);
	rnn_free(sw->bcnt);
	rnn_free(sw->r);
	rnn_free(sw->w);
	rnn_free(sw->dual);
	rnn_free(sw->qd);
	rnn_free(sw->perm);
}

/*
 * One binary problem, positive class pos (C = 2: class 1 against 0), on the
 * texts outside fold k (k = K: all texts): u (rows) the interpolated weights
 * per feature row, *b the bias.
 */
static void
nbsvm_problem(FitWork *w, SvmWork *sw, size_t rows, int k, int pos, double penalty,
			  uint64_t seed, const RnnNgramFitOptions *opt, double *u, double *b)
{
	const RnnNgramData *d = w->d;
	const int	C = d->n_classes;
	const int	K = w->K;
	const double *tot = sw->bcnt + (size_t) K * rows * C;
	const double *own = k < K ? sw->bcnt + (size_t) k * rows * C : NULL;
	double		P = 0,
				Q = 0,
				bias = 0,
				mean_abs = 0;
	double		diag = 1.0 / (2 * penalty);
	size_t		seen = 0;
	int			m = 0;
	RnnRng		rng;

	/* the log-count ratio over the rows these texts contain */
	for (size_t j = 0; j < rows; j++)
	{
		double		p = 0,
					q = 0;

		for (int c = 0; c < C; c++)
		{
			double		v = tot[j * C + c] - (own ? own[j * C + c] : 0);

			if (c == pos)
				p += v;
			else
				q += v;
		}
		sw->r[j] = p + q > 0 ? 0 : NAN;	/* NaN: no text here has the row */
		if (p + q > 0)
		{
			P += p + 1;
			Q += q + 1;
		}
	}
	for (size_t j = 0; j < rows; j++)
	{
		double		p = 0,
					q = 0;

		if (isnan(sw->r[j]))
			continue;
		for (int c = 0; c < C; c++)
		{
			double		v = tot[j * C + c] - (own ? own[j * C + c] : 0);

			if (c == pos)
				p += v;
			else
				q += v;
		}
		sw->r[j] = log((p + 1) / P) - log((q + 1) / Q);
	}

	/* dual coordinate descent: min 0.5 |w|^2 + 0.5 b^2 + C sum max(0, 1 - y (w.x + b))^2 */
	memset(sw->w, 0, sizeof(double) * rows);
	for (int i = 0; i < d->n; i++)
	{
		if (k < K && w->fold[i] == k)
			continue;
		sw->perm[m++] = i;
		sw->dual[i] = 0;
		sw->qd[i] = 1 + diag;
		for (size_t j = sw->uoff[i]; j < sw->uoff[i + 1]; j++)
			sw->qd[i] += sw->r[sw->urow[j]] * sw->r[sw->urow[j]];
	}
	rnn_rng_seed(&rng, seed);
	for (int epoch = 0; epoch < SVM_MAX_EPOCHS; epoch++)
	{
		double		max_pg = 0;

		if (opt->on_progress)
			opt->on_progress(opt->cb_ctx);
		rnn_rng_shuffle(&rng, sw->perm, m);
		for (int t = 0; t < m; t++)
		{
			int			i = sw->perm[t];
			double		y = d->label[i] == pos ? 1.0 : -1.0;
			double		dot = bias,
						g,
						pg,
						old;

			for (size_t j = sw->uoff[i]; j < sw->uoff[i + 1]; j++)
				dot += sw->w[sw->urow[j]] * sw->r[sw->urow[j]];
			g = y * dot - 1 + diag * sw->dual[i];
			pg = sw->dual[i] == 0 ? fmin(g, 0) : g;
			if (fabs(pg) > max_pg)
				max_pg = fabs(pg);
			if (pg == 0)
				continue;
			old = sw->dual[i];
			sw->dual[i] = fmax(old - g / sw->qd[i], 0);
			for (size_t j = sw->uoff[i]; j < sw->uoff[i + 1]; j++)
				sw->w[sw->urow[j]] += (sw->dual[i] - old) * y * sw->r[sw->urow[j]];
			bias += (sw->dual[i] - old) * y;
		}
		if (max_pg < SVM_TOLERANCE)
			break;
	}

	/* interpolation towards naive Bayes, over the rows seen */
	for (size_t j = 0; j < rows; j++)
		if (!isnan(sw->r[j]))
		{
			mean_abs += fabs(sw->w[j]);
			seen++;
		}
	mean_abs = seen > 0 ? mean_abs / seen : 0;
	for (size_t j = 0; j < rows; j++)
		u[j] = isnan(sw->r[j]) ? 0 : ((1 - NBSVM_BETA) * mean_abs + NBSVM_BETA * sw->w[j]) * sw->r[j];
	*b = bias;
}

/* Binary problems of an NBSVM fit: one for two classes, else one per class. */
static inline int
nbsvm_problems(int C)
{
	return C == 2 ? 1 : C;
}

/* Class c's share of the SVM biases b (problems), centred over classes. */
static double
svm_class_bias(const double *b, int C, int c)
{
	double		mean = 0;

	if (C == 2)
		return c == 1 ? b[0] / 2 : -b[0] / 2;
	for (int k = 0; k < C; k++)
		mean += b[k] / C;
	return b[c] - mean;
}

/*
 * Scores (n, C) of every text under the fit without its fold (k = K: the
 * fit on all texts, for every text), bias included, centred over classes;
 * u: (problems, rows), b: (problems), s: (problems) scratch.
 */
static void
nbsvm_scores(FitWork *w, const double *u, const double *b, size_t rows, int k, double *s,
			 double *z)
{
	const RnnNgramData *d = w->d;
	const int	C = d->n_classes;
	const int	P = nbsvm_problems(C);

	for (int i = 0; i < d->n; i++)
	{
		double		mean = 0;
		size_t		nr;

		if (k < w->K && w->fold[i] != k)
			continue;
		nr = text_rows(w->ng, d->ids + d->off[i], d->off[i + 1] - d->off[i], w->rows);
		for (int p = 0; p < P; p++)
		{
			s[p] = b[p];
			for (size_t j = 0; j < nr; j++)
				s[p] += u[(size_t) p * rows + w->rows[j]];
		}
		if (C == 2)
		{
			z[(size_t) i * C] = -s[0] / 2;
			z[(size_t) i * C + 1] = s[0] / 2;
			continue;
		}
		for (int c = 0; c < C; c++)
			mean += s[c] / C;
		for (int c = 0; c < C; c++)
			z[(size_t) i * C + c] = s[c] - mean;
	}
}

RnnStatus
rnn_ngram_fit(RnnNgram **out, const RnnNgramData *d, const RnnNgramFitOptions *opt,
			  RnnNgramFitResult *res)
{
	const int	C = d->n_classes;
	const int	K = opt->folds;
	RnnNgram   *ng;
	FitWork		w;
	RnnStatus	st = RNN_OK;
	size_t		rows;
	RnnRng		rng;
	int		   *perm = NULL;
	int		   *sub = NULL,
			   *suby = NULL;
	double	   *Us = NULL,
			   *Bs = NULL;
	double		best_loss = INFINITY,
				best_alpha = alphas[0],
				best_s[2] = {1, 1};
	double	   *best_b = NULL,
			   *b = NULL;
	SvmWork		sw;
	double	   *svm_u = NULL,
			   *best_u = NULL,
			   *svm_b = NULL,
			   *best_svm_b = NULL,
			   *svm_z = NULL,
			   *best_z = NULL,
			   *zero = NULL;
	int			m = 0;

	*out = NULL;
	if (d->n < K || K < 2 || C < 2 || opt->order < 1 || opt->order > RNN_NGRAM_MAX_ORDER)
		return RNN_ERR_CONFIG;
	memset(&w, 0, sizeof(w));
	memset(&sw, 0, sizeof(sw));
	w.d = d;
	w.K = K;
	ng = rnn_alloc(sizeof(RnnNgram));
	if (ng == NULL)
		return RNN_ERR_NOMEM;
	ng->order = opt->order;
	ng->n_classes = C;
	ng->vocab_size = d->vocab_size;
	w.ng = ng;

	/* 1. bigram keys */
	{
		size_t		nk = opt->order >= 2 ? count_bigram_slots(d) : 0,
					u = 0;

		ng->keys = rnn_alloc(sizeof(uint64_t) * (nk > 0 ? nk : 1));
		if (ng->keys == NULL)
		{
			st = RNN_ERR_NOMEM;
			goto done;
		}
		nk = 0;
		if (opt->order >= 2)
			for (int i = 0; i < d->n; i++)
				for (size_t t = d->off[i] + 1; t < d->off[i + 1]; t++)
					ng->keys[nk++] = bigram_key(clamp_id(ng, d->ids[t - 1]), clamp_id(ng, d->ids[t]));
		qsort(ng->keys, nk, sizeof(uint64_t), cmp_u64);
		for (size_t k = 0; k < nk; k++)
			if (u == 0 || ng->keys[k] != ng->keys[u - 1])
				ng->keys[u++] = ng->keys[k];
		ng->n_bigrams = u;
		if (u > (size_t) INT32_MAX)
		{
			st = RNN_ERR_CONFIG;
			goto done;
		}
		st = build_index(ng);
		if (st != RNN_OK)
			goto done;
	}
	rows = (size_t) d->vocab_size + ng->n_bigrams;

	/* 2. folds and counts */
	w.fold = rnn_alloc(sizeof(int) * d->n);
	perm = rnn_alloc(sizeof(int) * d->n);
	w.cnt = rnn_alloc(sizeof(double) * (K + 1) * rows * C);
	w.class_tokens = rnn_alloc(sizeof(double) * (K + 1) * C);
	w.U = rnn_alloc(sizeof(double) * d->n * C);
	{
		size_t		longest = 1;

		for (int i = 0; i < d->n; i++)
			if (d->off[i + 1] - d->off[i] > longest)
				longest = d->off[i + 1] - d->off[i];
		w.rows = rnn_alloc(sizeof(long) * 2 * longest);
	}
	w.B = rnn_alloc(sizeof(double) * d->n * C);
	b = rnn_alloc(sizeof(double) * C);
	best_b = rnn_alloc(sizeof(double) * C);
	if (!w.rows || !w.fold || !perm || !w.cnt || !w.class_tokens || !w.U || !w.B || !b || !best_b)
	{
		st = RNN_ERR_NOMEM;
		goto done;
	}
	rnn_rng_seed(&rng, opt->seed);
	for (int i = 0; i < d->n; i++)
		perm[i] = i;
	rnn_rng_shuffle(&rng, perm, d->n);
	for (int i = 0; i < d->n; i++)
		w.fold[perm[i]] = i % K;
	for (int i = 0; i < d->n; i++)
	{
		const int32_t *ids = d->ids + d->off[i];
		size_t		len = d->off[i + 1] - d->off[i];
		int			c = d->label[i];
		double	   *own = w.cnt + (size_t) w.fold[i] * rows * C;
		double	   *tot = w.cnt + (size_t) K * rows * C;
		double	   *ct = w.class_tokens;

		if (opt->on_progress && i % 4096 == 0)
			opt->on_progress(opt->cb_ctx);
		size_t		nr = text_rows(ng, ids, len, w.rows);

		for (size_t j = 0; j < nr; j++)
		{
			own[w.rows[j] * C + c] += 1;
			tot[w.rows[j] * C + c] += 1;
		}
		ct[w.fold[i] * C + c] += nr;
		ct[K * C + c] += nr;
	}

	/* 3. alpha, scales and biases on out-of-fold scores (a subsample of
	 * at most SCALE_FIT_MAX_TEXTS texts for the scales: 2 + C parameters) */
	m = d->n < SCALE_FIT_MAX_TEXTS ? d->n : SCALE_FIT_MAX_TEXTS;
	sub = rnn_alloc(sizeof(int) * m);
	suby = rnn_alloc(sizeof(int) * m);
	Us = rnn_alloc(sizeof(double) * m * C);
	Bs = rnn_alloc(sizeof(double) * m * C);
	if (!sub || !suby || !Us || !Bs)
	{
		st = RNN_ERR_NOMEM;
		goto done;
	}
	for (int j = 0; j < m; j++)
	{
		sub[j] = (int) ((int64_t) j * d->n / m);
		suby[j] = d->label[sub[j]];
	}
	for (int a = 0; a < N_ALPHAS && (opt->fits == 0 || (opt->fits & RNN_NGRAM_FITS_NAIVE_BAYES)); a++)
	{
		double		s[2] = {1, 1},
					loss,
					acc;

		if (opt->on_progress)
			opt->on_progress(opt->cb_ctx);
		oof_scores(&w, alphas[a]);
		for (int j = 0; j < m; j++)
		{
			memcpy(Us + (size_t) j * C, w.U + (size_t) sub[j] * C, sizeof(double) * C);
			memcpy(Bs + (size_t) j * C, w.B + (size_t) sub[j] * C, sizeof(double) * C);
		}
		for (int c = 0; c < C; c++)
			b[c] = 0;
		loss = fit_scale(Us, Bs, suby, m, C, s, b, &acc);
		if (isfinite(loss) && loss < best_loss)
		{
			best_loss = loss;
			best_alpha = alphas[a];
			best_s[0] = s[0];
			best_s[1] = s[1];
			memcpy(best_b, b, sizeof(double) * C);
			res->oof_accuracy = acc;
		}
	}
	res->alpha = best_alpha;
	res->scale[0] = best_s[0];
	res->scale[1] = opt->order >= 2 ? best_s[1] : 0;
	res->oof_log_loss = best_loss;	/* infinite when naive Bayes did not compete */
	res->nb_oof_log_loss = best_loss;
	res->fit = RNN_NGRAM_FIT_NAIVE_BAYES;

	/* 3b. NBSVM at each penalty, on the same folds, scaled the same way */
	if (opt->fits == 0 || (opt->fits & RNN_NGRAM_FITS_NBSVM))
	{
		const int	P = nbsvm_problems(C);

		st = svm_prepare(&w, &sw, rows);
		if (st != RNN_OK)
			goto done;
		svm_u = rnn_alloc(sizeof(double) * P * rows);
		best_u = rnn_alloc(sizeof(double) * P * rows);
		svm_b = rnn_alloc(sizeof(double) * P);
		best_svm_b = rnn_alloc(sizeof(double) * P);
		svm_z = rnn_alloc(sizeof(double) * d->n * C);
		best_z = rnn_alloc(sizeof(double) * d->n * C);
		zero = rnn_alloc(sizeof(double) * m * C);
		if (!svm_u || !best_u || !svm_b || !best_svm_b || !svm_z || !best_z || !zero)
		{
			st = RNN_ERR_NOMEM;
			goto done;
		}
		for (int ci = 0; ci < N_SVM_CS; ci++)
		{
			double		s[2] = {1, 0},
						loss,
						acc;
			double	   *sb = rnn_alloc(sizeof(double) * P * 2);

			if (sb == NULL)
			{
				st = RNN_ERR_NOMEM;
				goto done;
			}
			/* out-of-fold scores: fold k's texts under the fit on the others */
			for (int k = 0; k < K; k++)
			{
				if (opt->on_progress)
					opt->on_progress(opt->cb_ctx);
				for (int p = 0; p < P; p++)
					nbsvm_problem(&w, &sw, rows, k, C == 2 ? 1 : p, svm_cs[ci],
								  opt->seed + 7919 * (uint64_t) (k + 1) + p, opt,
								  svm_u + (size_t) p * rows, &svm_b[p]);
				nbsvm_scores(&w, svm_u, svm_b, rows, k, sb, svm_z);
			}
			for (int j = 0; j < m; j++)
				memcpy(Us + (size_t) j * C, svm_z + (size_t) sub[j] * C, sizeof(double) * C);
			for (int c = 0; c < C; c++)
				b[c] = 0;
			loss = fit_scale(Us, zero, suby, m, C, s, b, &acc);
			if (isfinite(loss) && loss < res->oof_log_loss)
			{
				res->fit = RNN_NGRAM_FIT_NBSVM;
				res->svm_c = svm_cs[ci];
				res->oof_log_loss = loss;
				res->oof_accuracy = acc;
				res->alpha = 1;
				res->scale[0] = s[0];
				res->scale[1] = opt->order >= 2 ? s[0] : 0;
				memcpy(best_b, b, sizeof(double) * C);
				memcpy(best_z, svm_z, sizeof(double) * d->n * C);
				/* the weights: the fit on every text */
				if (opt->on_progress)
					opt->on_progress(opt->cb_ctx);
				for (int p = 0; p < P; p++)
					nbsvm_problem(&w, &sw, rows, K, C == 2 ? 1 : p, svm_cs[ci],
								  opt->seed + p, opt, best_u + (size_t) p * rows, &best_svm_b[p]);
			}
			rnn_free(sb);
		}
	}

	if (!isfinite(res->oof_log_loss))
	{
		st = RNN_ERR_NONFINITE;
		goto done;
	}
	ng->weights = rnn_alloc(sizeof(float) * rows * C);
	if (ng->weights == NULL)
	{
		st = RNN_ERR_NOMEM;
		goto done;
	}
	if (res->fit == RNN_NGRAM_FIT_NBSVM)
	{
		/* weights: s u per class, centred; bias: the fitted bias plus s
		 * times the SVM's; out-of-fold sums: s z + the fitted bias, less
		 * the bias stored */
		double		sc = res->scale[0],
					mean = 0;

		for (size_t r = 0; r < rows; r++)
		{
			double		mr = 0;

			if (C == 2)
			{
				ng->weights[r * C] = (float) (-sc * best_u[r] / 2);
				ng->weights[r * C + 1] = (float) (sc * best_u[r] / 2);
				continue;
			}
			for (int c = 0; c < C; c++)
				mr += best_u[(size_t) c * rows + r] / C;
			for (int c = 0; c < C; c++)
				ng->weights[r * C + c] = (float) (sc * (best_u[(size_t) c * rows + r] - mr));
		}
		for (int c = 0; c < C; c++)
			mean += (best_b[c] + sc * svm_class_bias(best_svm_b, C, c)) / C;
		for (int c = 0; c < C; c++)
			res->bias[c] = (float) (best_b[c] + sc * svm_class_bias(best_svm_b, C, c) - mean);
		for (int i = 0; i < d->n; i++)
		{
			double		mo = 0;
			float	   *o = res->oof_logits + (size_t) i * C;

			for (int c = 0; c < C; c++)
				mo += (sc * best_z[(size_t) i * C + c] + best_b[c] - res->bias[c]) / C;
			for (int c = 0; c < C; c++)
				o[c] = (float) (sc * best_z[(size_t) i * C + c] + best_b[c] - res->bias[c] - mo);
		}
		goto done;
	}

	/* naive Bayes: the out-of-fold sums at the best alpha, centred */
	res->alpha = best_alpha;
	res->scale[0] = best_s[0];
	res->scale[1] = opt->order >= 2 ? best_s[1] : 0;
	oof_scores(&w, best_alpha);
	for (int i = 0; i < d->n; i++)
	{
		double		mean = 0;
		float	   *o = res->oof_logits + (size_t) i * C;

		for (int c = 0; c < C; c++)
			mean += best_s[0] * w.U[(size_t) i * C + c] + best_s[1] * w.B[(size_t) i * C + c];
		mean /= C;
		for (int c = 0; c < C; c++)
			o[c] = (float) (best_s[0] * w.U[(size_t) i * C + c] +
							best_s[1] * w.B[(size_t) i * C + c] - mean);
	}
	{
		double		mean = 0;

		for (int c = 0; c < C; c++)
			mean += best_b[c] / C;
		for (int c = 0; c < C; c++)
			res->bias[c] = (float) (best_b[c] - mean);
	}

	/* 4. the weights from every training text */
	{
		const double *tot = w.cnt + (size_t) K * rows * C;

		for (size_t r = 0; r < rows; r++)
		{
			double		s = r < (size_t) d->vocab_size ? best_s[0] : best_s[1];
			double		mean = 0;
			for (int c = 0; c < C; c++)
				mean += log(best_alpha + tot[r * C + c]) -
					log(best_alpha * rows + w.class_tokens[K * C + c]);
			mean /= C;
			for (int c = 0; c < C; c++)
				ng->weights[r * C + c] =
					(float) (s * (log(best_alpha + tot[r * C + c]) -
								  log(best_alpha * rows + w.class_tokens[K * C + c]) - mean));
		}
	}

done:
	rnn_free(w.rows);
	rnn_free(w.fold);
	rnn_free(perm);
	rnn_free(w.cnt);
	rnn_free(w.class_tokens);
	rnn_free(w.U);
	rnn_free(w.B);
	rnn_free(sub);
	rnn_free(suby);
	rnn_free(Us);
	rnn_free(Bs);
	rnn_free(b);
	rnn_free(best_b);
	svm_free(&sw);
	rnn_free(svm_u);
	rnn_free(best_u);
	rnn_free(svm_b);
	rnn_free(best_svm_b);
	rnn_free(svm_z);
	rnn_free(best_z);
	rnn_free(zero);
	if (st != RNN_OK)
	{
		rnn_ngram_free(ng);
		return st;
	}
	*out = ng;
	return RNN_OK;
}
