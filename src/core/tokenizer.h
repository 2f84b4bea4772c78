/*
 * tokenizer.h -- the text front-end of sentiment models: a strict UTF-8
 * tokenizer (word or character level) and a vocabulary that maps tokens to
 * the int32 ids fed to the embedding.
 *
 * Plain C11, no PostgreSQL headers.  Memory comes from rnn_alloc()/rnn_free();
 * nothing is allocated per token.
 *
 * Normalization (both modes), applied to each code point:
 *   - lower-casing by a fixed, locale-independent table: ASCII A-Z; Latin-1
 *     U+00C0..U+00DE (not U+00D7); Latin Extended-A U+0100..U+017E (U+0130
 *     becomes "i", U+0178 becomes U+00FF); Greek U+0386..U+03AB; Cyrillic
 *     U+0400..U+042F.  Everything else (ß, ligatures, other scripts) is kept
 *     as is: this is not Unicode case folding, and it never depends on the
 *     server's locale, so a model scores the same text the same way on any
 *     machine;
 *   - U+2018 and U+2019 (typographic single quotes) become ASCII "'", so
 *     "don’t" and "don't" are one token;
 *   - whitespace (ASCII, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028,
 *     U+2029, U+202F, U+205F, U+3000) and control characters (C0, DEL, C1)
 *     separate tokens and are never part of one;
 *   - invisible format characters (soft hyphen U+00AD, U+200B..U+200F,
 *     U+202A..U+202E, U+2060..U+206F, variation selectors U+FE00..U+FE0F,
 *     U+FEFF, tags U+E0000..U+E007F) are dropped as if absent: they neither
 *     separate tokens nor appear in one.
 *   Normalization never makes a token longer than its source bytes.
 *
 * Word mode (RNN_TOK_WORD):
 *   - a word is a run of letters and digits (any code point that is not
 *     whitespace, control, punctuation or symbol counts as a letter, so
 *     accented and non-Latin words stay whole; combining marks join the
 *     word they follow);
 *   - an apostrophe or hyphen between two letters/digits stays inside the
 *     word: "doesn't", "it's", "low-key", "k-19" are one token each, as in
 *     the MR (rt-polarity) corpus.  Quotes and dashes around words are split
 *     off, where MR sometimes leaves them attached: MR's "'who" and "kids'"
 *     become "'" "who" and "kids" "'", its "--" becomes "-" "-", its
 *     "writer/director" and "[a]" become three tokens each;
 *   - "." or "," between two ASCII digits stays inside: "3.5", "1,000";
 *   - every other punctuation or symbol code point (ASCII punctuation,
 *     U+00A1..U+00BF, U+00D7, U+00F7, U+2010..U+2BFF, U+2E00..U+2FFF,
 *     U+3001..U+303F, U+FE30..U+FE4F, U+FF01..U+FF0F etc., emoji
 *     U+1F000..U+1FAFF) is a token of its own, one per code point: "!!!" is three "!" tokens, so repeated
 *     punctuation never creates new vocabulary entries;
 *   - CJK ideographs, kana and other unspaced scripts (U+3040..U+30FF,
 *     U+3400..U+4DBF, U+4E00..U+9FFF, U+F900..U+FAFF, U+20000..U+3FFFF) are a
 *     token per code point, as in BERT's basic tokenizer.
 *
 * Char mode (RNN_TOK_CHAR): every code point is a token, after the same
 * normalization, except that each run of whitespace/control characters
 * becomes one " " token and leading/trailing whitespace is dropped.
 *
 * Exact char mode (RNN_TOK_CHAR_EXACT), for language models that must give
 * back the text they read: every code point is a token as it is -- case,
 * whitespace, newlines, control and format characters kept -- except NUL,
 * which is dropped.  No normalization at all.
 *
 * Cut to max_tokens: when a text has more tokens than max_tokens, the first
 * max_tokens / 4 tokens and the last max_tokens - max_tokens / 4 tokens are
 * kept (head + tail).  Reviews tend to state the verdict at the end, a
 * recurrent model reading its last step remembers the end best, and Sun et
 * al. (2019, "How to fine-tune BERT for text classification") found this
 * split better than head-only or tail-only on IMDb.  The total count is
 * reported, so the caller can tell that a text was cut.
 *
 * Invalid UTF-8 (stray continuation byte, overlong form, UTF-16 surrogate,
 * code point above U+10FFFF, sequence cut short by the end of the text, bytes
 * 0xC0, 0xC1, 0xF5..0xFF) is an error, never replaced: *err_offset gets the
 * byte offset of the first byte of the ill-formed sequence.  NUL bytes are
 * valid (U+0000 is a control character, hence a separator).
 */
#ifndef RNN_TOKENIZER_H
#define RNN_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* Longest text accepted by every function here (64 MB). */
#define RNN_TOKENIZER_MAX_BYTES ((size_t) 64 * 1024 * 1024)

/*
 * Longest token (normalized bytes) a vocabulary holds.  The tokenizer still
 * returns longer tokens, but vocabulary building skips them and encoding maps
 * them to <unk>: nothing that long is a word worth an embedding row.
 */
#define RNN_TOKEN_MAX_BYTES 128

/* Reserved ids and their strings, ids 0 and 1 of every vocabulary. */
#define RNN_VOCAB_PAD 0
#define RNN_VOCAB_UNK 1
#define RNN_VOCAB_PAD_STR "<pad>"
#define RNN_VOCAB_UNK_STR "<unk>"

typedef enum RnnTokStatus
{
	RNN_TOK_OK = 0,
	RNN_TOK_INVALID_UTF8,		/* *err_offset: first byte of the bad sequence */
	RNN_TOK_TOO_LONG,			/* text longer than RNN_TOKENIZER_MAX_BYTES */
	RNN_TOK_NOMEM,				/* an allocation failed */
	RNN_TOK_INVALID_ARG,		/* NULL pointer, min_count < 1, max_size < 2, ... */
	RNN_TOK_BAD_VOCAB			/* token array rejected; *err_offset: its index */
} RnnTokStatus;

typedef enum RnnTokMode
{
	RNN_TOK_WORD = 0,
	RNN_TOK_CHAR = 1,
	RNN_TOK_CHAR_EXACT = 2		/* every code point as it is (language models) */
} RnnTokMode;

const char *rnn_tok_status_message(RnnTokStatus status);

/* Parse "word"/"char"/"char_exact" (exact, lower case); -1 when unknown. */
int			rnn_tok_mode_from_name(const char *name);
const char *rnn_tok_mode_name(RnnTokMode mode);

/*
 * Checks that text is well-formed UTF-8.  Returns RNN_TOK_OK or
 * RNN_TOK_INVALID_UTF8 with *err_offset set (err_offset may be NULL).
 */
RnnTokStatus rnn_utf8_validate(const char *text, size_t len, size_t *err_offset);

/* ---------------------------------------------------------------------------
 * Tokenizer
 */

/* One token: bytes norm[off .. off + len) of the normalized buffer. */
typedef struct RnnTokSpan
{
	uint32_t	off;
	uint32_t	len;
} RnnTokSpan;

/*
 * Tokenizes text (len bytes, need not be NUL-terminated).
 *
 *   norm       (len) bytes, receives the normalized tokens back to back;
 *              may be NULL when max_tokens == 0 or len == 0
 *   spans      (max_tokens), receives the kept tokens in text order
 *   max_tokens capacity of spans; 0 only counts.  A text of len bytes has at
 *              most len tokens, so max_tokens = len keeps everything.
 *   n_tokens   number of spans written (<= max_tokens)
 *   n_total    number of tokens in the whole text (may be NULL)
 *   err_offset byte offset of invalid UTF-8 (may be NULL)
 *
 * The text is validated before any token is produced: on error nothing in
 * spans is meaningful and *n_tokens is 0.
 */
RnnTokStatus rnn_tokenize(const char *text, size_t len, RnnTokMode mode,
						  char *norm, RnnTokSpan *spans, size_t max_tokens,
						  size_t *n_tokens, size_t *n_total,
						  size_t *err_offset);

/* ---------------------------------------------------------------------------
 * Vocabulary
 */
typedef struct RnnVocab RnnVocab;	/* immutable once built */
typedef struct RnnVocabBuilder RnnVocabBuilder;

RnnTokStatus rnn_vocab_builder_create(RnnVocabBuilder **out, RnnTokMode mode);
void		rnn_vocab_builder_free(RnnVocabBuilder *b);

/*
 * Counts the tokens of one text (all of them: no max_tokens cut).  A text
 * with invalid UTF-8 is not counted at all.
 */
RnnTokStatus rnn_vocab_builder_add(RnnVocabBuilder *b, const char *text,
								   size_t len, size_t *err_offset);

/*
 * Counts one given token as a whole, not split (a tagger's tokens come
 * split already), normalized as rnn_token_normalize does.  An empty
 * normalization (only format characters) is counted in n_tokens only.
 */
RnnTokStatus rnn_vocab_builder_add_token(RnnVocabBuilder *b, const char *token,
										 size_t len, size_t *err_offset);

/*
 * The normalization of one whole token, code point by code point as in
 * word mode (lower-casing table, typographic quotes, format characters
 * dropped), with nothing split off or dropped as a separator: "U.S." is
 * "u.s.".  Writes *out_len bytes (<= len) to out (capacity cap);
 * RNN_TOK_TOO_LONG when they do not fit.  rnn_vocab_lookup then finds it.
 */
RnnTokStatus rnn_token_normalize(const char *token, size_t len, char *out, size_t cap,
								 size_t *out_len, size_t *err_offset);

/*
 * Distinct tokens counted so far, and all token occurrences (including those
 * too long for a vocabulary); either pointer may be NULL.
 */
void		rnn_vocab_builder_stats(const RnnVocabBuilder *b,
									size_t *n_distinct, uint64_t *n_tokens);

/*
 * Builds the vocabulary: "<pad>", "<unk>", then the tokens seen at least
 * min_count (>= 1) times, most frequent first, equal counts in byte order
 * (memcmp, a prefix before its extensions), at most max_size
 * (2 .. RNN_MAX_VOCAB) entries in all.  The builder stays usable.
 */
RnnTokStatus rnn_vocab_builder_finish(RnnVocabBuilder *b, int64_t min_count,
									  int max_size, RnnVocab **out);

/*
 * Rebuilds a vocabulary from its strings, index = id (the text[] column of
 * rnn.models).  tokens[0] must be "<pad>", tokens[1] "<unk>"; every token
 * must be non-empty, valid UTF-8 without NUL, at most RNN_TOKEN_MAX_BYTES
 * and unique.  lens may be NULL (then tokens are NUL-terminated).  On
 * RNN_TOK_BAD_VOCAB *err_index (may be NULL) gets the offending index.
 */
RnnTokStatus rnn_vocab_from_strings(RnnVocab **out, RnnTokMode mode,
									const char *const *tokens,
									const size_t *lens, int n,
									size_t *err_index);
void		rnn_vocab_free(RnnVocab *v);

int			rnn_vocab_size(const RnnVocab *v);
RnnTokMode	rnn_vocab_mode(const RnnVocab *v);

/* id -> NUL-terminated token (len may be NULL); NULL if id is out of range. */
const char *rnn_vocab_token(const RnnVocab *v, int32_t id, size_t *len);

/* normalized token bytes -> id; RNN_VOCAB_UNK when absent. */
int32_t		rnn_vocab_lookup(const RnnVocab *v, const char *token, size_t len);

/*
 * Tokenizes text in the vocabulary's mode and writes up to max_tokens (>= 1)
 * ids, cut head + tail as rnn_tokenize does.  *n_ids may be 0 (empty or
 * all-whitespace text).  n_total, n_unknown (unknown tokens among the kept
 * ones) and err_offset may be NULL.  Allocates nothing.
 */
RnnTokStatus rnn_vocab_encode(const RnnVocab *v, const char *text, size_t len,
							  int32_t *ids, size_t max_tokens, size_t *n_ids,
							  size_t *n_total, size_t *n_unknown,
							  size_t *err_offset);

#endif							/* RNN_TOKENIZER_H */
