/*
 * ngram.h -- the n-gram linear path of a text classifier: a bag of unigrams
 * and bigrams of token ids whose per-class weights are summed and added to
 * the recurrent network's logits.
 *
 *   logits(text) = network(ids) + sum over t of  W[ids[t]] + W[bigram(ids[t-1], ids[t])]
 *
 * The weights come from multinomial naive Bayes (log class-conditional
 * probabilities, with a scale per order) or from NBSVM (Wang & Manning
 * 2012), whichever has the lower out-of-fold log loss on the training
 * texts, with a scale and class biases fitted by logistic regression on
 * out-of-fold scores.  The network then learns what the bag of n-grams
 * misses.  Scoring sums the weights over counts, not NBSVM's binarized
 * counts (NBSVM is fitted on binarized features and scored on counts): a
 * sum over tokens keeps a running score over a stream of messages exact
 * with O(1) state (the running sum and the last token; see stream.c), and
 * on MR's validation parts scoring the binarized fit on counts lost
 * nothing (79.35 against 79.11).
 *
 * Feature rows: unigram id v is row v (0 <= v < vocab_size); the bigram
 * (a, b) is row vocab_size + k when key (a << 32 | b) is keys[k] (sorted),
 * and has no row (weight 0) when it was not seen in training.
 *
 * Plain C11, no PostgreSQL headers; memory from rnn_alloc().
 */
#ifndef RNN_NGRAM_H
#define RNN_NGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "rnn.h"

#define RNN_NGRAM_MAX_ORDER 2

typedef struct RnnNgram
{
	int			order;			/* 1: unigrams, 2: unigrams and bigrams */
	int			n_classes;		/* C */
	int			vocab_size;		/* V: unigram rows */
	size_t		n_bigrams;
	uint64_t   *keys;			/* (n_bigrams) ascending, a << 32 | b */
	float	   *weights;		/* (V + n_bigrams, C) */
	int32_t    *slots;			/* (n_slots) index into keys, -1 empty */
	size_t		n_slots;		/* power of two >= 2 * n_bigrams */
} RnnNgram;

void		rnn_ngram_free(RnnNgram *ng);

/*
 * logits (C) += the weights of the n-grams of ids[0..n): every unigram and,
 * for order 2, every bigram (ids[t-1], ids[t]), the first one being
 * (prev, ids[0]) when prev >= 0 (a stream's last token so far).  Adds in
 * token order, so feeding a text in pieces gives the same float sums as
 * feeding it whole.  Ids outside 0..V-1 count as <unk>.
 */
void		rnn_ngram_accumulate(const RnnNgram *ng, const int32_t *ids, size_t n,
								 int32_t prev, float *logits);

/*
 * Blob, little-endian, appended to a classifier's engine blob (rnn.models.weights):
 *
 *   magic "RNNG" | u32 version (1) | u32 order | u32 n_classes |
 *   u32 vocab_size | u32 reserved (0) | u64 n_bigrams |
 *   u64 keys[n_bigrams] | f32 weights[(V + n_bigrams) * C] | u32 CRC-32
 */
#define RNN_NGRAM_MAGIC "RNNG"
#define RNN_NGRAM_FORMAT_VERSION 1
#define RNN_NGRAM_HEADER_BYTES 32

RnnStatus	rnn_ngram_encode(const RnnNgram *ng, uint8_t **out, size_t *out_len);
RnnStatus	rnn_ngram_decode(const uint8_t *blob, size_t len, RnnNgram **out);

/* ---------------------------------------------------------------------------
 * Fitting
 */
typedef struct RnnNgramData
{
	const int32_t *ids;			/* token ids, texts back to back */
	const size_t *off;			/* (n + 1) text i is ids[off[i] .. off[i+1]) */
	const int  *label;			/* (n) 0 .. C-1 */
	int			n;				/* training texts */
	int			vocab_size;
	int			n_classes;
} RnnNgramData;

#define RNN_NGRAM_FITS_NAIVE_BAYES 1
#define RNN_NGRAM_FITS_NBSVM 2

typedef struct RnnNgramFitOptions
{
	int			order;			/* 1 or 2 */
	int			folds;			/* out-of-fold scores: 2 .. 20 */
	uint64_t	seed;			/* fold assignment */
	int			fits;			/* RNN_NGRAM_FITS_* that compete; 0: all */
	void	   *cb_ctx;
	void		(*on_progress) (void *cb_ctx);	/* every few thousand texts */
} RnnNgramFitOptions;

typedef enum RnnNgramFitKind
{
	RNN_NGRAM_FIT_NAIVE_BAYES = 0,
	RNN_NGRAM_FIT_NBSVM = 1
} RnnNgramFitKind;

typedef struct RnnNgramFitResult
{
	RnnNgramFitKind fit;		/* the candidate chosen */
	double		alpha;			/* additive smoothing (NBSVM: 1) */
	double		scale[RNN_NGRAM_MAX_ORDER];	/* per order (NBSVM: one for both) */
	double		svm_c;			/* NBSVM: the SVM's penalty C */
	double		oof_log_loss;	/* out-of-fold, with scale and bias, of the choice */
	double		nb_oof_log_loss;	/* out-of-fold, naive Bayes at its best alpha */
	double		oof_accuracy;
	/* caller-provided */
	float	   *bias;			/* (C) class biases to add to the logits */
	float	   *oof_logits;		/* (n, C) out-of-fold n-gram sums (no bias) */
} RnnNgramFitResult;

/* Bytes rnn_ngram_fit allocates at most for this data (SIZE_MAX: overflow). */
size_t		rnn_ngram_fit_memory(const RnnNgramData *d, const RnnNgramFitOptions *opt);

/*
 * Fits the n-gram model on all n texts; res->oof_logits[i] gets text i's
 * n-gram sum under a model fitted without its fold (what the network must
 * learn to complement, since the full model has memorised its own training
 * texts), res->bias the class biases.  Two kinds of fit compete, each with
 * its scale and class biases fitted on out-of-fold scores: naive Bayes
 * (smoothing alpha among a few values) and NBSVM (Wang & Manning 2012:
 * an L2 squared-hinge SVM on binarized n-grams scaled by their naive Bayes
 * log-count ratios, interpolated towards naive Bayes; penalty C among two
 * values; one-vs-rest beyond two classes).  The lowest out-of-fold log
 * loss wins: training texts only.  Either gives one weight per feature row
 * and class, so scoring, streaming and the blob do not depend on the fit.
 */
RnnStatus	rnn_ngram_fit(RnnNgram **out, const RnnNgramData *d, const RnnNgramFitOptions *opt,
						  RnnNgramFitResult *res);

/* Size of the engine blob at the start of a weights blob of len bytes
 * (len itself when the header cannot say: the decoder then reports why). */
size_t		rnn_model_blob_size(const uint8_t *blob, size_t len);

#endif							/* RNN_NGRAM_H */
