/*
 * text_model.h -- language models and taggers: the per-step text models,
 * on the shared text pipeline (text_data.h) and the engine's per-step head
 * (RNN_HEAD_STEPS).
 *
 * lm_train.c   rnn.train_language_model: texts -> one token stream,
 *              truncated BPTT (rnn_fit_stream), stored as kind
 *              'language_model';
 * lm.c         rnn.generate, rnn.log_likelihood, rnn.perplexity;
 * tag_train.c  rnn.train_tagger: (text[] tokens, text[] tags) rows, stored as
 *              kind 'tagger';
 * tag.c        rnn.tag.
 *
 * A language model's stream: every text is preceded by id 0 (<pad>, here
 * "boundary"), and the stream ends with one, so the model reads id 0 as
 * "a text starts" and predicts it as "the text ends".  log_likelihood of a
 * text of n tokens is the sum of log p over its n tokens and its end (n + 1
 * predictions, the first from the boundary alone); generation stops when
 * the boundary is drawn.  <unk> (id 1) is never generated.
 */
#ifndef RNN_TEXT_MODEL_H
#define RNN_TEXT_MODEL_H

#include "rnn_ext.h"
#include "tokenizer.h"

#define RNN_KIND_LANGUAGE_MODEL "language_model"
#define RNN_KIND_TAGGER "tagger"

/* The boundary token of a language model's stream: <pad>. */
#define RNN_LM_BOUNDARY RNN_VOCAB_PAD

/* Most tokens rnn.generate produces in one call. */
#define RNN_GENERATE_MAX_TOKENS 100000

/* Most tokens rnn.tag takes in one call. */
#define RNN_TAG_MAX_TOKENS 100000

/* Steps a cached language model feeds at once (prompt, scored text). */
#define RNN_LM_CHUNK 128

/* Tokenizer mode of a language model's tokens argument ('char' keeps every
 * code point as it is, so generated text has case and line breaks). */
static inline RnnTokMode
rnn_lm_tok_mode(const char *tokens, bool *ok)
{
	*ok = true;
	if (strcmp(tokens, "char") == 0)
		return RNN_TOK_CHAR_EXACT;
	if (strcmp(tokens, "word") == 0)
		return RNN_TOK_WORD;
	*ok = false;
	return RNN_TOK_WORD;
}

/*
 * Build the scoring state of a language model or tagger entry as scoring
 * would (in a context under entry->cxt): raises what scoring would raise on
 * its metadata (rnn.import_model).
 */
void		rnn_lm_check(RnnCachedModel *entry);
void		rnn_tagger_check(RnnCachedModel *entry);

#endif							/* RNN_TEXT_MODEL_H */
