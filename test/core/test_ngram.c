/*
 * test_ngram.c -- unit tests of the n-gram linear path (src/core/ngram.c):
 * the fit against a naive Bayes computed here independently, scoring in
 * pieces equal to scoring whole (the streaming contract), the blob round
 * trip and its rejection of truncation, bit flips and inconsistent
 * headers, and the engine blob split.  Standalone TAP program.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ngram.h"
#include "tap.h"

/*
 * A toy corpus over V = 8 ids: 2 and 3 are neutral filler, 4 "good" and 5
 * "bad"; class 1 texts say "good", class 0 "bad", and the bigram (6, 4) --
 * "not good" -- appears only in class 0 texts.
 */
#define V 8
#define N 200

static int32_t ids[N * 8];
static size_t off[N + 1];
static int label[N];

static void
make_corpus(void)
{
	RnnRng		rng;
	size_t		p = 0;

	rnn_rng_seed(&rng, 7);
	for (int i = 0; i < N; i++)
	{
		int			len = 3 + (int) rnn_rng_below(&rng, 5);
		int			c = i % 2;

		off[i] = p;
		label[i] = c;
		for (int t = 0; t < len; t++)
			ids[p++] = 2 + (int32_t) rnn_rng_below(&rng, 2);
		if (c == 1)
			ids[off[i] + rnn_rng_below(&rng, len)] = 4;
		else if (i % 4 == 0)
		{
			/* "not good" */
			int			t = (int) rnn_rng_below(&rng, len - 1);

			ids[off[i] + t] = 6;
			ids[off[i] + t + 1] = 4;
		}
		else
			ids[off[i] + rnn_rng_below(&rng, len)] = 5;
	}
	off[N] = p;
}

static RnnNgram *
fit_kinds(int order, int fits, RnnNgramFitResult *res, float *bias, float *oof)
{
	RnnNgramData d = {ids, off, label, N, V, 2};
	RnnNgramFitOptions o;
	RnnNgram   *ng = NULL;

	memset(&o, 0, sizeof(o));
	o.order = order;
	o.folds = 5;
	o.seed = 3;
	o.fits = fits;
	memset(res, 0, sizeof(*res));
	res->bias = bias;
	res->oof_logits = oof;
	TAP_CHECK(rnn_ngram_fit(&ng, &d, &o, res) == RNN_OK, "fit order %d, fits %d", order, fits);
	return ng;
}

/* naive Bayes only */
static RnnNgram *
fit(int order, RnnNgramFitResult *res, float *bias, float *oof)
{
	return fit_kinds(order, RNN_NGRAM_FITS_NAIVE_BAYES, res, bias, oof);
}

/* P(class 1) of ids[0..n) */
static double
p1(const RnnNgram *ng, const float *bias, const int32_t *x, size_t n)
{
	float		z[2] = {bias[0], bias[1]};

	rnn_ngram_accumulate(ng, x, n, -1, z);
	return 1.0 / (1.0 + exp(z[0] - z[1]));
}

int
main(void)
{
	RnnNgramFitResult res;
	float		bias[2];
	float	   *oof = calloc(N * 2, sizeof(float));
	RnnNgram   *ng;
	RnnNgram   *back = NULL;
	uint8_t    *blob = NULL;
	size_t		len = 0;

	make_corpus();

	/* --- the fit */
	ng = fit(2, &res, bias, oof);
	TAP_CHECK(ng != NULL && ng->n_bigrams > 0 && ng->vocab_size == V, "bigram table built (%zu)",
			  ng ? ng->n_bigrams : 0);
	TAP_CHECK(res.alpha > 0 && res.scale[0] > 0 && res.scale[1] > 0,
			  "alpha %g, scales %g %g positive", res.alpha, res.scale[0], res.scale[1]);
	TAP_CHECK(res.oof_accuracy > 0.95, "out-of-fold accuracy %.3f > 0.95", res.oof_accuracy);
	{
		int32_t		good[] = {2, 4, 3};
		int32_t		bad[] = {2, 5, 3};
		int32_t		not_good[] = {2, 6, 4, 3};

		TAP_CHECK(p1(ng, bias, good, 3) > 0.8, "'good' positive: %.3f", p1(ng, bias, good, 3));
		TAP_CHECK(p1(ng, bias, bad, 3) < 0.2, "'bad' negative: %.3f", p1(ng, bias, bad, 3));
		TAP_CHECK(p1(ng, bias, not_good, 4) < 0.5, "'not good' negative through its bigram: %.3f",
				  p1(ng, bias, not_good, 4));
	}

	/* weights: centred, and the naive Bayes log-ratio times the unigram scale */
	{
		double		n1 = 0,
					n0 = 0,
					c1 = 0,
					c0 = 0;
		size_t		rows = (size_t) V + ng->n_bigrams;
		double		want,
					got;

		/* feature occurrences per class and of unigram 4 ("good") */
		for (int i = 0; i < N; i++)
			for (size_t t = off[i]; t < off[i + 1]; t++)
			{
				int			bigram = t > off[i];	/* a bigram ends at t */
				int			has_row = 0;

				if (bigram)
				{
					uint64_t	key = (uint64_t) ids[t - 1] << 32 | (uint32_t) ids[t];

					for (size_t k = 0; k < ng->n_bigrams; k++)
						has_row |= ng->keys[k] == key;
				}
				*(label[i] ? &n1 : &n0) += 1 + has_row;
				if (ids[t] == 4)
					*(label[i] ? &c1 : &c0) += 1;
			}
		want = res.scale[0] * 0.5 * ((log(res.alpha + c1) - log(res.alpha * rows + n1)) -
									 (log(res.alpha + c0) - log(res.alpha * rows + n0)));
		got = ng->weights[4 * 2 + 1];
		TAP_CHECK(fabs(got - want) < 1e-5 && fabs(ng->weights[4 * 2] + got) < 1e-6,
				  "unigram 'good' weight %.6f = scaled naive Bayes %.6f, centred", got, want);
	}

	/* out-of-fold logits are centred and mostly on the right side */
	{
		int			right = 0;

		for (int i = 0; i < N; i++)
			right += ((oof[2 * i + 1] + bias[1] > oof[2 * i] + bias[0]) == (label[i] == 1));
		TAP_CHECK(right > 0.9 * N && fabs(oof[0] + oof[1]) < 1e-4,
				  "out-of-fold logits: %d of %d right, centred", right, N);
	}

	/* --- pieces equal whole, bit for bit (the streaming contract) */
	{
		float		whole[2] = {0, 0},
					parts[2] = {0, 0};
		size_t		n = off[10] - off[0];

		rnn_ngram_accumulate(ng, ids, n, -1, whole);
		rnn_ngram_accumulate(ng, ids, 7, -1, parts);
		rnn_ngram_accumulate(ng, ids + 7, 1, ids[6], parts);
		rnn_ngram_accumulate(ng, ids + 8, n - 8, ids[7], parts);
		TAP_CHECK(memcmp(whole, parts, sizeof(whole)) == 0,
				  "three pieces sum to the whole text's logits exactly (%.7g %.7g)",
				  whole[0], whole[1]);
	}
	{
		/* out-of-vocabulary ids count as <unk> */
		int32_t		odd[] = {-3, 99};
		int32_t		unk[] = {1, 1};
		float		a[2] = {0, 0},
					b[2] = {0, 0};

		rnn_ngram_accumulate(ng, odd, 2, -1, a);
		rnn_ngram_accumulate(ng, unk, 2, -1, b);
		TAP_CHECK(memcmp(a, b, sizeof(a)) == 0, "ids outside the vocabulary score as <unk>");
	}

	/* --- blob */
	TAP_CHECK(rnn_ngram_encode(ng, &blob, &len) == RNN_OK, "encoded");
	TAP_CHECK(len == RNN_NGRAM_HEADER_BYTES + 8 * ng->n_bigrams + 4 * (V + ng->n_bigrams) * 2 + 4,
			  "encoded: %zu bytes, as the header says", len);
	TAP_CHECK(rnn_ngram_decode(blob, len, &back) == RNN_OK && back->n_bigrams == ng->n_bigrams &&
			  memcmp(back->weights, ng->weights, sizeof(float) * (V + ng->n_bigrams) * 2) == 0 &&
			  memcmp(back->keys, ng->keys, sizeof(uint64_t) * ng->n_bigrams) == 0,
			  "decoded: same keys and weights");
	{
		int32_t		x[] = {2, 6, 4, 3, 5};

		TAP_CHECK(p1(back, bias, x, 5) == p1(ng, bias, x, 5), "decoded table scores the same");
	}
	rnn_ngram_free(back);
	{
		int			bad_trunc = 0,
					bad_flip = 0;

		for (size_t n = 0; n < len; n++)
		{
			back = NULL;
			if (rnn_ngram_decode(blob, n, &back) == RNN_OK)
				bad_trunc++;
			rnn_ngram_free(back);
		}
		for (size_t i = 0; i < len; i++)
			for (int bit = 0; bit < 8; bit += 3)
			{
				blob[i] ^= (uint8_t) (1 << bit);
				back = NULL;
				if (rnn_ngram_decode(blob, len, &back) == RNN_OK)
					bad_flip++;
				rnn_ngram_free(back);
				blob[i] ^= (uint8_t) (1 << bit);
			}
		TAP_CHECK(bad_trunc == 0, "every truncation rejected (%d accepted)", bad_trunc);
		TAP_CHECK(bad_flip == 0, "every bit flip rejected (%d accepted)", bad_flip);
	}
	{
		uint8_t		junk[64] = "RNNW";

		back = NULL;
		TAP_CHECK(rnn_ngram_decode(junk, sizeof(junk), &back) == RNN_ERR_MAGIC,
				  "foreign bytes: RNN_ERR_MAGIC");
	}

	/* --- the engine blob in front of it */
	{
		RnnConfig	cfg;
		RnnModel   *m = NULL;
		uint8_t    *eb = NULL,
				   *both;
		size_t		elen = 0;

		memset(&cfg, 0, sizeof(cfg));
		cfg.cell = RNN_CELL_GRU;
		cfg.num_layers = 1;
		cfg.vocab_size = V;
		cfg.embedding_dim = 3;
		cfg.hidden_size = 4;
		cfg.output_size = 2;
		cfg.head = RNN_HEAD_CLASSIFIER;
		TAP_CHECK(rnn_model_create(&m, &cfg) == RNN_OK && rnn_model_encode(m, &eb, &elen) == RNN_OK,
				  "engine blob");
		both = malloc(elen + len);
		memcpy(both, eb, elen);
		memcpy(both + elen, blob, len);
		TAP_CHECK(rnn_model_blob_size(both, elen + len) == elen && rnn_model_blob_size(eb, elen) == elen,
				  "rnn_model_blob_size finds the network's %zu bytes", elen);
		TAP_CHECK(rnn_model_blob_size(both, 10) == 10, "a short blob is left to the decoder");
		free(both);
		rnn_free(eb);
		rnn_model_free(m);
	}

	/* --- NBSVM */
	{
		RnnNgramFitResult rs,
					ra;
		float		bs[2],
					ba[2];
		float	   *oofs = calloc(N * 2, sizeof(float));
		RnnNgram   *svm = fit_kinds(2, RNN_NGRAM_FITS_NBSVM, &rs, bs, oofs);
		RnnNgram   *both;
		int32_t		good[] = {2, 4, 3};
		int32_t		bad[] = {2, 5, 3};
		int32_t		not_good[] = {2, 6, 4, 3};
		int			anti = 1,
					right = 0;

		TAP_CHECK(svm != NULL && rs.fit == RNN_NGRAM_FIT_NBSVM && (rs.svm_c == 0.1 || rs.svm_c == 1) &&
				  rs.scale[0] > 0 && isinf(rs.nb_oof_log_loss),
				  "NBSVM alone: C %g, scale %g", rs.svm_c, rs.scale[0]);
		TAP_CHECK(p1(svm, bs, good, 3) > 0.8 && p1(svm, bs, bad, 3) < 0.2 &&
				  p1(svm, bs, not_good, 4) < 0.5,
				  "NBSVM: 'good' %.3f, 'bad' %.3f, 'not good' %.3f", p1(svm, bs, good, 3),
				  p1(svm, bs, bad, 3), p1(svm, bs, not_good, 4));
		/* one binary problem: class 1's weight is minus class 0's */
		for (size_t r = 0; r < V + svm->n_bigrams; r++)
			anti &= svm->weights[2 * r] == -svm->weights[2 * r + 1];
		TAP_CHECK(anti && fabsf(bs[0] + bs[1]) < 1e-6, "NBSVM weights and bias centred over the two classes");
		/* 'good' only in class 1, 'bad' only in class 0: ratios of opposite sign */
		TAP_CHECK(svm->weights[4 * 2 + 1] > 0 && svm->weights[5 * 2 + 1] < 0,
				  "NBSVM: 'good' %.3f > 0 > 'bad' %.3f", svm->weights[4 * 2 + 1],
				  svm->weights[5 * 2 + 1]);
		for (int i = 0; i < N; i++)
			right += ((oofs[2 * i + 1] + bs[1] > oofs[2 * i] + bs[0]) == (label[i] == 1));
		TAP_CHECK(fabs((double) right / N - rs.oof_accuracy) < 1e-9 && fabs(oofs[0] + oofs[1]) < 1e-4,
				  "NBSVM out-of-fold logits plus bias: %d of %d right, as the fit reports, centred",
				  right, N);
		/* both compete: the lower out-of-fold log loss wins */
		both = fit_kinds(2, 0, &ra, ba, oofs);
		TAP_CHECK(both != NULL && fabs(ra.oof_log_loss - fmin(res.oof_log_loss, rs.oof_log_loss)) < 1e-12 &&
				  ra.fit == (rs.oof_log_loss < res.oof_log_loss ? RNN_NGRAM_FIT_NBSVM : RNN_NGRAM_FIT_NAIVE_BAYES) &&
				  fabs(ra.nb_oof_log_loss - res.oof_log_loss) < 1e-12,
				  "both compete: %s wins (log loss %.4f; naive Bayes %.4f, NBSVM %.4f)",
				  ra.fit == RNN_NGRAM_FIT_NBSVM ? "NBSVM" : "naive Bayes", ra.oof_log_loss,
				  res.oof_log_loss, rs.oof_log_loss);
		rnn_ngram_free(both);
		rnn_ngram_free(svm);
		free(oofs);
	}

	/* --- three classes, NBSVM one-vs-rest: 'good' 4 -> class 2, 'bad' 5 -> 0, neither -> 1 */
	{
		int			lab3[N];
		int32_t		ids3[N * 8];
		RnnNgramData d3 = {ids3, off, lab3, N, V, 3};
		RnnNgramFitOptions o3;
		RnnNgramFitResult r3;
		float		b3[3],
				   *oof3 = calloc(N * 3, sizeof(float));
		RnnNgram   *ng3 = NULL;
		int			right = 0;

		memcpy(ids3, ids, sizeof(ids3));
		for (int i = 0; i < N; i++)
		{
			int			has4 = 0,
						has5 = 0;

			for (size_t t = off[i]; t < off[i + 1]; t++)
			{
				has4 |= ids3[t] == 4 && !(t > off[i] && ids3[t - 1] == 6);
				has5 |= ids3[t] == 5;
			}
			lab3[i] = has4 ? 2 : has5 ? 0 : 1;
		}
		memset(&o3, 0, sizeof(o3));
		o3.order = 2;
		o3.folds = 5;
		o3.seed = 5;
		o3.fits = RNN_NGRAM_FITS_NBSVM;
		memset(&r3, 0, sizeof(r3));
		r3.bias = b3;
		r3.oof_logits = oof3;
		TAP_CHECK(rnn_ngram_fit(&ng3, &d3, &o3, &r3) == RNN_OK && r3.fit == RNN_NGRAM_FIT_NBSVM,
				  "three classes: NBSVM fitted");
		for (int i = 0; ng3 && i < N; i++)
		{
			float		z[3] = {b3[0], b3[1], b3[2]};
			int			best = 0;

			rnn_ngram_accumulate(ng3, ids3 + off[i], off[i + 1] - off[i], -1, z);
			for (int c = 1; c < 3; c++)
				if (z[c] > z[best])
					best = c;
			right += best == lab3[i];
		}
		{
			double		worst = 0;

			for (size_t r = 0; ng3 && r < V + ng3->n_bigrams; r++)
				worst = fmax(worst, fabs((double) ng3->weights[r * 3] + ng3->weights[r * 3 + 1] +
										 ng3->weights[r * 3 + 2]));
			TAP_CHECK(worst < 1e-5, "three classes: weights centred (%.2g)", worst);
		}
		TAP_CHECK(right > 0.95 * N, "three classes: %d of %d right", right, N);
		rnn_ngram_free(ng3);
		free(oof3);
	}

	/* --- unigrams only */
	rnn_ngram_free(ng);
	ng = fit(1, &res, bias, oof);
	TAP_CHECK(ng != NULL && ng->n_bigrams == 0 && res.oof_accuracy > 0.7,
			  "order 1: no bigrams, out-of-fold accuracy %.3f", res.oof_accuracy);
	{
		RnnNgramData d = {ids, off, label, 3, V, 2};
		RnnNgramFitOptions o = {2, 5, 1, 0, NULL, NULL};
		RnnNgram   *none = NULL;

		TAP_CHECK(rnn_ngram_fit(&none, &d, &o, &res) == RNN_ERR_CONFIG && none == NULL,
				  "fewer texts than folds: RNN_ERR_CONFIG");
	}
	rnn_ngram_free(ng);
	rnn_free(blob);
	free(oof);
	return tap_done();
}
