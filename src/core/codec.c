/*
 * codec.c -- the versioned weight blob: encode a model to bytes, decode
 * bytes back to a model.  The byte layout is in codec.h.
 *
 * Constraints: the decoder takes untrusted input (bytea from a table, an
 * imported file).  It checks each length before reading, does all size
 * arithmetic without overflow, never reads outside [blob, blob + len), and
 * validates everything (checksum, configuration, parameter count, finite
 * values) before handing out a model.  Byte order is explicit, so blobs move
 * between hosts of either endianness.  Whatever the encoder accepts the
 * decoder accepts, and decode followed by encode reproduces the blob.
 */
#include <math.h>
#include <string.h>

#include "rnn.h"
#include "codec.h"

#define HDR RNN_BLOB_HEADER_BYTES

/* ---------------------------------------------------------------------------
 * CRC-32, a byte at a time.  crc_table[i] is the CRC register after shifting
 * byte i through the reflected polynomial 0xEDB88320 (the test checks it
 * against a bitwise implementation and the standard check value).
 */
static const uint32_t crc_table[256] = {
	0x00000000, 0x77073096, 0xEE0E612C, 0x990951BA, 0x076DC419, 0x706AF48F,
	0xE963A535, 0x9E6495A3, 0x0EDB8832, 0x79DCB8A4, 0xE0D5E91E, 0x97D2D988,
	0x09B64C2B, 0x7EB17CBD, 0xE7B82D07, 0x90BF1D91, 0x1DB71064, 0x6AB020F2,
	0xF3B97148, 0x84BE41DE, 0x1ADAD47D, 0x6DDDE4EB, 0xF4D4B551, 0x83D385C7,
	0x136C9856, 0x646BA8C0, 0xFD62F97A, 0x8A65C9EC, 0x14015C4F, 0x63066CD9,
	0xFA0F3D63, 0x8D080DF5, 0x3B6E20C8, 0x4C69105E, 0xD56041E4, 0xA2677172,
	0x3C03E4D1, 0x4B04D447, 0xD20D85FD, 0xA50AB56B, 0x35B5A8FA, 0x42B2986C,
	0xDBBBC9D6, 0xACBCF940, 0x32D86CE3, 0x45DF5C75, 0xDCD60DCF, 0xABD13D59,
	0x26D930AC, 0x51DE003A, 0xC8D75180, 0xBFD06116, 0x21B4F4B5, 0x56B3C423,
	0xCFBA9599, 0xB8BDA50F, 0x2802B89E, 0x5F058808, 0xC60CD9B2, 0xB10BE924,
	0x2F6F7C87, 0x58684C11, 0xC1611DAB, 0xB6662D3D, 0x76DC4190, 0x01DB7106,
	0x98D220BC, 0xEFD5102A, 0x71B18589, 0x06B6B51F, 0x9FBFE4A5, 0xE8B8D433,
	0x7807C9A2, 0x0F00F934, 0x9609A88E, 0xE10E9818, 0x7F6A0DBB, 0x086D3D2D,
	0x91646C97, 0xE6635C01, 0x6B6B51F4, 0x1C6C6162, 0x856530D8, 0xF262004E,
	0x6C0695ED, 0x1B01A57B, 0x8208F4C1, 0xF50FC457, 0x65B0D9C6, 0x12B7E950,
	0x8BBEB8EA, 0xFCB9887C, 0x62DD1DDF, 0x15DA2D49, 0x8CD37CF3, 0xFBD44C65,
	0x4DB26158, 0x3AB551CE, 0xA3BC0074, 0xD4BB30E2, 0x4ADFA541, 0x3DD895D7,
	0xA4D1C46D, 0xD3D6F4FB, 0x4369E96A, 0x346ED9FC, 0xAD678846, 0xDA60B8D0,
	0x44042D73, 0x33031DE5, 0xAA0A4C5F, 0xDD0D7CC9, 0x5005713C, 0x270241AA,
	0xBE0B1010, 0xC90C2086, 0x5768B525, 0x206F85B3, 0xB966D409, 0xCE61E49F,
	0x5EDEF90E, 0x29D9C998, 0xB0D09822, 0xC7D7A8B4, 0x59B33D17, 0x2EB40D81,
	0xB7BD5C3B, 0xC0BA6CAD, 0xEDB88320, 0x9ABFB3B6, 0x03B6E20C, 0x74B1D29A,
	0xEAD54739, 0x9DD277AF, 0x04DB2615, 0x73DC1683, 0xE3630B12, 0x94643B84,
	0x0D6D6A3E, 0x7A6A5AA8, 0xE40ECF0B, 0x9309FF9D, 0x0A00AE27, 0x7D079EB1,
	0xF00F9344, 0x8708A3D2, 0x1E01F268, 0x6906C2FE, 0xF762575D, 0x806567CB,
	0x196C3671, 0x6E6B06E7, 0xFED41B76, 0x89D32BE0, 0x10DA7A5A, 0x67DD4ACC,
	0xF9B9DF6F, 0x8EBEEFF9, 0x17B7BE43, 0x60B08ED5, 0xD6D6A3E8, 0xA1D1937E,
	0x38D8C2C4, 0x4FDFF252, 0xD1BB67F1, 0xA6BC5767, 0x3FB506DD, 0x48B2364B,
	0xD80D2BDA, 0xAF0A1B4C, 0x36034AF6, 0x41047A60, 0xDF60EFC3, 0xA867DF55,
	0x316E8EEF, 0x4669BE79, 0xCB61B38C, 0xBC66831A, 0x256FD2A0, 0x5268E236,
	0xCC0C7795, 0xBB0B4703, 0x220216B9, 0x5505262F, 0xC5BA3BBE, 0xB2BD0B28,
	0x2BB45A92, 0x5CB36A04, 0xC2D7FFA7, 0xB5D0CF31, 0x2CD99E8B, 0x5BDEAE1D,
	0x9B64C2B0, 0xEC63F226, 0x756AA39C, 0x026D930A, 0x9C0906A9, 0xEB0E363F,
	0x72076785, 0x05005713, 0x95BF4A82, 0xE2B87A14, 0x7BB12BAE, 0x0CB61B38,
	0x92D28E9B, 0xE5D5BE0D, 0x7CDCEFB7, 0x0BDBDF21, 0x86D3D2D4, 0xF1D4E242,
	0x68DDB3F8, 0x1FDA836E, 0x81BE16CD, 0xF6B9265B, 0x6FB077E1, 0x18B74777,
	0x88085AE6, 0xFF0F6A70, 0x66063BCA, 0x11010B5C, 0x8F659EFF, 0xF862AE69,
	0x616BFFD3, 0x166CCF45, 0xA00AE278, 0xD70DD2EE, 0x4E048354, 0x3903B3C2,
	0xA7672661, 0xD06016F7, 0x4969474D, 0x3E6E77DB, 0xAED16A4A, 0xD9D65ADC,
	0x40DF0B66, 0x37D83BF0, 0xA9BCAE53, 0xDEBB9EC5, 0x47B2CF7F, 0x30B5FFE9,
	0xBDBDF21C, 0xCABAC28A, 0x53B39330, 0x24B4A3A6, 0xBAD03605, 0xCDD70693,
	0x54DE5729, 0x23D967BF, 0xB3667A2E, 0xC4614AB8, 0x5D681B02, 0x2A6F2B94,
	0xB40BBE37, 0xC30C8EA1, 0x5A05DF1B, 0x2D02EF8D
};

uint32_t
rnn_crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = (crc >> 8) ^ crc_table[(crc ^ p[i]) & 0xFF];
	return ~crc;
}

/* ---------------------------------------------------------------------------
 * Little-endian access
 */
static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t) v);
	put_u32(p + 4, (uint32_t) (v >> 32));
}

static void
put_i32(uint8_t *p, int32_t v)
{
	put_u32(p, (uint32_t) v);
}

static void
put_f32(uint8_t *p, float f)
{
	uint32_t	v;

	memcpy(&v, &f, sizeof(v));
	put_u32(p, v);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t) get_u32(p) | ((uint64_t) get_u32(p + 4) << 32);
}

static int32_t
get_i32(const uint8_t *p)
{
	uint32_t	v = get_u32(p);
	int32_t		i;

	memcpy(&i, &v, sizeof(i));	/* two's complement, no overflow */
	return i;
}

static float
get_f32(const uint8_t *p)
{
	uint32_t	v = get_u32(p);
	float		f;

	memcpy(&f, &v, sizeof(f));
	return f;
}

/* ---------------------------------------------------------------------------
 * Config fields, in blob order
 */
static void
put_config(uint8_t *p, const RnnConfig *cfg)
{
	put_i32(p + 0, (int32_t) cfg->cell);
	put_i32(p + 4, cfg->num_layers);
	put_i32(p + 8, cfg->bidirectional);
	put_i32(p + 12, cfg->input_size);
	put_i32(p + 16, cfg->vocab_size);
	put_i32(p + 20, cfg->embedding_dim);
	put_i32(p + 24, cfg->hidden_size);
	put_i32(p + 28, cfg->output_size);
	put_i32(p + 32, (int32_t) cfg->head);
	put_i32(p + 36, (int32_t) cfg->pooling);
	put_i32(p + 40, cfg->skip_size);
	put_f32(p + 44, cfg->dropout);
}

/* Enum fields are range-checked before they become enums. */
static RnnStatus
get_config(const uint8_t *p, RnnConfig *cfg)
{
	int32_t		cell = get_i32(p + 0);
	int32_t		head = get_i32(p + 32);
	int32_t		pooling = get_i32(p + 36);

	if (cell < RNN_CELL_TANH || cell > RNN_CELL_LSTM ||
		head < RNN_HEAD_REGRESSION || head > RNN_HEAD_STEPS ||
		pooling < RNN_POOL_LAST || pooling > RNN_POOL_MEAN)
		return RNN_ERR_CORRUPT;
	memset(cfg, 0, sizeof(*cfg));
	cfg->cell = (RnnCellKind) cell;
	cfg->num_layers = get_i32(p + 4);
	cfg->bidirectional = get_i32(p + 8);
	cfg->input_size = get_i32(p + 12);
	cfg->vocab_size = get_i32(p + 16);
	cfg->embedding_dim = get_i32(p + 20);
	cfg->hidden_size = get_i32(p + 24);
	cfg->output_size = get_i32(p + 28);
	cfg->head = (RnnHeadKind) head;
	cfg->pooling = (RnnPooling) pooling;
	cfg->skip_size = get_i32(p + 40);
	cfg->dropout = get_f32(p + 44);
	return RNN_OK;
}

/* ---------------------------------------------------------------------------
 * Encode
 */
RnnStatus
rnn_model_encode(const RnnModel *model, uint8_t **out, size_t *out_len)
{
	uint8_t    *blob;
	size_t		n,
				total;

	if (out == NULL || out_len == NULL || model == NULL)
		return RNN_ERR_INPUT;
	*out = NULL;
	*out_len = 0;

	/* write nothing the decoder would reject */
	if (rnn_config_validate(&model->cfg, NULL) != RNN_OK ||
		model->n_params != rnn_param_count(&model->cfg) ||
		(model->n_params > 0 && model->params == NULL))
		return RNN_ERR_CONFIG;
	n = model->n_params;
	if (n > (SIZE_MAX - RNN_BLOB_OVERHEAD) / sizeof(float))
		return RNN_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(model->params[i]))
			return RNN_ERR_NONFINITE;
	total = RNN_BLOB_OVERHEAD + n * sizeof(float);

	blob = rnn_alloc(total);
	if (blob == NULL)
		return RNN_ERR_NOMEM;
	memcpy(blob, RNN_BLOB_MAGIC, 4);
	put_u32(blob + 4, RNN_FORMAT_VERSION);
	put_u32(blob + 8, HDR);
	put_config(blob + 12, &model->cfg);
	put_u64(blob + 60, (uint64_t) n);
	for (size_t i = 0; i < n; i++)
		put_f32(blob + HDR + 4 * i, model->params[i]);
	put_u32(blob + HDR + 4 * n, rnn_crc32(0, blob, HDR + 4 * n));

	*out = blob;
	*out_len = total;
	return RNN_OK;
}

/* ---------------------------------------------------------------------------
 * Decode
 */
RnnStatus
rnn_model_decode(const uint8_t *blob, size_t len, RnnModel **out)
{
	uint32_t	version;
	uint64_t	n_params;
	size_t		n,
				body;
	RnnConfig	cfg;
	RnnModel   *m;
	RnnStatus	st;

	if (out == NULL)
		return RNN_ERR_INPUT;
	*out = NULL;
	if (blob == NULL)
		len = 0;

	/* magic: a wrong first byte is "not ours", a short prefix is truncated */
	if (memcmp(blob ? (const void *) blob : "", RNN_BLOB_MAGIC, len < 4 ? len : 4) != 0)
		return RNN_ERR_MAGIC;
	if (len < 8)
		return RNN_ERR_TRUNCATED;

	/* version before anything else: a newer layout is not ours to parse */
	version = get_u32(blob + 4);
	if (version > RNN_FORMAT_VERSION)
		return RNN_ERR_VERSION;
	if (version == 0)
		return RNN_ERR_CORRUPT;
	if (len < 12)
		return RNN_ERR_TRUNCATED;
	if (get_u32(blob + 8) != HDR)
		return RNN_ERR_CORRUPT;
	if (len < HDR)
		return RNN_ERR_TRUNCATED;

	/* n_params against what the bytes can hold; no overflow: len >= HDR */
	n_params = get_u64(blob + 60);
	body = len - HDR;
	if (body < 4 || n_params > (uint64_t) ((body - 4) / sizeof(float)))
		return RNN_ERR_TRUNCATED;
	n = (size_t) n_params;
	if (body - 4 != n * sizeof(float))
		return RNN_ERR_CORRUPT;	/* trailing bytes */

	if (get_u32(blob + HDR + 4 * n) != rnn_crc32(0, blob, HDR + 4 * n))
		return RNN_ERR_CHECKSUM;

	/* the header is intact; is it a model we can build? */
	if (get_config(blob + 12, &cfg) != RNN_OK ||
		rnn_config_validate(&cfg, NULL) != RNN_OK ||
		rnn_param_count(&cfg) != n)
		return RNN_ERR_CORRUPT;

	st = rnn_model_create(&m, &cfg);
	if (st != RNN_OK)
		return st == RNN_ERR_NOMEM ? RNN_ERR_NOMEM : RNN_ERR_CORRUPT;
	for (size_t i = 0; i < n; i++)
	{
		float		f = get_f32(blob + HDR + 4 * i);

		if (!isfinite(f))
		{
			rnn_model_free(m);
			return RNN_ERR_CORRUPT;
		}
		m->params[i] = f;
	}
	*out = m;
	return RNN_OK;
}
