/*
 * classify_ngram.c -- the PostgreSQL side of a classifier's n-gram linear
 * path (src/core/ngram.h): fitting it inside rnn.train_classifier, and the
 * weights blob that carries it.
 *
 * A classifier with an n-gram path stores, in rnn.models.weights, its
 * engine blob followed by the n-gram blob:
 *
 *   "RNNW" ... engine ... CRC | "RNNG" ... n-gram table ... CRC
 *
 * so dump/restore, Citus' reference table, rnn.export_model and
 * rnn.import_model carry both without a new column, and a model without
 * the path is byte for byte what it was.  Decoding checks the n-gram part
 * against the network: a classifier head, as many classes, the same
 * vocabulary size.
 */
#include "postgres.h"

#include "miscadmin.h"

#include "classify.h"

static void
ngram_mismatch(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("%s: the n-gram table does not fit the network", what),
			 errdetail("%s", detail)));
}

RnnModel *
rnn_decode_weights_or_raise(const bytea *weights, const char *what, RnnNgram **ngram_out)
{
	const uint8_t *blob = (const uint8_t *) VARDATA_ANY(weights);
	Size		len = VARSIZE_ANY_EXHDR(weights);
	size_t		engine_len = rnn_model_blob_size(blob, len);
	RnnModel   *model = NULL;
	RnnNgram   *ng = NULL;
	RnnStatus	st;

	st = rnn_model_decode(blob, engine_len, &model);
	if (st != RNN_OK)
		rnn_raise_status(st, what, (int64) len);
	if (engine_len < len)
	{
		st = rnn_ngram_decode(blob + engine_len, len - engine_len, &ng);
		if (st != RNN_OK)
			ereport(ERROR,
					(errcode(st == RNN_ERR_NOMEM ? ERRCODE_OUT_OF_MEMORY : ERRCODE_DATA_CORRUPTED),
					 errmsg("%s: the %zu bytes after the network are not a valid n-gram table",
							what, (size_t) (len - engine_len)),
					 errdetail("The n-gram table reads as: %s.", rnn_status_message(st)),
					 errhint("The blob was changed after it was written; export the model again from its source.")));
		if (model->cfg.head != RNN_HEAD_CLASSIFIER)
			ngram_mismatch(what, "Only a classifier has an n-gram path.");
		if (ng->n_classes != model->cfg.output_size)
			ngram_mismatch(what, psprintf("The table has %d classes, the network %d.",
										  ng->n_classes, model->cfg.output_size));
		if (ng->vocab_size != model->cfg.vocab_size)
			ngram_mismatch(what, psprintf("The table has %d unigram rows, the vocabulary %d tokens.",
										  ng->vocab_size, model->cfg.vocab_size));
	}
	if (ngram_out)
		*ngram_out = ng;
	else
		rnn_ngram_free(ng);
	return model;
}

bytea *
rnn_classifier_weights(const RnnModel *model, const RnnNgram *ng)
{
	uint8_t    *blob,
			   *nblob = NULL;
	size_t		len,
				nlen = 0;
	bytea	   *out;

	rnn_check_status(rnn_model_encode(model, &blob, &len), "could not encode the model");
	if (ng)
		rnn_check_status(rnn_ngram_encode(ng, &nblob, &nlen), "could not encode the n-gram table");
	out = (bytea *) palloc_extended(len + nlen + VARHDRSZ, MCXT_ALLOC_HUGE);
	SET_VARSIZE(out, len + nlen + VARHDRSZ);
	memcpy(VARDATA(out), blob, len);
	if (nlen > 0)
		memcpy(VARDATA(out) + len, nblob, nlen);
	rnn_free(blob);
	rnn_free(nblob);
	return out;
}

static void
fit_progress(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

RnnNgram *
rnn_fit_ngram_or_raise(const RnnNgramData *data, int order, uint64 seed,
					   RnnNgramFitResult *res, const char *model_name)
{
	RnnNgramFitOptions opt;
	RnnNgram   *ng = NULL;

	memset(&opt, 0, sizeof(opt));
	opt.order = order;
	opt.folds = Min(5, data->n);
	opt.seed = seed ^ 0x6e6772616dULL;
	opt.on_progress = fit_progress;
	if (opt.folds < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too few training rows for an n-gram path: %d", data->n),
				 errhint("Train with ngram_order => 0, or on more rows.")));
	rnn_check_train_memory(rnn_ngram_fit_memory(data, &opt),
						   psprintf("fitting the n-gram path of model \"%s\"", model_name));
	rnn_check_status(rnn_ngram_fit(&ng, data, &opt, res),
					 psprintf("could not fit the n-gram path of model \"%s\"", model_name));
	return ng;
}
