/*
 * test_codec.c -- unit tests of the weight blob (src/core/codec.c): round
 * trips, the exact byte layout, and rejection of every truncation, every
 * single-bit flip, future versions, foreign data, inconsistent headers,
 * trailing bytes and non-finite parameters.  Standalone TAP program.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "codec.h"
#include "tap.h"

/* ---------------------------------------------------------------------------
 * Helpers
 */

/* Bitwise CRC-32, written independently of codec.c. */
static uint32_t
ref_crc32(const uint8_t *p, size_t n)
{
	uint32_t	crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < n; i++)
	{
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
		(uint32_t) p[3] << 24;
}

static void
wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t) v);
	wr32(p + 4, (uint32_t) (v >> 32));
}

/* Recomputes the trailing checksum of a (modified) blob. */
static void
fix_crc(uint8_t *blob, size_t len)
{
	wr32(blob + len - 4, ref_crc32(blob, len - 4));
}

static RnnStatus
decode_status(const uint8_t *blob, size_t len)
{
	RnnModel   *m = NULL;
	RnnStatus	st = rnn_model_decode(blob, len, &m);

	if ((st == RNN_OK) != (m != NULL))
		return (RnnStatus) -1;	/* out must be set exactly on success */
	rnn_model_free(m);
	return st;
}

/* A copy of blob with one 32-bit field replaced and the checksum fixed. */
static RnnStatus
decode_patched(const uint8_t *blob, size_t len, size_t off, uint32_t v)
{
	uint8_t    *copy = malloc(len);
	RnnStatus	st;

	memcpy(copy, blob, len);
	wr32(copy + off, v);
	fix_crc(copy, len);
	st = decode_status(copy, len);
	free(copy);
	return st;
}

static RnnModel *
make_model(RnnConfig cfg, uint64_t seed)
{
	RnnModel   *m = NULL;

	if (rnn_model_create(&m, &cfg) != RNN_OK)
		return NULL;
	rnn_model_init(m, seed);
	/* awkward values survive bit for bit */
	if (m->n_params >= 6)
	{
		m->params[0] = -0.0f;
		m->params[1] = FLT_MIN / 8.0f;	/* subnormal */
		m->params[2] = FLT_MAX;
		m->params[3] = -FLT_MAX;
		m->params[4] = 1.0f / 3.0f;
		m->params[5] = -1e-30f;
	}
	return m;
}

static int
same_config(const RnnConfig *a, const RnnConfig *b)
{
	return a->cell == b->cell && a->num_layers == b->num_layers &&
		a->bidirectional == b->bidirectional && a->input_size == b->input_size &&
		a->vocab_size == b->vocab_size && a->embedding_dim == b->embedding_dim &&
		a->hidden_size == b->hidden_size && a->output_size == b->output_size &&
		a->head == b->head && a->pooling == b->pooling &&
		a->skip_size == b->skip_size &&
		memcmp(&a->dropout, &b->dropout, sizeof(float)) == 0;
}

static RnnConfig
cfg_lstm_text(void)
{
	RnnConfig	c = {0};

	c.cell = RNN_CELL_LSTM;
	c.num_layers = 2;
	c.bidirectional = 1;
	c.vocab_size = 50;
	c.embedding_dim = 8;
	c.hidden_size = 6;
	c.output_size = 2;
	c.head = RNN_HEAD_CLASSIFIER;
	c.pooling = RNN_POOL_MAX;
	c.dropout = 0.5f;
	return c;
}

static RnnConfig
cfg_gru_forecast(void)
{
	RnnConfig	c = {0};

	c.cell = RNN_CELL_GRU;
	c.num_layers = 1;
	c.input_size = 3;
	c.hidden_size = 5;
	c.output_size = 4;
	c.head = RNN_HEAD_REGRESSION;
	c.pooling = RNN_POOL_LAST;
	c.skip_size = 7;
	c.dropout = 0.25f;
	return c;
}

static RnnConfig
cfg_tanh_tiny(void)
{
	RnnConfig	c = {0};

	c.cell = RNN_CELL_TANH;
	c.num_layers = 3;
	c.input_size = 1;
	c.hidden_size = 1;
	c.output_size = 1;
	return c;
}

static RnnConfig
cfg_gru_bidir_text(void)
{
	RnnConfig	c = {0};

	c.cell = RNN_CELL_GRU;
	c.num_layers = 1;
	c.bidirectional = 1;
	c.vocab_size = 1000;
	c.embedding_dim = 16;
	c.hidden_size = 32;
	c.output_size = 3;
	c.head = RNN_HEAD_CLASSIFIER;
	c.pooling = RNN_POOL_MEAN;
	c.dropout = 0.1f;
	return c;
}

/* ---------------------------------------------------------------------------
 * Tests
 */
static void
test_crc(void)
{
	const char *check = "123456789";
	uint8_t		buf[1000];
	int			ok = 1;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t) (i * 131 + 7);
	ok &= rnn_crc32(0, check, 9) == 0xCBF43926u;
	ok &= rnn_crc32(0, "", 0) == 0;
	ok &= rnn_crc32(0, buf, sizeof(buf)) == ref_crc32(buf, sizeof(buf));
	ok &= rnn_crc32(rnn_crc32(0, buf, 333), buf + 333, sizeof(buf) - 333) ==
		rnn_crc32(0, buf, sizeof(buf));
	TAP_CHECK(ok, "CRC-32: check value 0xCBF43926, matches bitwise reference, chains");
}

static void
test_round_trip(void)
{
	RnnConfig	cfgs[4] = {cfg_lstm_text(), cfg_gru_forecast(), cfg_tanh_tiny(),
	cfg_gru_bidir_text()};
	const char *names[4] = {"bidirectional 2-layer LSTM classifier",
		"GRU forecaster with skip path",
		"3-layer tanh RNN of width 1",
	"bidirectional GRU, vocabulary 1000"};

	for (int k = 0; k < 4; k++)
	{
		RnnModel   *m = make_model(cfgs[k], (uint64_t) k + 1);
		RnnModel   *d = NULL;
		uint8_t    *blob = NULL,
				   *blob2 = NULL;
		size_t		len = 0,
					len2 = 0;
		int			ok = m != NULL;

		ok = ok && rnn_model_encode(m, &blob, &len) == RNN_OK;
		ok = ok && len == RNN_BLOB_OVERHEAD + 4 * m->n_params;
		ok = ok && rnn_model_decode(blob, len, &d) == RNN_OK;
		ok = ok && same_config(&m->cfg, &d->cfg) && d->n_params == m->n_params &&
			memcmp(m->params, d->params, m->n_params * sizeof(float)) == 0;
		/* the decoded model's views point into its own buffer */
		ok = ok && d->p.head_w == d->params + (m->p.head_w - m->params);
		ok = ok && rnn_model_encode(d, &blob2, &len2) == RNN_OK &&
			len2 == len && memcmp(blob, blob2, len) == 0;
		TAP_CHECK(ok, "round trip, byte-exact re-encode: %s (%zu params)", names[k],
				  m ? m->n_params : 0);
		rnn_free(blob);
		rnn_free(blob2);
		rnn_model_free(m);
		rnn_model_free(d);
	}
}

static void
test_layout(void)
{
	RnnModel   *m = make_model(cfg_gru_forecast(), 9);
	uint8_t    *blob = NULL;
	size_t		len = 0,
				n;
	int			ok;
	static const uint8_t head[] = {
		'R', 'N', 'N', 'W', 1, 0, 0, 0, 68, 0, 0, 0,
		1, 0, 0, 0,				/* cell GRU */
		1, 0, 0, 0,				/* num_layers */
		0, 0, 0, 0,				/* bidirectional */
		3, 0, 0, 0,				/* input_size */
		0, 0, 0, 0,				/* vocab_size */
		0, 0, 0, 0,				/* embedding_dim */
		5, 0, 0, 0,				/* hidden_size */
		4, 0, 0, 0,				/* output_size */
		0, 0, 0, 0,				/* head */
		0, 0, 0, 0,				/* pooling */
		7, 0, 0, 0,				/* skip_size */
		0x00, 0x00, 0x80, 0x3E	/* dropout 0.25f */
	};

	m->params[0] = 1.0f;		/* 0x3F800000 */
	m->params[1] = -2.5f;		/* 0xC0200000 */
	ok = rnn_model_encode(m, &blob, &len) == RNN_OK;
	n = m->n_params;
	ok = ok && memcmp(blob, head, sizeof(head)) == 0;
	ok = ok && blob[60] == (uint8_t) n && blob[61] == (uint8_t) (n >> 8) &&
		blob[62] == 0 && blob[63] == 0 && rd32(blob + 64) == 0;
	ok = ok && blob[68] == 0x00 && blob[69] == 0x00 && blob[70] == 0x80 && blob[71] == 0x3F;
	ok = ok && rd32(blob + 72) == 0xC0200000u;
	ok = ok && rd32(blob + len - 4) == ref_crc32(blob, len - 4);
	TAP_CHECK(ok, "byte layout: magic, version, header size, LE config, n_params, float bits, CRC");
	rnn_free(blob);
	rnn_model_free(m);
}

static void
test_truncation_and_flips(void)
{
	RnnModel   *m = make_model(cfg_tanh_tiny(), 3);
	uint8_t    *blob = NULL;
	size_t		len = 0;
	int			ok;
	size_t		wrong = 0,
				flips = 0;

	ok = rnn_model_encode(m, &blob, &len) == RNN_OK;
	for (size_t cut = 0; ok && cut < len; cut++)
	{
		/* a fresh allocation of exactly cut bytes, so ASan sees overreads */
		uint8_t    *p = malloc(cut ? cut : 1);

		memcpy(p, blob, cut);
		if (decode_status(p, cut) != RNN_ERR_TRUNCATED)
			wrong++;
		free(p);
	}
	TAP_CHECK(ok && wrong == 0, "every truncation (0..%zu bytes) rejected with RNN_ERR_TRUNCATED", len - 1);

	wrong = 0;
	for (size_t i = 0; ok && i < len; i++)
		for (int b = 0; b < 8; b++)
		{
			RnnStatus	st;

			blob[i] ^= (uint8_t) (1u << b);
			st = decode_status(blob, len);
			blob[i] ^= (uint8_t) (1u << b);
			flips++;
			if (st == RNN_OK || st == (RnnStatus) -1)
				wrong++;
			/* outside the magic, version and sizes, the checksum catches it */
			if (i >= 12 && i < 60 && st != RNN_ERR_CHECKSUM)
				wrong++;
			if (i >= 68 && st != RNN_ERR_CHECKSUM)
				wrong++;
			if (i < 4 && st != RNN_ERR_MAGIC)
				wrong++;
		}
	TAP_CHECK(ok && wrong == 0, "all %zu single-bit flips rejected", flips);
	TAP_CHECK(decode_status(blob, len) == RNN_OK, "the unflipped blob still decodes");

	/* a few hundred random multi-byte corruptions of a bigger model */
	{
		RnnModel   *big = make_model(cfg_lstm_text(), 5);
		uint8_t    *bb = NULL;
		size_t		bl = 0;
		uint64_t	s = 12345;

		wrong = 0;
		ok = rnn_model_encode(big, &bb, &bl) == RNN_OK;
		for (int it = 0; ok && it < 500; it++)
		{
			uint8_t    *c = malloc(bl);
			int			nb = 1 + it % 5;

			memcpy(c, bb, bl);
			for (int k = 0; k < nb; k++)
			{
				s = s * 6364136223846793005ULL + 1;
				c[(s >> 20) % bl] ^= (uint8_t) (1 + (s >> 40) % 255);
			}
			if (decode_status(c, bl) == RNN_OK)
				wrong++;
			free(c);
		}
		TAP_CHECK(ok && wrong == 0, "500 random multi-byte corruptions rejected");
		rnn_free(bb);
		rnn_model_free(big);
	}
	rnn_free(blob);
	rnn_model_free(m);
}

static void
test_header_checks(void)
{
	RnnModel   *m = make_model(cfg_gru_forecast(), 4);
	uint8_t    *blob = NULL;
	size_t		len = 0;
	int			ok;

	ok = rnn_model_encode(m, &blob, &len) == RNN_OK;

	/* versions */
	ok &= decode_patched(blob, len, 4, 2) == RNN_ERR_VERSION;
	ok &= decode_patched(blob, len, 4, 0xFFFFFFFFu) == RNN_ERR_VERSION;
	ok &= decode_patched(blob, len, 4, 0) == RNN_ERR_CORRUPT;
	{
		/* a future blob may have any layout after the version: only 8 bytes */
		uint8_t		future[8] = {'R', 'N', 'N', 'W', 2, 0, 0, 0};

		ok &= decode_status(future, 8) == RNN_ERR_VERSION;
	}
	TAP_CHECK(ok, "future format version rejected with RNN_ERR_VERSION, version 0 corrupt");

	/* magic */
	{
		uint8_t		gz[] = {0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
		uint8_t    *c = malloc(len);

		ok = decode_status(gz, sizeof(gz)) == RNN_ERR_MAGIC;
		ok &= decode_status((const uint8_t *) "X", 1) == RNN_ERR_MAGIC;
		ok &= decode_status((const uint8_t *) "RN", 2) == RNN_ERR_TRUNCATED;
		ok &= decode_status(NULL, 0) == RNN_ERR_TRUNCATED;
		memcpy(c, blob, len);
		c[3] = 'X';
		fix_crc(c, len);
		ok &= decode_status(c, len) == RNN_ERR_MAGIC;
		c[3] = 'W';
		c[0] = 'r';
		ok &= decode_status(c, len) == RNN_ERR_MAGIC;
		free(c);
		TAP_CHECK(ok, "wrong magic rejected with RNN_ERR_MAGIC");
	}

	/* header size */
	ok = decode_patched(blob, len, 8, 64) == RNN_ERR_CORRUPT;
	ok &= decode_patched(blob, len, 8, 72) == RNN_ERR_CORRUPT;
	ok &= decode_patched(blob, len, 8, 0xFFFFFFFFu) == RNN_ERR_CORRUPT;
	TAP_CHECK(ok, "header size other than 68 rejected");

	/* configuration fields with a valid checksum */
	ok = decode_patched(blob, len, 12, 3) == RNN_ERR_CORRUPT;	/* cell */
	ok &= decode_patched(blob, len, 12, (uint32_t) -1) == RNN_ERR_CORRUPT;
	ok &= decode_patched(blob, len, 16, 0) == RNN_ERR_CORRUPT;	/* num_layers */
	ok &= decode_patched(blob, len, 16, RNN_MAX_LAYERS + 1) == RNN_ERR_CORRUPT;
	ok &= decode_patched(blob, len, 20, 2) == RNN_ERR_CORRUPT;	/* bidirectional */
	ok &= decode_patched(blob, len, 36, 0x80000000u) == RNN_ERR_CORRUPT;	/* hidden */
	ok &= decode_patched(blob, len, 44, 7) == RNN_ERR_CORRUPT;	/* head */
	ok &= decode_patched(blob, len, 48, 3) == RNN_ERR_CORRUPT;	/* pooling */
	ok &= decode_patched(blob, len, 56, 0x7FC00000u) == RNN_ERR_CORRUPT;	/* NaN dropout */
	ok &= decode_patched(blob, len, 56, 0x3F800000u) == RNN_ERR_CORRUPT;	/* dropout 1 */
	TAP_CHECK(ok, "invalid configuration fields rejected with RNN_ERR_CORRUPT");

	/* n_params disagreeing with the configuration */
	ok = decode_patched(blob, len, 36, 6) == RNN_ERR_CORRUPT;	/* hidden 5 -> 6 */
	ok &= decode_patched(blob, len, 52, 6) == RNN_ERR_CORRUPT;	/* skip 7 -> 6 */
	{
		/* one extra parameter, n_params and checksum consistent */
		uint8_t    *c = malloc(len + 4);
		uint64_t	n = m->n_params + 1;

		memcpy(c, blob, len - 4);
		wr64(c + 60, n);
		memset(c + len - 4, 0, 4);
		fix_crc(c, len + 4);
		ok &= decode_status(c, len + 4) == RNN_ERR_CORRUPT;
		/* one parameter fewer */
		wr64(c + 60, n - 2);
		fix_crc(c, len - 4);
		ok &= decode_status(c, len - 4) == RNN_ERR_CORRUPT;
		free(c);
	}
	TAP_CHECK(ok, "n_params != rnn_param_count(cfg) rejected with RNN_ERR_CORRUPT");

	/* absurd n_params: no overflow, no huge allocation */
	{
		uint8_t    *c = malloc(len);

		memcpy(c, blob, len);
		wr64(c + 60, UINT64_MAX);
		ok = decode_status(c, len) == RNN_ERR_TRUNCATED;
		wr64(c + 60, UINT64_C(1) << 62);
		ok &= decode_status(c, len) == RNN_ERR_TRUNCATED;
		wr64(c + 60, (UINT64_C(1) << 62) + 1);
		ok &= decode_status(c, len) == RNN_ERR_TRUNCATED;
		wr64(c + 60, (SIZE_MAX / 4) + 1);
		ok &= decode_status(c, len) == RNN_ERR_TRUNCATED;
		free(c);
		TAP_CHECK(ok, "huge n_params (2^62, 2^64-1) rejected as truncated, no overflow");
	}

	/* trailing bytes */
	{
		uint8_t    *c = malloc(len + 8);

		memcpy(c, blob, len);
		memset(c + len, 0, 8);
		ok = decode_status(c, len + 1) == RNN_ERR_CORRUPT;
		ok &= decode_status(c, len + 4) == RNN_ERR_CORRUPT;
		ok &= decode_status(c, len + 8) == RNN_ERR_CORRUPT;
		/* even with the checksum moved to the very end */
		fix_crc(c, len + 4);
		ok &= decode_status(c, len + 4) == RNN_ERR_CORRUPT;
		free(c);
		TAP_CHECK(ok, "trailing bytes rejected with RNN_ERR_CORRUPT");
	}

	/* non-finite parameters */
	ok = decode_patched(blob, len, 68, 0x7FC00000u) == RNN_ERR_CORRUPT;	/* NaN */
	ok &= decode_patched(blob, len, len - 8, 0xFFC00001u) == RNN_ERR_CORRUPT;
	ok &= decode_patched(blob, len, 72, 0x7F800000u) == RNN_ERR_CORRUPT;	/* +Inf */
	ok &= decode_patched(blob, len, 76, 0xFF800000u) == RNN_ERR_CORRUPT;	/* -Inf */
	TAP_CHECK(ok, "NaN and infinite parameters rejected with RNN_ERR_CORRUPT");

	rnn_free(blob);
	rnn_model_free(m);
}

static void
test_encoder_checks(void)
{
	RnnModel   *m = make_model(cfg_tanh_tiny(), 1);
	uint8_t    *blob = (uint8_t *) &blob;
	size_t		len = 99;
	int			ok;
	float		saved = m->params[2];

	m->params[2] = NAN;
	ok = rnn_model_encode(m, &blob, &len) == RNN_ERR_NONFINITE && blob == NULL && len == 0;
	m->params[2] = INFINITY;
	ok &= rnn_model_encode(m, &blob, &len) == RNN_ERR_NONFINITE;
	m->params[2] = saved;
	m->n_params--;
	ok &= rnn_model_encode(m, &blob, &len) == RNN_ERR_CONFIG;
	m->n_params++;
	m->cfg.dropout = 1.5f;
	ok &= rnn_model_encode(m, &blob, &len) == RNN_ERR_CONFIG;
	m->cfg.dropout = 0.0f;
	ok &= rnn_model_encode(NULL, &blob, &len) == RNN_ERR_INPUT;
	ok &= rnn_model_encode(m, NULL, &len) == RNN_ERR_INPUT;
	ok &= rnn_model_decode((const uint8_t *) "RNNW", 4, NULL) == RNN_ERR_INPUT;
	TAP_CHECK(ok, "encoder refuses non-finite parameters and inconsistent models");
	rnn_model_free(m);
}

/* Allocator that fails the n-th call, to test the out-of-memory paths. */
static int	fail_after = -1;

static void *
failing_alloc(size_t size)
{
	if (fail_after == 0)
		return NULL;
	if (fail_after > 0)
		fail_after--;
	return calloc(1, size);
}

static void
test_nomem(void)
{
	RnnModel   *m = make_model(cfg_gru_forecast(), 2);
	uint8_t    *blob = NULL;
	size_t		len = 0;
	int			ok;

	ok = rnn_model_encode(m, &blob, &len) == RNN_OK;
	rnn_set_allocator(failing_alloc, free);
	for (int k = 0; k < 2; k++)
	{
		RnnModel   *d = (RnnModel *) &d;

		fail_after = k;
		ok &= rnn_model_decode(blob, len, &d) == RNN_ERR_NOMEM && d == NULL;
	}
	{
		uint8_t    *b2 = NULL;
		size_t		l2 = 0;

		fail_after = 0;
		ok &= rnn_model_encode(m, &b2, &l2) == RNN_ERR_NOMEM && b2 == NULL;
	}
	fail_after = -1;
	rnn_set_allocator(NULL, NULL);
	TAP_CHECK(ok, "allocation failures return RNN_ERR_NOMEM without leaks");
	rnn_free(blob);
	rnn_model_free(m);
}

int
main(void)
{
	test_crc();
	test_round_trip();
	test_layout();
	test_truncation_and_flips();
	test_header_checks();
	test_encoder_checks();
	test_nomem();
	return tap_done();
}
