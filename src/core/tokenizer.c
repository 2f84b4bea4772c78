/*
 * tokenizer.c -- strict UTF-8 tokenizer (word or character level) and the
 * token vocabulary of sentiment models.  The rules are written down in
 * tokenizer.h; this file implements them.
 *
 * Constraints: plain C11, no PostgreSQL headers, every allocation through
 * rnn_alloc()/rnn_free(), nothing allocated per token, every text validated
 * before it is tokenized, results independent of locale and host.
 */
#include <string.h>

#include "rnn.h"
#include "tokenizer.h"

/* ---------------------------------------------------------------------------
 * Messages and names
 */
const char *
rnn_tok_status_message(RnnTokStatus status)
{
	switch (status)
	{
		case RNN_TOK_OK:
			return "success";
		case RNN_TOK_INVALID_UTF8:
			return "invalid UTF-8 byte sequence";
		case RNN_TOK_TOO_LONG:
			return "text is longer than the tokenizer limit of 64 MB";
		case RNN_TOK_NOMEM:
			return "out of memory";
		case RNN_TOK_INVALID_ARG:
			return "invalid tokenizer argument";
		case RNN_TOK_BAD_VOCAB:
			return "invalid vocabulary entry";
	}
	return "unknown tokenizer error";
}

int
rnn_tok_mode_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "word") == 0)
		return RNN_TOK_WORD;
	if (strcmp(name, "char") == 0)
		return RNN_TOK_CHAR;
	if (strcmp(name, "char_exact") == 0)
		return RNN_TOK_CHAR_EXACT;
	return -1;
}

const char *
rnn_tok_mode_name(RnnTokMode mode)
{
	return mode == RNN_TOK_CHAR ? "char" : mode == RNN_TOK_CHAR_EXACT ? "char_exact" : "word";
}

/* ---------------------------------------------------------------------------
 * UTF-8
 */

/*
 * Well-formed sequences (Unicode Table 3-7):
 *   00..7F
 *   C2..DF 80..BF
 *   E0     A0..BF 80..BF
 *   E1..EC 80..BF 80..BF
 *   ED     80..9F 80..BF          (no surrogates)
 *   EE..EF 80..BF 80..BF
 *   F0     90..BF 80..BF 80..BF
 *   F1..F3 80..BF 80..BF 80..BF
 *   F4     80..8F 80..BF 80..BF   (nothing above U+10FFFF)
 * Returns the sequence length at s[0], or 0 if ill-formed or cut short.
 */
static size_t
utf8_seq_len(const uint8_t *s, size_t avail)
{
	uint8_t		c = s[0];
	uint8_t		lo = 0x80,
				hi = 0xBF;
	size_t		n;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;				/* continuation byte or overlong 2-byte lead */
	if (c < 0xE0)
		n = 2;
	else if (c < 0xF0)
	{
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;			/* overlong */
		else if (c == 0xED)
			hi = 0x9F;			/* surrogates */
	}
	else if (c < 0xF5)
	{
		n = 4;
		if (c == 0xF0)
			lo = 0x90;			/* overlong */
		else if (c == 0xF4)
			hi = 0x8F;			/* > U+10FFFF */
	}
	else
		return 0;

	if (avail < 2 || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (i >= avail || (s[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

RnnTokStatus
rnn_utf8_validate(const char *text, size_t len, size_t *err_offset)
{
	const uint8_t *s = (const uint8_t *) text;
	size_t		i = 0;

	if (len > 0 && text == NULL)
		return RNN_TOK_INVALID_ARG;
	while (i < len)
	{
		size_t		n;

		/* ASCII fast path, eight bytes at a time */
		while (len - i >= 8)
		{
			uint64_t	w;

			memcpy(&w, s + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= len)
			break;
		n = utf8_seq_len(s + i, len - i);
		if (n == 0)
		{
			if (err_offset)
				*err_offset = i;
			return RNN_TOK_INVALID_UTF8;
		}
		i += n;
	}
	return RNN_TOK_OK;
}

/* Decodes one code point of validated text; never reads past end. */
static uint32_t
utf8_decode(const uint8_t *s, size_t end, size_t *pos)
{
	size_t		i = *pos;
	uint32_t	c = s[i];
	size_t		n;

	if (c < 0x80)
		n = 1;
	else if (c < 0xE0)
	{
		n = 2;
		c &= 0x1F;
	}
	else if (c < 0xF0)
	{
		n = 3;
		c &= 0x0F;
	}
	else
	{
		n = 4;
		c &= 0x07;
	}
	if (n > end - i)
		n = end - i;			/* cannot happen after validation */
	for (size_t k = 1; k < n; k++)
		c = (c << 6) | (s[i + k] & 0x3F);
	*pos = i + n;
	return c;
}

static size_t
utf8_encode(uint32_t c, uint8_t *out)
{
	if (c < 0x80)
	{
		out[0] = (uint8_t) c;
		return 1;
	}
	if (c < 0x800)
	{
		out[0] = (uint8_t) (0xC0 | (c >> 6));
		out[1] = (uint8_t) (0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000)
	{
		out[0] = (uint8_t) (0xE0 | (c >> 12));
		out[1] = (uint8_t) (0x80 | ((c >> 6) & 0x3F));
		out[2] = (uint8_t) (0x80 | (c & 0x3F));
		return 3;
	}
	out[0] = (uint8_t) (0xF0 | (c >> 18));
	out[1] = (uint8_t) (0x80 | ((c >> 12) & 0x3F));
	out[2] = (uint8_t) (0x80 | ((c >> 6) & 0x3F));
	out[3] = (uint8_t) (0x80 | (c & 0x3F));
	return 4;
}

/* ---------------------------------------------------------------------------
 * Character classes and normalization
 */
typedef enum CpClass
{
	CP_SPACE,					/* whitespace and controls: separates tokens */
	CP_IGNORE,					/* invisible format characters: dropped */
	CP_WORD,					/* letters, digits, marks: runs form words */
	CP_SINGLE					/* punctuation, symbols, CJK: one per token */
} CpClass;

static CpClass
cp_class(uint32_t c)
{
	if (c < 0x80)
	{
		if (c <= 0x20 || c == 0x7F)
			return CP_SPACE;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			(c >= 'A' && c <= 'Z'))
			return CP_WORD;
		return CP_SINGLE;
	}
	if (c < 0x100)
	{
		if (c <= 0xA0)
			return CP_SPACE;	/* C1 controls, NEL, no-break space */
		if (c == 0xAD)
			return CP_IGNORE;
		if (c == 0xAA || c == 0xB5 || c == 0xBA)
			return CP_WORD;
		if (c <= 0xBF || c == 0xD7 || c == 0xF7)
			return CP_SINGLE;
		return CP_WORD;
	}
	if (c < 0x2000)
		return c == 0x1680 ? CP_SPACE : CP_WORD;
	if (c < 0x3000)
	{
		if (c <= 0x200A || c == 0x2028 || c == 0x2029 || c == 0x202F ||
			c == 0x205F)
			return CP_SPACE;
		if ((c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
			(c >= 0x2060 && c <= 0x206F))
			return CP_IGNORE;
		if ((c >= 0x2070 && c <= 0x209F) || (c >= 0x20D0 && c <= 0x20FF))
			return CP_WORD;		/* super/subscripts, combining marks */
		if (c <= 0x2BFF || c >= 0x2E00)
			return CP_SINGLE;	/* punctuation, currency, symbols, arrows,
								 * CJK radicals */
		return CP_WORD;
	}
	if (c < 0x10000)
	{
		if (c == 0x3000)
			return CP_SPACE;
		if (c <= 0x303F)
			return CP_SINGLE;	/* CJK punctuation */
		if (c <= 0x30FF)
			return CP_SINGLE;	/* kana */
		if ((c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
			(c >= 0xF900 && c <= 0xFAFF))
			return CP_SINGLE;	/* CJK ideographs */
		if ((c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF)
			return CP_IGNORE;
		if ((c >= 0xFE10 && c <= 0xFE1F) || (c >= 0xFE30 && c <= 0xFE6F) ||
			(c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
			(c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65) ||
			c >= 0xFFF0)
			return CP_SINGLE;
		return CP_WORD;
	}
	if (c >= 0x1F000 && c <= 0x1FAFF)
		return CP_SINGLE;		/* emoji, playing cards, mahjong */
	if (c >= 0x20000 && c <= 0x3FFFF)
		return CP_SINGLE;		/* CJK extensions */
	if (c >= 0xE0000 && c <= 0xE007F)
		return CP_IGNORE;		/* tags */
	return CP_WORD;
}

/* The fixed lower-casing table of tokenizer.h; never lengthens the UTF-8. */
static uint32_t
cp_lower(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c < 0x100)
		return (c >= 0xC0 && c <= 0xDE && c != 0xD7) ? c + 32 : c;
	if (c < 0x180)
	{
		if (c == 0x130)
			return 'i';
		if (c == 0x178)
			return 0xFF;
		if ((c <= 0x137 && c != 0x131) || (c >= 0x14A && c <= 0x177))
			return c | 1;		/* pairs: even upper, odd lower */
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
			return (c & 1) ? c + 1 : c;	/* pairs: odd upper, even lower */
		return c;
	}
	if (c >= 0x386 && c <= 0x3AB)
	{
		if (c >= 0x391 && c != 0x3A2)
			return c + 0x20;
		if (c == 0x386)
			return 0x3AC;
		if (c >= 0x388 && c <= 0x38A)
			return c + 0x25;
		if (c == 0x38C)
			return 0x3CC;
		if (c == 0x38E || c == 0x38F)
			return c + 0x3F;
		return c;
	}
	if (c >= 0x400 && c <= 0x42F)
		return c < 0x410 ? c + 0x50 : c + 0x20;
	if (c == 0x2018 || c == 0x2019)
		return '\'';
	return c;
}

/* ---------------------------------------------------------------------------
 * Scanner: token boundaries over validated text
 */
typedef struct Scanner
{
	const uint8_t *s;
	size_t		len;
	size_t		pos;
	RnnTokMode	mode;
	int			seen_token;		/* char mode: a token was emitted */
} Scanner;

typedef struct Token
{
	size_t		start;			/* byte range in the text */
	size_t		end;
	int			space;			/* char mode whitespace token: normalizes to " " */
} Token;

static void
scanner_init(Scanner *sc, const char *text, size_t len, RnnTokMode mode)
{
	sc->s = (const uint8_t *) text;
	sc->len = len;
	sc->pos = 0;
	sc->mode = mode;
	sc->seen_token = 0;
}

static int
mode_valid(RnnTokMode mode)
{
	return mode == RNN_TOK_WORD || mode == RNN_TOK_CHAR || mode == RNN_TOK_CHAR_EXACT;
}

static int
is_apostrophe_or_hyphen(uint32_t c)
{
	return c == '\'' || c == '-' || c == 0x2018 || c == 0x2019;
}

/* Fills *tok with the next token; returns 0 at the end of the text. */
static int
scanner_next(Scanner *sc, Token *tok)
{
	const uint8_t *s = sc->s;
	size_t		len = sc->len;
	int			had_space = 0;

	for (;;)
	{
		size_t		start = sc->pos;
		size_t		next = start;
		uint32_t	c;
		CpClass		cls;

		if (start >= len)
			return 0;
		c = utf8_decode(s, len, &next);
		if (sc->mode == RNN_TOK_CHAR_EXACT)
		{
			/* every code point but NUL, as it is */
			sc->pos = next;
			if (c == 0)
				continue;
			tok->start = start;
			tok->end = next;
			tok->space = 0;
			return 1;
		}
		cls = cp_class(c);
		if (cls == CP_IGNORE)
		{
			sc->pos = next;
			continue;
		}
		if (cls == CP_SPACE)
		{
			had_space = 1;
			sc->pos = next;
			continue;
		}

		/* char mode: one " " token for a whitespace run between tokens */
		if (sc->mode == RNN_TOK_CHAR && had_space && sc->seen_token)
		{
			tok->start = start;
			tok->end = start;
			tok->space = 1;
			sc->seen_token = 0;	/* the token at start comes next */
			return 1;
		}
		tok->space = 0;
		tok->start = start;
		sc->seen_token = 1;

		if (sc->mode == RNN_TOK_CHAR || cls == CP_SINGLE)
		{
			tok->end = next;
			sc->pos = next;
			return 1;
		}

		/* word: letters and digits, joined by internal ' - or digit . , */
		{
			uint32_t	prev = c;
			size_t		p = next;

			while (p < len)
			{
				size_t		q = p;
				uint32_t	d = utf8_decode(s, len, &q);
				CpClass		dc = cp_class(d);

				if (dc == CP_WORD || dc == CP_IGNORE)
				{
					if (dc == CP_WORD)
						prev = d;
					p = q;
					continue;
				}
				if (q < len &&
					(is_apostrophe_or_hyphen(d) ||
					 ((d == '.' || d == ',') && prev >= '0' && prev <= '9')))
				{
					size_t		r = q;
					uint32_t	e = utf8_decode(s, len, &r);

					if (cp_class(e) == CP_WORD &&
						(is_apostrophe_or_hyphen(d) || (e >= '0' && e <= '9')))
					{
						prev = e;
						p = r;
						continue;
					}
				}
				break;
			}
			tok->end = p;
			sc->pos = p;
			return 1;
		}
	}
}

/*
 * Writes the normalized bytes of tok to out (capacity cap).  Returns the
 * length, or SIZE_MAX if it does not fit (out is then partly written).
 */
static size_t
token_normalize(const Scanner *sc, const Token *tok, uint8_t *out, size_t cap)
{
	size_t		pos = tok->start;
	size_t		n = 0;

	if (tok->space)
	{
		if (cap < 1)
			return SIZE_MAX;
		out[0] = ' ';
		return 1;
	}
	if (sc->mode == RNN_TOK_CHAR_EXACT)
	{
		if (tok->end - tok->start > cap)
			return SIZE_MAX;
		memcpy(out, sc->s + tok->start, tok->end - tok->start);
		return tok->end - tok->start;
	}
	while (pos < tok->end)
	{
		uint8_t		buf[4];
		uint32_t	c = utf8_decode(sc->s, tok->end, &pos);
		size_t		k;

		if (cp_class(c) == CP_IGNORE)
			continue;
		k = utf8_encode(cp_lower(c), buf);
		if (k > cap - n)
			return SIZE_MAX;
		memcpy(out + n, buf, k);
		n += k;
	}
	return n;
}

/* ---------------------------------------------------------------------------
 * Head + tail cut
 */
static size_t
cut_head(size_t max_tokens)
{
	return max_tokens / 4;
}

/* Slot of token number k (0-based) among max_tokens slots. */
static size_t
cut_slot(size_t k, size_t max_tokens)
{
	size_t		head = cut_head(max_tokens);

	if (k < max_tokens)
		return k;
	return head + (k - head) % (max_tokens - head);
}

/* After total > max_tokens tokens: how far to rotate the tail ring left. */
static size_t
cut_rotation(size_t total, size_t max_tokens)
{
	size_t		head = cut_head(max_tokens);

	if (total <= max_tokens)
		return 0;
	return (total - max_tokens) % (max_tokens - head);
}

#define DEFINE_REVERSE(name, type) \
static void \
name(type *v, size_t n) \
{ \
	for (size_t i = 0; i < n / 2; i++) \
	{ \
		type		t = v[i]; \
		v[i] = v[n - 1 - i]; \
		v[n - 1 - i] = t; \
	} \
}

DEFINE_REVERSE(reverse_spans, RnnTokSpan)
DEFINE_REVERSE(reverse_ids, int32_t)

/* ---------------------------------------------------------------------------
 * Tokenizer
 */
static RnnTokStatus
check_text(const char *text, size_t len, size_t *err_offset)
{
	if (len > RNN_TOKENIZER_MAX_BYTES)
		return RNN_TOK_TOO_LONG;
	return rnn_utf8_validate(text, len, err_offset);
}

RnnTokStatus
rnn_tokenize(const char *text, size_t len, RnnTokMode mode,
			 char *norm, RnnTokSpan *spans, size_t max_tokens,
			 size_t *n_tokens, size_t *n_total, size_t *err_offset)
{
	Scanner		sc;
	Token		tok;
	RnnTokStatus st;
	size_t		total = 0;
	size_t		w = 0;

	if (n_tokens)
		*n_tokens = 0;
	if (n_total)
		*n_total = 0;
	if (n_tokens == NULL || !mode_valid(mode) ||
		(max_tokens > 0 && (spans == NULL || (norm == NULL && len > 0))))
		return RNN_TOK_INVALID_ARG;
	st = check_text(text, len, err_offset);
	if (st != RNN_TOK_OK)
		return st;

	scanner_init(&sc, text, len, mode);
	while (scanner_next(&sc, &tok))
	{
		if (max_tokens > 0)
		{
			/* normalized text never outgrows the source: w + n <= len */
			size_t		n = token_normalize(&sc, &tok, (uint8_t *) norm + w,
											len - w);
			RnnTokSpan *sp = &spans[cut_slot(total, max_tokens)];

			if (n == SIZE_MAX)
				return RNN_TOK_INVALID_ARG; /* cannot happen */
			sp->off = (uint32_t) w;
			sp->len = (uint32_t) n;
			w += n;
		}
		total++;
	}

	if (max_tokens > 0 && total > max_tokens)
	{
		size_t		head = cut_head(max_tokens);
		size_t		r = cut_rotation(total, max_tokens);

		reverse_spans(spans + head, r);
		reverse_spans(spans + head + r, max_tokens - head - r);
		reverse_spans(spans + head, max_tokens - head);
	}
	*n_tokens = total < max_tokens ? total : max_tokens;
	if (n_total)
		*n_total = total;
	return RNN_TOK_OK;
}

/* ---------------------------------------------------------------------------
 * Hashing and sorting
 */
static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t	h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++)
	{
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* memcmp order, a prefix before its extensions */
static int
bytes_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	int			c = memcmp(a, b, na < nb ? na : nb);

	if (c != 0)
		return c;
	return (na > nb) - (na < nb);
}

/* ---------------------------------------------------------------------------
 * Vocabulary builder: open addressing (linear probing) over token bytes
 * kept in one growing pool.
 */
typedef struct BuildEntry
{
	uint64_t	hash;
	uint64_t	count;			/* 0 = empty slot */
	uint32_t	off;			/* in pool */
	uint32_t	len;
} BuildEntry;

struct RnnVocabBuilder
{
	RnnTokMode	mode;
	BuildEntry *slots;			/* (cap), cap a power of two */
	size_t		cap;
	size_t		used;
	uint8_t    *pool;			/* (pool_cap) token bytes, back to back */
	size_t		pool_len;
	size_t		pool_cap;
	uint64_t	n_tokens;
};

#define BUILDER_MIN_SLOTS 1024
#define POOL_MAX ((size_t) UINT32_MAX)

RnnTokStatus
rnn_vocab_builder_create(RnnVocabBuilder **out, RnnTokMode mode)
{
	RnnVocabBuilder *b;

	if (out == NULL || !mode_valid(mode))
		return RNN_TOK_INVALID_ARG;
	*out = NULL;
	b = rnn_alloc(sizeof(*b));
	if (b == NULL)
		return RNN_TOK_NOMEM;
	b->mode = mode;
	b->cap = BUILDER_MIN_SLOTS;
	b->slots = rnn_alloc(b->cap * sizeof(BuildEntry));
	b->pool_cap = 16384;
	b->pool = rnn_alloc(b->pool_cap);
	if (b->slots == NULL || b->pool == NULL)
	{
		rnn_vocab_builder_free(b);
		return RNN_TOK_NOMEM;
	}
	*out = b;
	return RNN_TOK_OK;
}

void
rnn_vocab_builder_free(RnnVocabBuilder *b)
{
	if (b == NULL)
		return;
	rnn_free(b->slots);
	rnn_free(b->pool);
	rnn_free(b);
}

static RnnTokStatus
builder_grow_slots(RnnVocabBuilder *b)
{
	size_t		ncap = b->cap * 2;
	BuildEntry *ns;

	if (ncap > SIZE_MAX / sizeof(BuildEntry))
		return RNN_TOK_NOMEM;
	ns = rnn_alloc(ncap * sizeof(BuildEntry));
	if (ns == NULL)
		return RNN_TOK_NOMEM;
	for (size_t i = 0; i < b->cap; i++)
	{
		size_t		j;

		if (b->slots[i].count == 0)
			continue;
		j = (size_t) b->slots[i].hash & (ncap - 1);
		while (ns[j].count != 0)
			j = (j + 1) & (ncap - 1);
		ns[j] = b->slots[i];
	}
	rnn_free(b->slots);
	b->slots = ns;
	b->cap = ncap;
	return RNN_TOK_OK;
}

static RnnTokStatus
builder_count(RnnVocabBuilder *b, const uint8_t *tok, size_t n)
{
	uint64_t	h = fnv1a(tok, n);
	size_t		j = (size_t) h & (b->cap - 1);
	BuildEntry *e;

	while (b->slots[j].count != 0)
	{
		e = &b->slots[j];
		if (e->hash == h && e->len == n && memcmp(b->pool + e->off, tok, n) == 0)
		{
			e->count++;
			return RNN_TOK_OK;
		}
		j = (j + 1) & (b->cap - 1);
	}

	/* new token: make room in the pool, then maybe rehash */
	if (n > b->pool_cap - b->pool_len)
	{
		size_t		ncap = b->pool_cap;
		uint8_t    *np;

		while (n > ncap - b->pool_len)
		{
			if (ncap > POOL_MAX / 2)
				return RNN_TOK_NOMEM;
			ncap *= 2;
		}
		np = rnn_alloc(ncap);
		if (np == NULL)
			return RNN_TOK_NOMEM;
		memcpy(np, b->pool, b->pool_len);
		rnn_free(b->pool);
		b->pool = np;
		b->pool_cap = ncap;
	}
	e = &b->slots[j];
	e->hash = h;
	e->count = 1;
	e->off = (uint32_t) b->pool_len;
	e->len = (uint32_t) n;
	memcpy(b->pool + b->pool_len, tok, n);
	b->pool_len += n;
	b->used++;
	if (b->used * 10 > b->cap * 7)
		return builder_grow_slots(b);
	return RNN_TOK_OK;
}

RnnTokStatus
rnn_token_normalize(const char *token, size_t len, char *out, size_t cap, size_t *out_len,
					size_t *err_offset)
{
	Scanner		sc;
	Token		tok;
	RnnTokStatus st;
	size_t		n;

	if (out_len == NULL || (out == NULL && cap > 0))
		return RNN_TOK_INVALID_ARG;
	*out_len = 0;
	st = check_text(token, len, err_offset);
	if (st != RNN_TOK_OK)
		return st;
	/* the word-mode normalization of one span covering the whole token */
	scanner_init(&sc, token, len, RNN_TOK_WORD);
	tok.start = 0;
	tok.end = len;
	tok.space = 0;
	n = token_normalize(&sc, &tok, (uint8_t *) out, cap);
	if (n == SIZE_MAX)
		return RNN_TOK_TOO_LONG;
	*out_len = n;
	return RNN_TOK_OK;
}

RnnTokStatus
rnn_vocab_builder_add_token(RnnVocabBuilder *b, const char *token, size_t len,
							size_t *err_offset)
{
	char		buf[RNN_TOKEN_MAX_BYTES];
	size_t		n = 0;
	RnnTokStatus st;

	if (b == NULL)
		return RNN_TOK_INVALID_ARG;
	st = rnn_token_normalize(token, len, buf, sizeof(buf), &n, err_offset);
	if (st == RNN_TOK_TOO_LONG && len <= RNN_TOKENIZER_MAX_BYTES)
		st = RNN_TOK_OK;		/* too long for a vocabulary: counted, not kept */
	else if (st == RNN_TOK_OK && n > 0)
		st = builder_count(b, (const uint8_t *) buf, n);
	if (st == RNN_TOK_OK)
		b->n_tokens++;
	return st;
}

RnnTokStatus
rnn_vocab_builder_add(RnnVocabBuilder *b, const char *text, size_t len,
					  size_t *err_offset)
{
	Scanner		sc;
	Token		tok;
	RnnTokStatus st;

	if (b == NULL)
		return RNN_TOK_INVALID_ARG;
	st = check_text(text, len, err_offset);
	if (st != RNN_TOK_OK)
		return st;
	scanner_init(&sc, text, len, b->mode);
	while (scanner_next(&sc, &tok))
	{
		uint8_t		buf[RNN_TOKEN_MAX_BYTES];
		size_t		n = token_normalize(&sc, &tok, buf, sizeof(buf));

		b->n_tokens++;
		if (n == SIZE_MAX)
			continue;			/* too long for a vocabulary */
		st = builder_count(b, buf, n);
		if (st != RNN_TOK_OK)
			return st;
	}
	return RNN_TOK_OK;
}

void
rnn_vocab_builder_stats(const RnnVocabBuilder *b, size_t *n_distinct,
						uint64_t *n_tokens)
{
	if (n_distinct)
		*n_distinct = b ? b->used : 0;
	if (n_tokens)
		*n_tokens = b ? b->n_tokens : 0;
}

/* Vocabulary order: count descending, then bytes ascending. */
static int
entry_before(const RnnVocabBuilder *b, const BuildEntry *x, const BuildEntry *y)
{
	if (x->count != y->count)
		return x->count > y->count;
	return bytes_cmp(b->pool + x->off, x->len, b->pool + y->off, y->len) < 0;
}

/* Heap sort (no extra memory, deterministic: the order is total). */
static void
sift_down(const RnnVocabBuilder *b, BuildEntry *v, size_t i, size_t n)
{
	for (;;)
	{
		size_t		c = 2 * i + 1;
		BuildEntry	t;

		if (c >= n)
			return;
		/* max-heap on "comes later" so the sorted array is in vocab order */
		if (c + 1 < n && entry_before(b, &v[c], &v[c + 1]))
			c++;
		if (!entry_before(b, &v[i], &v[c]))
			return;
		t = v[i];
		v[i] = v[c];
		v[c] = t;
		i = c;
	}
}

static void
sort_entries(const RnnVocabBuilder *b, BuildEntry *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(b, v, i, n);
	for (size_t end = n; end-- > 1;)
	{
		BuildEntry	t = v[0];

		v[0] = v[end];
		v[end] = t;
		sift_down(b, v, 0, end);
	}
}

/* ---------------------------------------------------------------------------
 * Vocabulary
 */
struct RnnVocab
{
	RnnTokMode	mode;
	int			n;
	uint32_t   *off;			/* (n) into pool */
	uint32_t   *len;			/* (n) */
	uint64_t   *hash;			/* (n) */
	char	   *pool;			/* tokens, each NUL-terminated */
	int32_t    *slots;			/* (mask + 1) id + 1, 0 = empty */
	size_t		mask;
};

void
rnn_vocab_free(RnnVocab *v)
{
	if (v == NULL)
		return;
	rnn_free(v->off);
	rnn_free(v->len);
	rnn_free(v->hash);
	rnn_free(v->pool);
	rnn_free(v->slots);
	rnn_free(v);
}

static RnnVocab *
vocab_alloc(RnnTokMode mode, int n, size_t pool_bytes)
{
	RnnVocab   *v = rnn_alloc(sizeof(RnnVocab));
	size_t		cap = 16;

	if (v == NULL)
		return NULL;
	while (cap < (size_t) n * 2)
		cap *= 2;
	v->mode = mode;
	v->n = 0;
	v->off = rnn_alloc((size_t) n * sizeof(uint32_t));
	v->len = rnn_alloc((size_t) n * sizeof(uint32_t));
	v->hash = rnn_alloc((size_t) n * sizeof(uint64_t));
	v->pool = rnn_alloc(pool_bytes);
	v->slots = rnn_alloc(cap * sizeof(int32_t));
	v->mask = cap - 1;
	if (!v->off || !v->len || !v->hash || !v->pool || !v->slots)
	{
		rnn_vocab_free(v);
		return NULL;
	}
	return v;
}

static size_t
vocab_find(const RnnVocab *v, const uint8_t *tok, size_t n, uint64_t h)
{
	size_t		j = (size_t) h & v->mask;

	while (v->slots[j] != 0)
	{
		int32_t		id = v->slots[j] - 1;

		if (v->hash[id] == h && v->len[id] == n &&
			memcmp(v->pool + v->off[id], tok, n) == 0)
			return j;
		j = (j + 1) & v->mask;
	}
	return j;
}

/* Appends a token; returns 0 if it is already present. */
static int
vocab_push(RnnVocab *v, const uint8_t *tok, size_t n, size_t *pool_len)
{
	uint64_t	h = fnv1a(tok, n);
	size_t		j = vocab_find(v, tok, n, h);
	int			id = v->n;

	if (v->slots[j] != 0)
		return 0;
	v->slots[j] = id + 1;
	v->off[id] = (uint32_t) *pool_len;
	v->len[id] = (uint32_t) n;
	v->hash[id] = h;
	memcpy(v->pool + *pool_len, tok, n);
	v->pool[*pool_len + n] = '\0';
	*pool_len += n + 1;
	v->n++;
	return 1;
}

RnnTokStatus
rnn_vocab_builder_finish(RnnVocabBuilder *b, int64_t min_count, int max_size,
						 RnnVocab **out)
{
	BuildEntry *cand;
	size_t		n_cand = 0;
	size_t		keep;
	size_t		pool_bytes = sizeof(RNN_VOCAB_PAD_STR) + sizeof(RNN_VOCAB_UNK_STR);
	size_t		pool_len = 0;
	RnnVocab   *v;

	if (out == NULL)
		return RNN_TOK_INVALID_ARG;
	*out = NULL;
	if (b == NULL || min_count < 1 || max_size < 2 || max_size > RNN_MAX_VOCAB)
		return RNN_TOK_INVALID_ARG;

	cand = rnn_alloc((b->used ? b->used : 1) * sizeof(BuildEntry));
	if (cand == NULL)
		return RNN_TOK_NOMEM;
	for (size_t i = 0; i < b->cap; i++)
		if (b->slots[i].count >= (uint64_t) min_count)
			cand[n_cand++] = b->slots[i];
	sort_entries(b, cand, n_cand);
	keep = n_cand < (size_t) max_size - 2 ? n_cand : (size_t) max_size - 2;
	for (size_t i = 0; i < keep; i++)
		pool_bytes += cand[i].len + 1;

	v = vocab_alloc(b->mode, (int) keep + 2, pool_bytes);
	if (v == NULL)
	{
		rnn_free(cand);
		return RNN_TOK_NOMEM;
	}
	vocab_push(v, (const uint8_t *) RNN_VOCAB_PAD_STR,
			   sizeof(RNN_VOCAB_PAD_STR) - 1, &pool_len);
	vocab_push(v, (const uint8_t *) RNN_VOCAB_UNK_STR,
			   sizeof(RNN_VOCAB_UNK_STR) - 1, &pool_len);
	/* tokens never equal "<pad>"/"<unk>": "<" and ">" are tokens of their own */
	for (size_t i = 0; i < keep; i++)
		vocab_push(v, b->pool + cand[i].off, cand[i].len, &pool_len);
	rnn_free(cand);
	*out = v;
	return RNN_TOK_OK;
}

RnnTokStatus
rnn_vocab_from_strings(RnnVocab **out, RnnTokMode mode,
					   const char *const *tokens, const size_t *lens, int n,
					   size_t *err_index)
{
	RnnVocab   *v;
	size_t		pool_bytes = 0;
	size_t		pool_len = 0;

	if (out == NULL)
		return RNN_TOK_INVALID_ARG;
	*out = NULL;
	if (!mode_valid(mode) || tokens == NULL)
		return RNN_TOK_INVALID_ARG;
	if (n < 2 || n > RNN_MAX_VOCAB)
	{
		if (err_index)
			*err_index = n < 2 ? (size_t) (n < 0 ? 0 : n) : RNN_MAX_VOCAB;
		return RNN_TOK_BAD_VOCAB;
	}

	for (int i = 0; i < n; i++)
	{
		const char *t = tokens[i];
		size_t		len;

		if (t == NULL)
			goto bad;
		if (lens)
			len = lens[i];
		else
			for (len = 0; len <= RNN_TOKEN_MAX_BYTES && t[len] != '\0'; len++)
				;
		if (len == 0 || len > RNN_TOKEN_MAX_BYTES ||
			memchr(t, '\0', len) != NULL ||
			rnn_utf8_validate(t, len, NULL) != RNN_TOK_OK)
			goto bad;
		if ((i == RNN_VOCAB_PAD &&
			 (len != 5 || memcmp(t, RNN_VOCAB_PAD_STR, 5) != 0)) ||
			(i == RNN_VOCAB_UNK &&
			 (len != 5 || memcmp(t, RNN_VOCAB_UNK_STR, 5) != 0)))
			goto bad;
		pool_bytes += len + 1;
		continue;
bad:
		if (err_index)
			*err_index = (size_t) i;
		return RNN_TOK_BAD_VOCAB;
	}

	v = vocab_alloc(mode, n, pool_bytes);
	if (v == NULL)
		return RNN_TOK_NOMEM;
	for (int i = 0; i < n; i++)
	{
		size_t		len = lens ? lens[i] : strlen(tokens[i]);

		if (!vocab_push(v, (const uint8_t *) tokens[i], len, &pool_len))
		{
			rnn_vocab_free(v);
			if (err_index)
				*err_index = (size_t) i;
			return RNN_TOK_BAD_VOCAB;	/* duplicate */
		}
	}
	*out = v;
	return RNN_TOK_OK;
}

int
rnn_vocab_size(const RnnVocab *v)
{
	return v ? v->n : 0;
}

RnnTokMode
rnn_vocab_mode(const RnnVocab *v)
{
	return v ? v->mode : RNN_TOK_WORD;
}

const char *
rnn_vocab_token(const RnnVocab *v, int32_t id, size_t *len)
{
	if (v == NULL || id < 0 || id >= v->n)
		return NULL;
	if (len)
		*len = v->len[id];
	return v->pool + v->off[id];
}

int32_t
rnn_vocab_lookup(const RnnVocab *v, const char *token, size_t len)
{
	size_t		j;

	if (v == NULL || token == NULL || len == 0)
		return RNN_VOCAB_UNK;
	j = vocab_find(v, (const uint8_t *) token, len,
				   fnv1a((const uint8_t *) token, len));
	return v->slots[j] != 0 ? v->slots[j] - 1 : RNN_VOCAB_UNK;
}

RnnTokStatus
rnn_vocab_encode(const RnnVocab *v, const char *text, size_t len,
				 int32_t *ids, size_t max_tokens, size_t *n_ids,
				 size_t *n_total, size_t *n_unknown, size_t *err_offset)
{
	Scanner		sc;
	Token		tok;
	RnnTokStatus st;
	size_t		total = 0;
	size_t		kept;
	size_t		unknown = 0;

	if (n_ids)
		*n_ids = 0;
	if (n_total)
		*n_total = 0;
	if (n_unknown)
		*n_unknown = 0;
	if (v == NULL || ids == NULL || n_ids == NULL || max_tokens == 0)
		return RNN_TOK_INVALID_ARG;
	st = check_text(text, len, err_offset);
	if (st != RNN_TOK_OK)
		return st;

	scanner_init(&sc, text, len, v->mode);
	while (scanner_next(&sc, &tok))
	{
		uint8_t		buf[RNN_TOKEN_MAX_BYTES];
		size_t		n = token_normalize(&sc, &tok, buf, sizeof(buf));
		int32_t		id = RNN_VOCAB_UNK;

		if (n != SIZE_MAX)
			id = rnn_vocab_lookup(v, (const char *) buf, n);
		ids[cut_slot(total, max_tokens)] = id;
		total++;
	}

	if (total > max_tokens)
	{
		size_t		head = cut_head(max_tokens);
		size_t		r = cut_rotation(total, max_tokens);

		reverse_ids(ids + head, r);
		reverse_ids(ids + head + r, max_tokens - head - r);
		reverse_ids(ids + head, max_tokens - head);
	}
	kept = total < max_tokens ? total : max_tokens;
	for (size_t i = 0; i < kept; i++)
		unknown += ids[i] == RNN_VOCAB_UNK;
	*n_ids = kept;
	if (n_total)
		*n_total = total;
	if (n_unknown)
		*n_unknown = unknown;
	return RNN_TOK_OK;
}
