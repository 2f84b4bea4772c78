/*
 * fuzz_codec.c -- libFuzzer target for the weight blob decoder.
 *
 * Each input is decoded as is, then again with its last four bytes replaced
 * by the correct CRC-32, so that mutations get past the checksum and reach
 * the configuration, parameter-count and finiteness checks.  A blob that
 * decodes must re-encode to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "codec.h"

static void
check_one(const uint8_t *data, size_t size)
{
	RnnModel   *m = NULL;
	RnnStatus	st = rnn_model_decode(data, size, &m);

	if (st != RNN_OK)
	{
		if (m != NULL)
			abort();
		return;
	}
	if (m == NULL)
		abort();
	{
		uint8_t    *blob = NULL;
		size_t		len = 0;

		/* decode then encode is the identity */
		if (rnn_model_encode(m, &blob, &len) != RNN_OK || len != size ||
			memcmp(blob, data, size) != 0)
			abort();
		rnn_free(blob);
	}
	rnn_model_free(m);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_one(data, size);
	if (size >= 8)
	{
		/* exact-size copy: ASan catches any read past the end */
		uint8_t    *copy = malloc(size);
		uint32_t	crc;

		if (copy == NULL)
			return 0;
		memcpy(copy, data, size);
		crc = rnn_crc32(0, copy, size - 4);
		for (int i = 0; i < 4; i++)
			copy[size - 4 + i] = (uint8_t) (crc >> (8 * i));
		check_one(copy, size);
		free(copy);
	}
	return 0;
}
