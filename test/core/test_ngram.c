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
fit(int order, RnnNgramFitResult *res, float *bias, float *oof)
{
	RnnNgramData d = {ids, off, label, N, V, 2};
	RnnNgramFitOptions o;
	RnnNgram   *ng = NULL;

	memset(&o, 0, sizeof(o));
	o.order = order;
	o.folds = 5;
	o.seed = 3;
	memset(res, 0, sizeof(*res));
	res->bias = bias;
	res->oof_logits = oof;
	TAP_CHECK(rnn_ngram_fit(&ng, &d, &o, res) == RNN_OK, "fit order %d", order);
	return ng;
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

	/* --- unigrams only */
	rnn_ngram_free(ng);
	ng = fit(1, &res, bias, oof);
	TAP_CHECK(ng != NULL && ng->n_bigrams == 0 && res.oof_accuracy > 0.7,
			  "order 1: no bigrams, out-of-fold accuracy %.3f", res.oof_accuracy);
	{
		RnnNgramData d = {ids, off, label, 3, V, 2};
		RnnNgramFitOptions o = {2, 5, 1, NULL, NULL};
		RnnNgram   *none = NULL;

		TAP_CHECK(rnn_ngram_fit(&none, &d, &o, &res) == RNN_ERR_CONFIG && none == NULL,
				  "fewer texts than folds: RNN_ERR_CONFIG");
	}
	rnn_ngram_free(ng);
	rnn_free(blob);
	free(oof);
	return tap_done();
}
