/*
 * fuzz_tokenizer.c -- libFuzzer target for the tokenizer and vocabulary.
 *
 * The first input byte picks max_tokens (1..64), the rest is the text.  For
 * both modes: tokenize everything and with the cut, check the spans (in
 * bounds, back to back, non-empty, valid UTF-8, head + tail of the full
 * list), build a vocabulary from the text, encode the text and check every
 * id against a lookup of the tokenizer's own spans, and round-trip the
 * vocabulary through its string array.
 */
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "tokenizer.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void
fuzz_mode(const char *text, size_t len, RnnTokMode mode, size_t max_tokens)
{
	char	   *norm_all = malloc(len + 1),
			   *norm_cut = malloc(len + 1);
	RnnTokSpan *all = malloc((len + 1) * sizeof(RnnTokSpan)),
			   *cut = malloc(max_tokens * sizeof(RnnTokSpan));
	int32_t    *ids = malloc(max_tokens * sizeof(int32_t));
	size_t		n_all = 0,
				total = 0,
				n_cut = 0,
				total2 = 0,
				err = 0,
				err2 = 0,
				sum = 0;
	RnnTokStatus st,
				st2;
	RnnVocabBuilder *b = NULL;
	RnnVocab   *v = NULL,
			   *v2 = NULL;

	CHECK(norm_all && norm_cut && all && cut && ids);
	st = rnn_tokenize(text, len, mode, norm_all, all, len + 1, &n_all, &total, &err);
	st2 = rnn_utf8_validate(text, len, &err2);
	CHECK(st == st2);
	if (st != RNN_TOK_OK)
	{
		CHECK(st == RNN_TOK_INVALID_UTF8 && err == err2 && err < len && n_all == 0);
		goto done;
	}
	CHECK(n_all == total && total <= len);
	for (size_t i = 0; i < n_all; i++)
	{
		CHECK(all[i].len > 0 && all[i].off == sum);
		sum += all[i].len;
	}
	CHECK(sum <= len);
	CHECK(rnn_utf8_validate(norm_all, sum, NULL) == RNN_TOK_OK);

	/* the cut keeps the first max/4 and the last max - max/4 tokens */
	CHECK(rnn_tokenize(text, len, mode, norm_cut, cut, max_tokens, &n_cut,
					   &total2, NULL) == RNN_TOK_OK);
	CHECK(total2 == total && n_cut == (total < max_tokens ? total : max_tokens));
	for (size_t i = 0; i < n_cut; i++)
	{
		size_t		j = (total <= max_tokens || i < max_tokens / 4) ? i
			: total - (max_tokens - i);

		CHECK(cut[i].len == all[j].len &&
			  memcmp(norm_cut + cut[i].off, norm_all + all[j].off, cut[i].len) == 0);
	}

	/* vocabulary from this text; encoding agrees with the spans */
	CHECK(rnn_vocab_builder_create(&b, mode) == RNN_TOK_OK);
	CHECK(rnn_vocab_builder_add(b, text, len, NULL) == RNN_TOK_OK);
	CHECK(rnn_vocab_builder_finish(b, 1, 2 + (int) (len % 50), &v) == RNN_TOK_OK);
	CHECK(rnn_vocab_encode(v, text, len, ids, max_tokens, &n_cut, &total2,
						   NULL, NULL) == RNN_TOK_OK);
	CHECK(total2 == total);
	for (size_t i = 0; i < n_cut; i++)
	{
		int32_t		want = cut[i].len > RNN_TOKEN_MAX_BYTES ? RNN_VOCAB_UNK
			: rnn_vocab_lookup(v, norm_cut + cut[i].off, cut[i].len);

		CHECK(ids[i] == want && ids[i] >= 1 && ids[i] < rnn_vocab_size(v));
	}

	/* string-array round trip */
	{
		int			n = rnn_vocab_size(v);
		const char **strs = malloc((size_t) n * sizeof(char *));
		size_t	   *lens = malloc((size_t) n * sizeof(size_t));

		CHECK(strs && lens);
		for (int i = 0; i < n; i++)
			CHECK((strs[i] = rnn_vocab_token(v, i, &lens[i])) != NULL);
		CHECK(rnn_vocab_from_strings(&v2, mode, strs, lens, n, NULL) == RNN_TOK_OK);
		for (int i = 0; i < n; i++)
			CHECK(rnn_vocab_lookup(v2, strs[i], lens[i]) == i);
		free(strs);
		free(lens);
	}

done:
	rnn_vocab_free(v);
	rnn_vocab_free(v2);
	rnn_vocab_builder_free(b);
	free(norm_all);
	free(norm_cut);
	free(all);
	free(cut);
	free(ids);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text;
	size_t		max_tokens;

	if (size < 1)
		return 0;
	max_tokens = 1 + data[0] % 64;
	/* exact-size copy: ASan catches any read past the end */
	text = malloc(size - 1 ? size - 1 : 1);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	fuzz_mode(text, size - 1, RNN_TOK_WORD, max_tokens);
	fuzz_mode(text, size - 1, RNN_TOK_CHAR, max_tokens);

	/* arbitrary bytes as a stored vocabulary: split at NUL */
	{
		const char *strs[64];
		size_t		lens[64];
		int			n = 0;
		size_t		start = 0;
		RnnVocab   *v = NULL;

		for (size_t i = 0; i <= size - 1 && n < 64; i++)
			if (i == size - 1 || text[i] == '\0')
			{
				strs[n] = text + start;
				lens[n++] = i - start;
				start = i + 1;
			}
		if (rnn_vocab_from_strings(&v, RNN_TOK_WORD, strs, lens, n, NULL) == RNN_TOK_OK)
		{
			CHECK(rnn_vocab_size(v) == n);
			for (int i = 0; i < n; i++)
				CHECK(rnn_vocab_lookup(v, strs[i], lens[i]) == i);
		}
		rnn_vocab_free(v);
	}
	free(text);
	return 0;
}
