/*
 * classify.h -- text classification (sentiment) on the engine.
 *
 * classify_train.c  rnn.train_classifier: reads (text, label) rows through
 *                   SPI, splits, builds the vocabulary, fits, stores (the
 *                   text pipeline it shares with the other text models
 *                   is text_data.c);
 * classify.c        rnn.sentiment, rnn.classify, rnn.class_probs, and the
 *                   scoring state shared with stream.c (below);
 * stream.c          rnn.sentiment_running (window aggregate),
 *                   rnn.stream_step / rnn.stream_score, rnn.sentiment_trigger;
 * classify_ngram.c  the n-gram linear path (src/core/ngram.h): its fit and
 *                   the weights blob that carries it;
 * classify_embeddings.c  pretrained word vectors from a relation.
 * classify_pretrain.c  language-model pretraining on unlabelled text.
 *
 * Texts reach the tokenizer as UTF-8: in a database of another encoding
 * they are converted first (and vocabulary entries converted back for
 * rnn.models.vocabulary), so a model scores the same text the same way
 * whatever the server encoding.
 *
 * A text with no tokens (empty, only whitespace) carries no evidence: its
 * class probabilities are the training set's class frequencies (the prior,
 * kept in rnn.models.normalization as {"class_prior": [...]}), not the
 * network's output on a made-up sequence.  Unknown words are <unk> tokens
 * and go through the network like any other token.
 */
#ifndef RNN_CLASSIFY_H
#define RNN_CLASSIFY_H

#include "ngram.h"
#include "rnn_ext.h"
#include "tokenizer.h"

/* Longest class list a classifier may have. */
#define RNN_MAX_CLASSES 1000

/*
 * Everything a classifier needs to score a text, built once per cached
 * model (in RnnCachedModel.aux, allocated in the entry's context).
 */
typedef struct RnnClassifier
{
	uint32		magic;			/* RNN_CLASSIFIER_MAGIC */
	const RnnModel *model;
	const RnnNgram *ngram;		/* n-gram path, or NULL */
	RnnVocab   *vocab;
	RnnTokMode	mode;
	int			max_tokens;		/* cut rule of tokenizer.h (head + tail) */
	int			n_classes;
	char	  **labels;			/* (n_classes), server encoding */
	double	   *prior;			/* (n_classes) training class frequencies */
	bool		streamable;		/* unidirectional, pooling "last" */
	int32		space_id;		/* char mode: id of " " (stream separator) */
	RnnInfer   *inf;			/* batch 1, max_tokens steps, prepared */
	bool		folded;			/* first layer folded per token */
	bool		head_only;		/* head weights all zero (the network's share
								 * of the logits was 0): the logits are the
								 * head bias plus the n-gram path, whatever
								 * the network computes, so scoring skips it */
	int32	   *ids;			/* (max_tokens) */
	float	   *logits;			/* (n_classes) */
	float	   *ngram_sum;		/* (n_classes) */
} RnnClassifier;

#define RNN_CLASSIFIER_MAGIC 0x434c5346	/* "CLSF" */

/* Folded first-layer tables a backend's cached classifiers hold, in all. */
#define RNN_FOLD_MAX_BYTES ((size_t) 256 * 1024 * 1024)

/*
 * The classifier 'name' (latest version) for this call site; raises
 * UNDEFINED_OBJECT for an unknown model and WRONG_OBJECT_TYPE for a
 * forecaster.  *entry_out (may be NULL) gets the cache entry.
 */
RnnClassifier *rnn_classifier_get(FunctionCallInfo fcinfo, const char *name,
								  RnnCachedModel **entry_out);

/*
 * Build (and drop) the scoring state of entry as rnn_classifier_get would:
 * raises what scoring would raise on its metadata (rnn.import_model).
 */
void		rnn_classifier_check(RnnCachedModel *entry);

/*
 * Class probabilities of one text (server encoding, len bytes) into probs
 * (n_classes).  Returns the number of tokens scored (0: the prior).
 */
int			rnn_classifier_probs(RnnClassifier *clf, const char *name,
								 const char *text, int len, double *probs);

/* Probabilities from logits, in double, max-subtracted. */
void		rnn_softmax(const float *logits, int n, double *probs);

/* Raise the two-class requirement of rnn.sentiment-like functions. */
void		rnn_classifier_require_binary(const RnnClassifier *clf, const char *name,
										  const char *func);

/*
 * Server-encoded text -> UTF-8 (the input itself when the database is
 * UTF-8 or SQL_ASCII; then *out_len = len).  Raises on unconvertible text.
 */
const char *rnn_text_to_utf8(const char *text, int len, int *out_len);

/* Raise the error for a tokenizer status (no-op for RNN_TOK_OK). */
void		rnn_raise_tok_status(RnnTokStatus st, size_t err_offset, const char *what);

/*
 * classify_ngram.c.  Weights = engine blob [+ n-gram blob]: encoded here
 * (ng may be NULL), decoded by rnn_decode_weights_or_raise (rnn_ext.h).
 */
bytea	   *rnn_classifier_weights(const RnnModel *model, const RnnNgram *ng);

/* rnn_ngram_fit with the memory limit, interrupts and errors of the server. */
RnnNgram   *rnn_fit_ngram_or_raise(const RnnNgramData *data, int order, uint64 seed,
								   RnnNgramFitResult *res, const char *model_name);

/*
 * classify_embeddings.c: pretrained word vectors from a relation (word,
 * vector), for the vocabulary's tokens.
 */
typedef struct RnnWordVectors
{
	const char *relname;		/* quoted, for messages */
	int			dim;			/* their dimension: the embedding_dim */
	int			found;			/* vocabulary tokens with a vector */
	float	   *rows;			/* (V, dim): row id valid when have[id] */
	bool	   *have;			/* (V) */
} RnnWordVectors;

/* Reads and checks every row of relid (errors name the word). */
void		rnn_read_word_vectors(Oid relid, const RnnVocab *vocab, RnnWordVectors *wv);

/* The found tokens' embedding rows := their vectors. */
void		rnn_word_vectors_apply(const RnnWordVectors *wv, RnnModel *model);

/*
 * classify_pretrain.c: pretrain the embedding and recurrent layers of clf
 * as language models (forward: the next token; a bidirectional model's
 * backward direction: the previous one) on the texts of labelled[0 ..
 * n_train) and all of unlabelled (may be NULL), with labelled[n_train ..
 * n_train + n_valid) as the held-out stream.  The head is left as it is.
 */
typedef struct RnnPretrainOptions
{
	const char *model_name;
	int			epochs;			/* -1: auto (early stopping on held-out loss) */
	double		learning_rate;
	double		clip_norm;
	bool		freeze_embeddings;
	uint64		seed;
} RnnPretrainOptions;

typedef struct RnnPretrainResult
{
	int			epochs_run;
	int			best_epoch;		/* the epoch whose weights were kept */
	double		valid_loss;		/* its held-out nats/token (mean of directions), or NaN */
	double		seconds;
	Size		tokens;			/* in the training stream */
} RnnPretrainResult;

struct RnnSeqs;
void		rnn_classifier_pretrain(RnnModel *clf, const struct RnnSeqs *labelled, int n_train,
									int n_valid, const struct RnnSeqs *unlabelled,
									const RnnPretrainOptions *po, RnnPretrainResult *res);

#endif							/* RNN_CLASSIFY_H */
