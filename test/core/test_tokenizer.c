/*
 * test_tokenizer.c -- unit tests of src/core/tokenizer.c: word and char
 * tokens, normalization, strict UTF-8 with error offsets, the head + tail
 * cut, vocabulary building, lookup, encoding and the string-array round
 * trip.  Standalone TAP program; the MR corpus check runs when
 * /work/shared/data/mr (or $RNN_MR_DIR) is present.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "tokenizer.h"
#include "tap.h"

/* ---------------------------------------------------------------------------
 * Helpers
 */

/* Tokens of text joined by "|", or "ERR<code>@<offset>". */
static const char *
toks(RnnTokMode mode, const char *text, size_t len, size_t max_tokens)
{
	static char out[8192];
	char	   *norm = malloc(len + 1);
	RnnTokSpan *spans = malloc((max_tokens + 1) * sizeof(RnnTokSpan));
	size_t		n = 0,
				total = 0,
				err = 0,
				w = 0;
	RnnTokStatus st;

	st = rnn_tokenize(text, len, mode, norm, spans, max_tokens, &n, &total, &err);
	out[0] = '\0';
	if (st != RNN_TOK_OK)
		snprintf(out, sizeof(out), "ERR%d@%zu", (int) st, err);
	else
		for (size_t i = 0; i < n && w + spans[i].len + 2 < sizeof(out); i++)
		{
			if (i > 0)
				out[w++] = '|';
			memcpy(out + w, norm + spans[i].off, spans[i].len);
			w += spans[i].len;
			out[w] = '\0';
		}
	free(norm);
	free(spans);
	return out;
}

static int
toks_eq(RnnTokMode mode, const char *text, const char *expect)
{
	const char *got = toks(mode, text, strlen(text), strlen(text) + 1);

	if (strcmp(got, expect) != 0)
	{
		TAP_DIAG("text \"%s\": got \"%s\", want \"%s\"", text, got, expect);
		return 0;
	}
	return 1;
}

/* Error code and offset of text (explicit length, may hold NUL). */
static int
bad_utf8(const char *text, size_t len, size_t want_off)
{
	size_t		err = 9999,
				n = 0;
	RnnTokStatus st = rnn_tokenize(text, len, RNN_TOK_WORD, NULL, NULL, 0,
								   &n, NULL, &err);
	size_t		err2 = 8888;
	RnnTokStatus st2 = rnn_utf8_validate(text, len, &err2);

	if (st != RNN_TOK_INVALID_UTF8 || err != want_off ||
		st2 != RNN_TOK_INVALID_UTF8 || err2 != want_off)
	{
		TAP_DIAG("invalid UTF-8 case at %zu: status %d/%d offset %zu/%zu",
				 want_off, (int) st, (int) st2, err, err2);
		return 0;
	}
	return 1;
}

static int
good_utf8(const char *text, size_t len)
{
	return rnn_utf8_validate(text, len, NULL) == RNN_TOK_OK;
}

/*
 * Reference validator, written independently: decode by the generic bit
 * pattern, then reject overlong forms, surrogates and > U+10FFFF by value.
 */
static int
ref_valid(const uint8_t *s, size_t len, size_t *off)
{
	size_t		i = 0;

	while (i < len)
	{
		uint8_t		c = s[i];
		size_t		n;
		uint32_t	cp,
					min;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
			n = 2, cp = c & 0x1F, min = 0x80;
		else if ((c & 0xF0) == 0xE0)
			n = 3, cp = c & 0x0F, min = 0x800;
		else if ((c & 0xF8) == 0xF0)
			n = 4, cp = c & 0x07, min = 0x10000;
		else
			goto bad;
		if (i + n > len)
			goto bad;
		for (size_t k = 1; k < n; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			goto bad;
		i += n;
		continue;
bad:
		*off = i;
		return 0;
	}
	return 1;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t
rnd(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t) (rng_state >> 33);
}

/* ---------------------------------------------------------------------------
 * Tests
 */
static void
test_word_mode(void)
{
	int			ok = 1;

	ok &= toks_eq(RNN_TOK_WORD, "Hello, World!", "hello|,|world|!");
	ok &= toks_eq(RNN_TOK_WORD, "  spaced\t\tout \n words  ", "spaced|out|words");
	ok &= toks_eq(RNN_TOK_WORD, "", "");
	ok &= toks_eq(RNN_TOK_WORD, " \t\r\n ", "");
	TAP_CHECK(ok, "word mode: words, punctuation, whitespace");

	ok = 1;
	ok &= toks_eq(RNN_TOK_WORD, "doesn't it's don\xE2\x80\x99t rock'n'roll",
				  "doesn't|it's|don't|rock'n'roll");
	ok &= toks_eq(RNN_TOK_WORD, "'90s students' 'quoted'",
				  "'|90s|students|'|'|quoted|'");
	ok &= toks_eq(RNN_TOK_WORD, "low-key k-19 -- co-writer/director well--done",
				  "low-key|k-19|-|-|co-writer|/|director|well|-|-|done");
	ok &= toks_eq(RNN_TOK_WORD, "3.5 1,000 a.b a,b end. 7.",
				  "3.5|1,000|a|.|b|a|,|b|end|.|7|.");
	ok &= toks_eq(RNN_TOK_WORD, "it's-a x'-y", "it's-a|x|'|-|y");
	TAP_CHECK(ok, "word mode: internal apostrophes, hyphens, decimals");

	ok = 1;
	ok &= toks_eq(RNN_TOK_WORD, "!!! ... ?!", "!|!|!|.|.|.|?|!");
	ok &= toks_eq(RNN_TOK_WORD, "[a] (b) {c} <pad> <unk>",
				  "[|a|]|(|b|)|{|c|}|<|pad|>|<|unk|>");
	ok &= toks_eq(RNN_TOK_WORD, "\xC2\xBFqu\xC3\xA9? 5\xC3\x97" "3 \xE2\x80\x94 \xE2\x82\xAC" "5",
				  "\xC2\xBF|qu\xC3\xA9|?|5|\xC3\x97|3|\xE2\x80\x94|\xE2\x82\xAC|5");
	TAP_CHECK(ok, "word mode: each punctuation/symbol code point is a token");

	ok = 1;
	/* ÉCOLE Ñandú ŁÓDŹ ΑΘΗΝΑ МОСКВА Straße ЁЖ Ά İSTANBUL Ÿ */
	ok &= toks_eq(RNN_TOK_WORD,
				  "\xC3\x89" "COLE \xC3\x91" "and\xC3\xBA \xC5\x81\xC3\x93" "D\xC5\xB9",
				  "\xC3\xA9" "cole|\xC3\xB1" "and\xC3\xBA|\xC5\x82\xC3\xB3" "d\xC5\xBA");
	ok &= toks_eq(RNN_TOK_WORD,
				  "\xCE\x91\xCE\x98\xCE\x97\xCE\x9D\xCE\x91 \xD0\x9C\xD0\x9E\xD0\xA1\xD0\x9A\xD0\x92\xD0\x90",
				  "\xCE\xB1\xCE\xB8\xCE\xB7\xCE\xBD\xCE\xB1|\xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0");
	ok &= toks_eq(RNN_TOK_WORD, "Stra\xC3\x9F" "e \xD0\x81\xD0\x96 \xCE\x86",
				  "stra\xC3\x9F" "e|\xD1\x91\xD0\xB6|\xCE\xAC");
	ok &= toks_eq(RNN_TOK_WORD, "\xC4\xB0STANBUL \xC5\xB8", "istanbul|\xC3\xBF");
	TAP_CHECK(ok, "lower-casing: ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic");

	ok = 1;
	ok &= toks_eq(RNN_TOK_WORD, "\xE6\x88\x91\xE7\x88\xB1\xE4\xBD\xA0",
				  "\xE6\x88\x91|\xE7\x88\xB1|\xE4\xBD\xA0");
	ok &= toks_eq(RNN_TOK_WORD, "good\xF0\x9F\x98\x80!", "good|\xF0\x9F\x98\x80|!");
	ok &= toks_eq(RNN_TOK_WORD, "\xE3\x80\x8C" "abc\xE3\x80\x8D",
				  "\xE3\x80\x8C|abc|\xE3\x80\x8D");
	TAP_CHECK(ok, "word mode: CJK and emoji are one token per code point");

	ok = 1;
	ok &= toks_eq(RNN_TOK_WORD, "hy\xC2\xADphen a\xE2\x80\x8B" "b \xEF\xBB\xBFx",
				  "hyphen|ab|x");
	ok &= toks_eq(RNN_TOK_WORD, "a\xC2\xA0" "b\xE3\x80\x80" "c\xE2\x80\xA8" "d",
				  "a|b|c|d");
	ok &= toks_eq(RNN_TOK_WORD, "a\tb\nc\x01" "d\x7F" "e\xC2\x85" "f", "a|b|c|d|e|f");
	ok &= (strcmp(toks(RNN_TOK_WORD, "a\0b", 3, 4), "a|b") == 0);
	TAP_CHECK(ok, "format characters dropped, Unicode spaces/controls/NUL separate");
}

static void
test_char_mode(void)
{
	int			ok = 1;

	ok &= toks_eq(RNN_TOK_CHAR, "Hi  there!", "h|i| |t|h|e|r|e|!");
	ok &= toks_eq(RNN_TOK_CHAR, "  \xC3\x89 a \n", "\xC3\xA9| |a");
	ok &= toks_eq(RNN_TOK_CHAR, "a\xE2\x80\x8B" "b", "a|b");
	ok &= toks_eq(RNN_TOK_CHAR, "a \xE2\x80\x8B b", "a| |b");
	ok &= toks_eq(RNN_TOK_CHAR, "\xF0\x9F\x98\x80x\xE2\x80\x99", "\xF0\x9F\x98\x80|x|'");
	ok &= toks_eq(RNN_TOK_CHAR, "don't", "d|o|n|'|t");
	ok &= toks_eq(RNN_TOK_CHAR, "   ", "");
	TAP_CHECK(ok, "char mode: code points, one space per whitespace run, trimmed");
}

static void
test_char_exact_mode(void)
{
	int			ok = 1;

	ok &= toks_eq(RNN_TOK_CHAR_EXACT, "Hi  x!\n", "H|i| | |x|!|\n");
	ok &= toks_eq(RNN_TOK_CHAR_EXACT, " \xC3\x89\xE2\x80\x99", " |\xC3\x89|\xE2\x80\x99");
	ok &= toks_eq(RNN_TOK_CHAR_EXACT, "a\xE2\x80\x8B" "b", "a|\xE2\x80\x8B|b");
	ok &= (strcmp(toks(RNN_TOK_CHAR_EXACT, "a\0b", 3, 4), "a|b") == 0);
	ok &= rnn_tok_mode_from_name("char_exact") == RNN_TOK_CHAR_EXACT &&
		strcmp(rnn_tok_mode_name(RNN_TOK_CHAR_EXACT), "char_exact") == 0;
	TAP_CHECK(ok, "char_exact mode: every code point as it is (case, whitespace, format), NUL dropped");
}

static void
test_invalid_utf8(void)
{
	int			ok = 1;

	ok &= bad_utf8("ab\x80", 3, 2);	/* stray continuation */
	ok &= bad_utf8("a\xC0\xAF", 3, 1);	/* overlong '/' */
	ok &= bad_utf8("\xC1\xBF", 2, 0);	/* overlong */
	ok &= bad_utf8("xx\xE0\x80\xAF", 5, 2);	/* overlong 3-byte */
	ok &= bad_utf8("\xE0\x9F\xBF", 3, 0);	/* overlong U+07FF */
	ok &= bad_utf8("\xF0\x80\x80\xAF", 4, 0);	/* overlong 4-byte */
	ok &= bad_utf8("\xF0\x8F\xBF\xBF", 4, 0);	/* overlong U+FFFF */
	TAP_CHECK(ok, "invalid UTF-8: stray continuation and overlong forms, with offsets");

	ok = 1;
	ok &= bad_utf8("abc\xED\xA0\x80", 6, 3);	/* U+D800 */
	ok &= bad_utf8("\xED\xBF\xBF", 3, 0);	/* U+DFFF */
	ok &= bad_utf8("ok \xF4\x90\x80\x80", 7, 3);	/* U+110000 */
	ok &= bad_utf8("\xF5\x80\x80\x80", 4, 0);
	ok &= bad_utf8("\xF8\x88\x80\x80\x80", 5, 0);	/* old 5-byte form */
	ok &= bad_utf8("\xFF", 1, 0);
	ok &= bad_utf8("\xFE\xFF", 2, 0);
	TAP_CHECK(ok, "invalid UTF-8: surrogates, > U+10FFFF, bytes F5..FF");

	ok = 1;
	ok &= bad_utf8("abc\xE2\x82", 5, 3);	/* cut at end */
	ok &= bad_utf8("\xF0\x9F\x98", 3, 0);
	ok &= bad_utf8("\xC3", 1, 0);
	ok &= bad_utf8("a\xE2\x82" "b", 4, 1);	/* cut in the middle */
	ok &= bad_utf8("\xC3\xA9\xC3", 3, 2);
	ok &= bad_utf8("aaaaaaaaaaaaaaaa\x80", 17, 16);	/* after the ASCII fast path */
	ok &= bad_utf8("aaaaaaa\xC3\xA9" "aaaaaaaaaaaa\xE9t\xC3\xA9", 25, 21);	/* Latin-1 */
	TAP_CHECK(ok, "invalid UTF-8: truncated sequences, offsets past fast path");

	ok = 1;
	ok &= good_utf8("\xC2\x80\xDF\xBF", 4);
	ok &= good_utf8("\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF", 12);
	ok &= good_utf8("\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", 8);
	ok &= good_utf8("", 0);
	TAP_CHECK(ok, "valid UTF-8 boundaries: U+0080 U+07FF U+0800 U+D7FF U+E000 U+FFFF U+10000 U+10FFFF");

	/* random strings against the independent reference validator */
	{
		int			mismatches = 0;
		static const uint8_t alphabet[] = {
			'a', ' ', '\'', 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
			0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5,
			0xFF, 0x00, '-', 'Z'
		};

		for (int iter = 0; iter < 200000; iter++)
		{
			uint8_t		buf[12];
			size_t		len = rnd() % sizeof(buf);
			size_t		off1 = 0,
						off2 = 0;
			int			v1,
						v2;

			for (size_t i = 0; i < len; i++)
				buf[i] = (rnd() & 3) ? alphabet[rnd() % sizeof(alphabet)]
					: (uint8_t) rnd();
			v1 = rnn_utf8_validate((const char *) buf, len, &off1) == RNN_TOK_OK;
			v2 = ref_valid(buf, len, &off2);
			if (v1 != v2 || (!v1 && off1 != off2))
				mismatches++;
			if (v1)
			{
				/* valid text always tokenizes within the documented bounds */
				char		norm[12];
				RnnTokSpan	spans[12];
				size_t		n = 0,
							total = 0,
							sum = 0;

				for (int m = 0; m < 2; m++)
				{
					if (rnn_tokenize((const char *) buf, len, (RnnTokMode) m, norm,
									 spans, len ? len : 1, &n, &total, NULL) != RNN_TOK_OK ||
						n != total || total > len)
						mismatches++;
					sum = 0;
					for (size_t i = 0; i < n; i++)
					{
						if (spans[i].len == 0 || spans[i].off != sum)
							mismatches++;
						sum += spans[i].len;
					}
					if (sum > len || (n > 0 && !good_utf8(norm, sum)))
						mismatches++;
				}
			}
		}
		TAP_CHECK(mismatches == 0,
				  "200000 random byte strings: validator matches reference, tokens well-formed (%d mismatches)",
				  mismatches);
	}

	{
		size_t		err = 0,
					n = 7;
		char		dummy[1] = {'a'};

		TAP_CHECK(rnn_tokenize(dummy, RNN_TOKENIZER_MAX_BYTES + 1, RNN_TOK_WORD,
							   NULL, NULL, 0, &n, NULL, &err) == RNN_TOK_TOO_LONG &&
				  n == 0,
				  "text above RNN_TOKENIZER_MAX_BYTES fails with RNN_TOK_TOO_LONG");
	}
}

static void
test_cut(void)
{
	int			ok = 1;
	char		text[1024];
	size_t		w = 0;

	for (int i = 0; i < 20; i++)
		w += (size_t) snprintf(text + w, sizeof(text) - w, "t%d ", i);

	ok &= strcmp(toks(RNN_TOK_WORD, text, w, 8), "t0|t1|t14|t15|t16|t17|t18|t19") == 0;
	ok &= strcmp(toks(RNN_TOK_WORD, text, w, 1), "t19") == 0;
	ok &= strcmp(toks(RNN_TOK_WORD, text, w, 3), "t17|t18|t19") == 0;
	ok &= strcmp(toks(RNN_TOK_WORD, text, w, 4), "t0|t17|t18|t19") == 0;
	ok &= strcmp(toks(RNN_TOK_WORD, text, w, 20),
				 toks(RNN_TOK_WORD, text, w, 1000)) == 0;
	TAP_CHECK(ok, "max_tokens cut keeps the first max/4 and the last max - max/4 tokens");

	/* exhaustively: every total 0..40 against every max 1..13 */
	ok = 1;
	for (int total = 0; total <= 40; total++)
	{
		char		buf[1024];
		size_t		len = 0;

		for (int i = 0; i < total; i++)
			len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%d ", i);
		for (size_t max = 1; max <= 13; max++)
		{
			char		norm[1024];
			RnnTokSpan	spans[16];
			size_t		n = 0,
						all = 0;
			size_t		head = max / 4;

			if (rnn_tokenize(buf, len, RNN_TOK_WORD, norm, spans, max, &n, &all,
							 NULL) != RNN_TOK_OK || all != (size_t) total)
			{
				ok = 0;
				continue;
			}
			if (n != ((size_t) total < max ? (size_t) total : max))
				ok = 0;
			for (size_t i = 0; i < n; i++)
			{
				size_t		want = ((size_t) total <= max || i < head) ? i
					: (size_t) total - (max - i);
				char		tokbuf[16];
				int			tl = snprintf(tokbuf, sizeof(tokbuf), "%zu", want);

				if (spans[i].len != (uint32_t) tl ||
					memcmp(norm + spans[i].off, tokbuf, (size_t) tl) != 0)
					ok = 0;
			}
		}
	}
	TAP_CHECK(ok, "head + tail cut correct for every total 0..40 and max 1..13");

	{
		size_t		n = 5,
					total = 0;

		RnnTokSpan	sp[2];

		TAP_CHECK(rnn_tokenize(text, w, RNN_TOK_WORD, NULL, NULL, 0, &n, &total,
							   NULL) == RNN_TOK_OK && n == 0 && total == 20 &&
				  rnn_tokenize(NULL, 0, RNN_TOK_WORD, NULL, sp, 2, &n, &total,
							   NULL) == RNN_TOK_OK && n == 0 && total == 0 &&
				  rnn_tokenize(text, w, RNN_TOK_WORD, NULL, sp, 2, &n, &total,
							   NULL) == RNN_TOK_INVALID_ARG,
				  "max_tokens = 0 only counts; NULL buffers only when nothing is written");
	}
}

static const char *corpus[] = {
	"the cat sat",
	"the dog sat",
	"The cat ran !",
	"a b",
};

static RnnVocab *
build(RnnTokMode mode, const char **texts, int n, int64_t min_count, int max_size)
{
	RnnVocabBuilder *b = NULL;
	RnnVocab   *v = NULL;

	if (rnn_vocab_builder_create(&b, mode) != RNN_TOK_OK)
		return NULL;
	for (int i = 0; i < n; i++)
		if (rnn_vocab_builder_add(b, texts[i], strlen(texts[i]), NULL) != RNN_TOK_OK)
			break;
	if (rnn_vocab_builder_finish(b, min_count, max_size, &v) != RNN_TOK_OK)
		v = NULL;
	rnn_vocab_builder_free(b);
	return v;
}

/* vocabulary as "tok|tok|..." */
static const char *
vocab_str(const RnnVocab *v)
{
	static char out[4096];
	size_t		w = 0;

	out[0] = '\0';
	for (int i = 0; v && i < rnn_vocab_size(v); i++)
	{
		size_t		len;
		const char *t = rnn_vocab_token(v, i, &len);

		if (w + len + 2 >= sizeof(out))
			break;
		if (i > 0)
			out[w++] = '|';
		memcpy(out + w, t, len);
		w += len;
		out[w] = '\0';
	}
	return out;
}

static int
vocab_is(RnnVocab *v, const char *expect)
{
	int			ok = v != NULL && strcmp(vocab_str(v), expect) == 0;

	if (!ok)
		TAP_DIAG("vocab \"%s\", want \"%s\"", vocab_str(v), expect);
	rnn_vocab_free(v);
	return ok;
}

static void
test_vocab_build(void)
{
	int			ok = 1;

	ok &= vocab_is(build(RNN_TOK_WORD, corpus, 4, 1, 100),
				   "<pad>|<unk>|the|cat|sat|!|a|b|dog|ran");
	ok &= vocab_is(build(RNN_TOK_WORD, corpus, 4, 2, 100), "<pad>|<unk>|the|cat|sat");
	ok &= vocab_is(build(RNN_TOK_WORD, corpus, 4, 1, 4), "<pad>|<unk>|the|cat");
	ok &= vocab_is(build(RNN_TOK_WORD, corpus, 4, 1, 2), "<pad>|<unk>");
	ok &= vocab_is(build(RNN_TOK_WORD, corpus, 4, 4, 100), "<pad>|<unk>");
	TAP_CHECK(ok, "vocab build: counts, min_count, max_size, reserved ids 0 and 1");

	{
		const char *ties[] = {"ab a b\xC3\xA9 b B ba", "zz a ab"};

		ok = vocab_is(build(RNN_TOK_WORD, ties, 2, 1, 100),
					  "<pad>|<unk>|a|ab|b|ba|b\xC3\xA9|zz");
		TAP_CHECK(ok, "vocab build: ties in byte order, a prefix before its extensions");
	}

	{
		const char *chars[] = {"aab", "B a"};

		ok = vocab_is(build(RNN_TOK_CHAR, chars, 2, 1, 100), "<pad>|<unk>|a|b| ");
		TAP_CHECK(ok, "vocab build in char mode counts code points and spaces");
	}

	{
		RnnVocabBuilder *b = NULL;
		size_t		distinct = 0,
					err = 0;
		uint64_t	count = 0;
		char		longtok[300];
		RnnVocab   *v = NULL;

		memset(longtok, 'x', sizeof(longtok));
		ok = rnn_vocab_builder_create(&b, RNN_TOK_WORD) == RNN_TOK_OK;
		ok &= rnn_vocab_builder_add(b, "good movie", 10, NULL) == RNN_TOK_OK;
		ok &= rnn_vocab_builder_add(b, "bad \xC3(", 6, &err) == RNN_TOK_INVALID_UTF8 && err == 4;
		ok &= rnn_vocab_builder_add(b, longtok, sizeof(longtok), NULL) == RNN_TOK_OK;
		ok &= rnn_vocab_builder_add(b, longtok, RNN_TOKEN_MAX_BYTES, NULL) == RNN_TOK_OK;
		rnn_vocab_builder_stats(b, &distinct, &count);
		ok &= distinct == 3 && count == 4;
		ok &= rnn_vocab_builder_finish(b, 1, 100, &v) == RNN_TOK_OK;
		ok &= rnn_vocab_size(v) == 5;
		ok &= rnn_vocab_lookup(v, "bad", 3) == RNN_VOCAB_UNK;
		ok &= rnn_vocab_lookup(v, longtok, RNN_TOKEN_MAX_BYTES) > 1;
		rnn_vocab_free(v);
		v = NULL;
		ok &= rnn_vocab_builder_finish(b, 0, 100, &v) == RNN_TOK_INVALID_ARG && v == NULL;
		ok &= rnn_vocab_builder_finish(b, 1, 1, &v) == RNN_TOK_INVALID_ARG;
		ok &= rnn_vocab_builder_finish(b, 1, RNN_MAX_VOCAB + 1, &v) == RNN_TOK_INVALID_ARG;
		rnn_vocab_builder_free(b);
		TAP_CHECK(ok, "vocab build: invalid text not counted, over-long tokens skipped, bad args");
	}

	{
		/* many distinct tokens: exercises table growth */
		RnnVocabBuilder *b = NULL;
		RnnVocab   *v = NULL;
		char		buf[64];
		size_t		distinct = 0;

		ok = rnn_vocab_builder_create(&b, RNN_TOK_WORD) == RNN_TOK_OK;
		for (int i = 0; i < 50000 && ok; i++)
		{
			int			n = snprintf(buf, sizeof(buf), "w%d w%d", i, i % 7);

			ok &= rnn_vocab_builder_add(b, buf, (size_t) n, NULL) == RNN_TOK_OK;
		}
		rnn_vocab_builder_stats(b, &distinct, NULL);
		ok &= distinct == 50000;
		ok &= rnn_vocab_builder_finish(b, 1, 12, &v) == RNN_TOK_OK;
		ok &= strcmp(vocab_str(v), "<pad>|<unk>|w0|w1|w2|w3|w4|w5|w6|w10|w100|w1000") == 0;
		ok &= rnn_vocab_lookup(v, "w5", 2) == 7;
		rnn_vocab_free(v);
		rnn_vocab_builder_free(b);
		TAP_CHECK(ok, "vocab build over 50000 distinct tokens");
	}
}

static void
test_vocab_use(void)
{
	RnnVocab   *v = build(RNN_TOK_WORD, corpus, 4, 1, 100);
	int32_t		ids[16];
	size_t		n = 0,
				total = 0,
				unk = 0,
				err = 0;
	int			ok;

	/* <pad> <unk> the cat sat ! a b dog ran */
	ok = v != NULL;
	ok &= rnn_vocab_lookup(v, "the", 3) == 2 && rnn_vocab_lookup(v, "ran", 3) == 9;
	ok &= rnn_vocab_lookup(v, "zebra", 5) == RNN_VOCAB_UNK;
	ok &= rnn_vocab_lookup(v, "th", 2) == RNN_VOCAB_UNK;
	ok &= rnn_vocab_lookup(v, "<pad>", 5) == RNN_VOCAB_PAD;
	ok &= rnn_vocab_lookup(v, "", 0) == RNN_VOCAB_UNK;
	ok &= rnn_vocab_token(v, 10, NULL) == NULL && rnn_vocab_token(v, -1, NULL) == NULL;
	TAP_CHECK(ok, "lookup: known ids, unknown -> <unk>, out-of-range ids");

	ok = rnn_vocab_encode(v, "The ZEBRA sat.", 14, ids, 16, &n, &total, &unk, NULL) == RNN_TOK_OK;
	ok &= n == 4 && total == 4 && unk == 2;
	ok &= ids[0] == 2 && ids[1] == 1 && ids[2] == 4 && ids[3] == 1;
	ok &= rnn_vocab_encode(v, "", 0, ids, 16, &n, &total, NULL, NULL) == RNN_TOK_OK && n == 0;
	ok &= rnn_vocab_encode(v, "a b the cat sat a b", 19, ids, 4, &n, &total, NULL, NULL) == RNN_TOK_OK;
	ok &= n == 4 && total == 7 && ids[0] == 6 && ids[1] == 4 && ids[2] == 6 && ids[3] == 7;
	ok &= rnn_vocab_encode(v, "cat \xED\xA0\x80", 7, ids, 16, &n, NULL, NULL, &err) == RNN_TOK_INVALID_UTF8;
	ok &= err == 4 && n == 0;
	ok &= rnn_vocab_encode(v, "cat", 3, ids, 0, &n, NULL, NULL, NULL) == RNN_TOK_INVALID_ARG;
	TAP_CHECK(ok, "encode: ids, <unk>, empty text, head + tail cut, invalid UTF-8, bad args");

	/* round trip through the string array */
	{
		int			size = rnn_vocab_size(v);
		const char **strs = malloc((size_t) size * sizeof(char *));
		size_t	   *lens = malloc((size_t) size * sizeof(size_t));
		RnnVocab   *v2 = NULL,
				   *v3 = NULL;
		int32_t		ids2[16];
		size_t		n2 = 0;
		const char *text = "the dog ran ! a b zebra";

		for (int i = 0; i < size; i++)
			strs[i] = rnn_vocab_token(v, i, &lens[i]);
		ok = rnn_vocab_from_strings(&v2, RNN_TOK_WORD, strs, lens, size, NULL) == RNN_TOK_OK;
		ok &= rnn_vocab_from_strings(&v3, RNN_TOK_WORD, strs, NULL, size, NULL) == RNN_TOK_OK;
		ok &= strcmp(vocab_str(v), vocab_str(v2)) == 0 && rnn_vocab_size(v3) == size;
		for (int i = 0; i < size; i++)
			ok &= rnn_vocab_lookup(v2, strs[i], lens[i]) == i &&
				rnn_vocab_lookup(v3, strs[i], lens[i]) == i;
		ok &= rnn_vocab_encode(v, text, strlen(text), ids, 16, &n, NULL, NULL, NULL) == RNN_TOK_OK;
		ok &= rnn_vocab_encode(v2, text, strlen(text), ids2, 16, &n2, NULL, NULL, NULL) == RNN_TOK_OK;
		ok &= n == n2 && n == 7 && memcmp(ids, ids2, n * sizeof(int32_t)) == 0;
		ok &= rnn_vocab_mode(v2) == RNN_TOK_WORD;
		TAP_CHECK(ok, "round trip through the string array: same ids, same encoding");
		rnn_vocab_free(v2);
		rnn_vocab_free(v3);
		free(strs);
		free(lens);
	}

	{
		size_t		idx = 99;
		RnnVocab   *bad = NULL;
		const char *swapped[] = {"<unk>", "<pad>", "x"};
		const char *dup[] = {"<pad>", "<unk>", "x", "y", "x"};
		const char *empty[] = {"<pad>", "<unk>", "x", ""};
		const char *inval[] = {"<pad>", "<unk>", "\xC0\xAF"};
		const char *nul[] = {"<pad>", "<unk>", "a\0b"};
		size_t		nul_lens[] = {5, 5, 3};
		const char *dup_reserved[] = {"<pad>", "<unk>", "<unk>"};
		char		longtok[RNN_TOKEN_MAX_BYTES + 2];
		const char *toolong[] = {"<pad>", "<unk>", longtok};

		memset(longtok, 'q', sizeof(longtok) - 1);
		longtok[sizeof(longtok) - 1] = '\0';
		ok = rnn_vocab_from_strings(&bad, RNN_TOK_WORD, swapped, NULL, 3, &idx) == RNN_TOK_BAD_VOCAB && idx == 0;
		ok &= rnn_vocab_from_strings(&bad, RNN_TOK_WORD, dup, NULL, 5, &idx) == RNN_TOK_BAD_VOCAB && idx == 4;
		ok &= rnn_vocab_from_strings(&bad, RNN_TOK_WORD, empty, NULL, 4, &idx) == RNN_TOK_BAD_VOCAB && idx == 3;
		ok &= rnn_vocab_from_strings(&bad, RNN_TOK_WORD, inval, NULL, 3, &idx) == RNN_TOK_BAD_VOCAB && idx == 2;
		ok &= rnn_vocab_from_strings(&bad, RNN_TOK_WORD, nul, nul_lens, 3, &idx) == RNN_TOK_BAD_VOCAB && idx == 2;
		ok &= rnn_vocab_from_strings(&bad, RNN_TOK_WORD, dup_reserved, NULL, 3, &idx) == RNN_TOK_BAD_VOCAB && idx == 2;
		ok &= rnn_vocab_from_strings(&bad, RNN_TOK_WORD, toolong, NULL, 3, &idx) == RNN_TOK_BAD_VOCAB && idx == 2;
		ok &= rnn_vocab_from_strings(&bad, RNN_TOK_WORD, dup, NULL, 1, &idx) == RNN_TOK_BAD_VOCAB;
		ok &= rnn_vocab_from_strings(&bad, (RnnTokMode) 7, dup, NULL, 3, &idx) == RNN_TOK_INVALID_ARG;
		ok &= bad == NULL;
		ok &= rnn_vocab_from_strings(&bad, RNN_TOK_CHAR, dup, NULL, 4, &idx) == RNN_TOK_OK &&
			rnn_vocab_size(bad) == 4 && rnn_vocab_mode(bad) == RNN_TOK_CHAR;
		rnn_vocab_free(bad);
		TAP_CHECK(ok, "from_strings rejects bad arrays with the offending index");
	}
	rnn_vocab_free(v);

	TAP_CHECK(rnn_tok_mode_from_name("word") == RNN_TOK_WORD &&
			  rnn_tok_mode_from_name("char") == RNN_TOK_CHAR &&
			  rnn_tok_mode_from_name("Word") == -1 &&
			  strcmp(rnn_tok_mode_name(RNN_TOK_CHAR), "char") == 0 &&
			  strcmp(rnn_tok_status_message(RNN_TOK_INVALID_UTF8),
					 "invalid UTF-8 byte sequence") == 0,
			  "mode names and status messages");
}

/* Lines of the MR corpus (cp1252 in the original, so ASCII lines only). */
static void
test_mr(void)
{
	static const char *lines[] = {
		"the rock is destined to be the 21st century's new \" conan \" and that he's going to make a splash even greater than arnold schwarzenegger , jean-claud van damme or steven segal . ",
		"emerges as something rare , an issue movie that's so honest and keenly observed that it doesn't feel like one . ",
		" ( wendigo is ) why we go to the cinema : to be fed through the eye , the heart , the mind . ",
		"one of the greatest family-oriented , fantasy-adventure movies ever . ",
	};
	int			ok = 1;

	/* on MR lines our tokens are exactly the space-separated tokens */
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
	{
		char		joined[1024];
		size_t		w = 0;
		const char *p = lines[i];

		while (*p)
		{
			while (*p == ' ')
				p++;
			if (!*p)
				break;
			if (w > 0)
				joined[w++] = '|';
			while (*p && *p != ' ')
				joined[w++] = *p++;
		}
		joined[w] = '\0';
		ok &= toks_eq(RNN_TOK_WORD, lines[i], joined);
	}
	TAP_CHECK(ok, "MR-style lines: tokens equal the corpus' own space-separated tokens");

	{
		const char *dir = getenv("RNN_MR_DIR");
		char		path[1024];
		FILE	   *f;
		char		line[4096];
		long		n_lines = 0,
					n_same = 0,
					n_ascii = 0;
		RnnVocabBuilder *b = NULL;
		RnnVocab   *v = NULL;
		size_t		distinct = 0;

		snprintf(path, sizeof(path), "%s/rt-polarity.pos",
				 dir ? dir : "/work/shared/data/mr");
		f = fopen(path, "rb");
		if (f == NULL)
		{
			TAP_CHECK(1, "MR corpus not found at %s # SKIP", path);
			return;
		}
		ok = rnn_vocab_builder_create(&b, RNN_TOK_WORD) == RNN_TOK_OK;
		while (fgets(line, sizeof(line), f))
		{
			size_t		len = strlen(line);
			int			ascii = 1,
						plain = 1;
			size_t		ws_count = 0;
			int			in = 0;
			size_t		ntok = 0,
						err = 0;
			RnnTokStatus st;

			n_lines++;
			for (size_t i = 0; i < len; i++)
			{
				if ((uint8_t) line[i] >= 0x80)
					ascii = 0;
				if (strchr("[]/&*=$#+@%\\|~`^{}<>_", line[i]) && line[i])
					plain = 0;
				if (line[i] == ' ' || line[i] == '\n' || line[i] == '\r')
					in = 0;
				else if (!in)
				{
					in = 1;
					ws_count++;
				}
			}
			st = rnn_vocab_builder_add(b, line, len, &err);
			if (!ascii)
			{
				/* cp1252 accents are not UTF-8: rejected with an offset */
				ok &= st == RNN_TOK_INVALID_UTF8 && (uint8_t) line[err] >= 0x80;
				continue;
			}
			n_ascii++;
			ok &= st == RNN_TOK_OK;
			rnn_tokenize(line, len, RNN_TOK_WORD, NULL, NULL, 0, &ntok, &ntok, NULL);
			if (plain && ntok == ws_count)
				n_same++;
		}
		fclose(f);
		rnn_vocab_builder_stats(b, &distinct, NULL);
		ok &= rnn_vocab_builder_finish(b, 2, 20000, &v) == RNN_TOK_OK;
		ok &= rnn_vocab_lookup(v, "doesn't", 7) > 1 && rnn_vocab_lookup(v, "the", 3) > 1 &&
			rnn_vocab_lookup(v, "low-key", 7) > 1;
		TAP_DIAG("MR pos: %ld lines, %ld ASCII, %ld of those tokenized as the corpus; "
				 "%zu distinct tokens, vocabulary (min_count 2) %d",
				 n_lines, n_ascii, n_same, distinct, rnn_vocab_size(v));
		rnn_vocab_free(v);
		rnn_vocab_builder_free(b);
		TAP_CHECK(ok, "MR corpus: cp1252 lines rejected at the right byte, vocab built");
	}
}

int
main(void)
{
	test_word_mode();
	test_char_mode();
	test_char_exact_mode();
	test_invalid_utf8();
	test_cut();
	test_vocab_build();
	test_vocab_use();
	test_mr();
	return tap_done();
}
