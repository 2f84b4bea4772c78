/*
 * gen_corpus.c -- writes the codec seed corpus: valid blobs of a few small
 * models (every cell, head, pooling, direction), plus a truncated blob and
 * a future-version header.  Usage: gen_corpus DIR
 */
#include <stdio.h>
#include <string.h>

#include "rnn.h"
#include "codec.h"

static int
write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char		path[1024];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n)
	{
		fprintf(stderr, "cannot write %s\n", path);
		return 1;
	}
	return fclose(f) != 0;
}

int
main(int argc, char **argv)
{
	/* cell, layers, bidir, input, vocab, emb, hidden, out, head, pool, skip */
	static const int specs[][11] = {
		{RNN_CELL_TANH, 1, 0, 1, 0, 0, 1, 1, RNN_HEAD_REGRESSION, RNN_POOL_LAST, 0},
		{RNN_CELL_GRU, 1, 0, 2, 0, 0, 2, 3, RNN_HEAD_REGRESSION, RNN_POOL_LAST, 4},
		{RNN_CELL_LSTM, 2, 1, 0, 5, 2, 2, 2, RNN_HEAD_CLASSIFIER, RNN_POOL_MAX, 0},
		{RNN_CELL_GRU, 1, 1, 0, 4, 3, 1, 3, RNN_HEAD_CLASSIFIER, RNN_POOL_MEAN, 0},
		{RNN_CELL_LSTM, 1, 0, 1, 0, 0, 1, 1, RNN_HEAD_REGRESSION, RNN_POOL_LAST, 1},
	};
	int			rc = 0;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (size_t k = 0; k < sizeof(specs) / sizeof(specs[0]); k++)
	{
		RnnConfig	cfg;
		RnnModel   *m = NULL;
		uint8_t    *blob = NULL;
		size_t		len = 0;
		char		name[64];
		const int  *s = specs[k];

		memset(&cfg, 0, sizeof(cfg));
		cfg.cell = (RnnCellKind) s[0];
		cfg.num_layers = s[1];
		cfg.bidirectional = s[2];
		cfg.input_size = s[3];
		cfg.vocab_size = s[4];
		cfg.embedding_dim = s[5];
		cfg.hidden_size = s[6];
		cfg.output_size = s[7];
		cfg.head = (RnnHeadKind) s[8];
		cfg.pooling = (RnnPooling) s[9];
		cfg.skip_size = s[10];
		cfg.dropout = k % 2 ? 0.25f : 0.0f;
		if (rnn_model_create(&m, &cfg) != RNN_OK)
		{
			fprintf(stderr, "config %zu rejected\n", k);
			return 1;
		}
		rnn_model_init(m, 42 + k);
		if (rnn_model_encode(m, &blob, &len) != RNN_OK)
		{
			fprintf(stderr, "config %zu: encode failed\n", k);
			return 1;
		}
		snprintf(name, sizeof(name), "valid-%zu.rnnw", k);
		rc |= write_file(argv[1], name, blob, len);
		if (k == 0)
		{
			uint8_t		future[12];

			rc |= write_file(argv[1], "truncated.rnnw", blob, len / 2);
			memcpy(future, blob, sizeof(future));
			future[4] = 2;
			rc |= write_file(argv[1], "future-version.rnnw", future, sizeof(future));
		}
		rnn_free(blob);
		rnn_model_free(m);
	}
	return rc;
}
