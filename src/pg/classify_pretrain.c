/*
 * classify_pretrain.c -- language-model pretraining of a classifier's
 * embedding and recurrent layers on unlabelled text (rnn.train_classifier's
 * pretrain_relation, rows with a NULL label), before the labelled
 * fine-tuning.
 *
 * The language model is the engine's (rnn_fit_stream: the per-step softmax
 * head RNN_HEAD_STEPS, masked per-step cross-entropy, truncated BPTT over
 * one token stream with each text preceded by the boundary id 0, as
 * rnn.train_language_model), run on a unidirectional twin of the
 * classifier: same cell, layers, embedding and hidden sizes, vocabulary.
 * Its softmax covers the RNN_PRETRAIN_OUTPUT most frequent tokens; rarer
 * ones are read but not predicted (masked), so an epoch's cost does not
 * grow with the vocabulary's long tail, and a rare word still learns from
 * the words around it.
 *
 *  - Forward direction: the twin reads the stream and predicts the next
 *    token.
 *  - Backward direction (bidirectional classifiers): a second twin reads
 *    the stream reversed -- every text backwards, texts in reverse order --
 *    and so predicts the previous token, as ELMo's backward LM.
 *
 * The embedding is one matrix shared by both directions: epochs alternate
 * forward, backward, and the embedding passes from one twin to the other.
 * Each direction's recurrent weights then become that direction's weights in
 * the classifier.  Above the first layer a bidirectional layer reads both
 * directions of the layer below; a direction's pretrained input weights go
 * to the columns of its own direction and the other direction's columns
 * start at zero, so the untrained classifier computes exactly the two
 * language models' states (the forward one never sees the future).
 *
 * The twins' softmax heads are dropped: the classifier's head reads
 * pooled features, not next-token logits, and a stored classifier stays
 * the same size and format (export, scoring, streaming untouched).
 *
 * Epochs: pretrain_epochs, or -1 for "auto" (a pretrain_relation without
 * pretrain_epochs): up to RNN_PRETRAIN_AUTO_MAX epochs, stopping when the
 * language models' loss on the held-out stream (the classifier's validation
 * texts) stops improving, keeping the best.  Pretraining is never the
 * default: on SST-2 with MR's sentences it cost 6x the training time for
 * no gain that validation could tell from noise (README).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "portability/instr_time.h"

#include "classify.h"
#include "text_data.h"
#include "text_model.h"

#define RNN_PRETRAIN_AUTO_MAX 3
#define RNN_PRETRAIN_BATCH 32
#define RNN_PRETRAIN_BPTT 35
/* tokens the language models predict: the most frequent (ids are in
 * frequency order); rarer ones are inputs only (fit_stream.c masks them) */
#define RNN_PRETRAIN_OUTPUT 2000

static void
on_batch(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

/* Boundary, text, boundary, text, ..., boundary: seqs a[idx] in seeded random order. */
static int32 *
stream_of(const RnnSeqs *a, int a_first, int a_count, const RnnSeqs *b, uint64 seed, Size *n_out)
{
	int			n = a_count + (b ? b->n : 0);
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	Size		total = 1,
				pos = 0;
	int32	   *ids;
	RnnRng		rng;

	for (int k = 0; k < n; k++)
	{
		order[k] = k;
		total += 1 + (k < a_count ? a->len[a_first + k] : b->len[k - a_count]);
	}
	rnn_rng_seed(&rng, seed);
	rnn_rng_shuffle(&rng, order, n);
	ids = palloc_extended(sizeof(int32) * total, MCXT_ALLOC_HUGE);
	for (int k = 0; k < n; k++)
	{
		const RnnSeqs *s = order[k] < a_count ? a : b;
		int			i = order[k] < a_count ? a_first + order[k] : order[k] - a_count;

		ids[pos++] = RNN_LM_BOUNDARY;
		memcpy(ids + pos, s->ids + s->off[i], sizeof(int32) * s->len[i]);
		pos += s->len[i];
	}
	ids[pos++] = RNN_LM_BOUNDARY;
	Assert(pos == total);
	pfree(order);
	*n_out = total;
	return ids;
}

static int32 *
reversed(const int32 *v, Size n)
{
	int32	   *r = palloc_extended(sizeof(int32) * Max(n, 1), MCXT_ALLOC_HUGE);

	for (Size i = 0; i < n; i++)
		r[i] = v[n - 1 - i];
	return r;
}

/* The classifier's unidirectional language-model twin. */
static RnnModel *
twin(const RnnModel *clf, uint64 seed)
{
	RnnConfig	cfg = clf->cfg;
	RnnModel   *m;

	cfg.bidirectional = 0;
	cfg.output_size = Min(cfg.vocab_size, RNN_PRETRAIN_OUTPUT);
	cfg.head = RNN_HEAD_STEPS;
	cfg.pooling = RNN_POOL_LAST;
	rnn_check_status(rnn_model_create(&m, &cfg), "could not create the language model");
	rnn_model_init(m, seed);
	/* the classifier's embedding: its random start, or its word vectors */
	memcpy(m->p.embedding, clf->p.embedding,
		   sizeof(float) * (size_t) cfg.vocab_size * cfg.embedding_dim);
	return m;
}

/* Direction dir of the classifier := the recurrent layers of lm. */
static void
copy_direction(RnnModel *clf, const RnnModel *lm, int dir)
{
	const RnnConfig *cfg = &clf->cfg;
	int			GH = rnn_cell_gates(cfg->cell) * cfg->hidden_size;
	int			H = cfg->hidden_size;

	for (int l = 0; l < cfg->num_layers; l++)
	{
		int			in_clf = rnn_layer_input_size(cfg, l);
		int			in_lm = rnn_layer_input_size(&lm->cfg, l);

		if (in_clf == in_lm)
			memcpy(clf->p.w_ih[l][dir], lm->p.w_ih[l][0], sizeof(float) * (size_t) GH * in_lm);
		else
		{
			/* (GH, 2H): columns [dir*H, dir*H + H) read this direction */
			Assert(in_clf == 2 * in_lm && in_lm == H);
			for (int r = 0; r < GH; r++)
			{
				float	   *row = clf->p.w_ih[l][dir] + (size_t) r * in_clf;

				memset(row, 0, sizeof(float) * in_clf);
				memcpy(row + dir * H, lm->p.w_ih[l][0] + (size_t) r * H, sizeof(float) * H);
			}
		}
		memcpy(clf->p.w_hh[l][dir], lm->p.w_hh[l][0], sizeof(float) * (size_t) GH * H);
		memcpy(clf->p.b_ih[l][dir], lm->p.b_ih[l][0], sizeof(float) * GH);
		memcpy(clf->p.b_hh[l][dir], lm->p.b_hh[l][0], sizeof(float) * GH);
	}
}

/* One epoch of one direction; returns its validation loss (or training loss). */
static double
run_epoch(RnnModel *lm, const int32 *train, Size n_train, const int32 *valid, Size n_valid,
		  const RnnPretrainOptions *po, int epoch, double *train_loss)
{
	RnnStreamOptions so;
	RnnFitResult fr;
	double		tl = NAN;

	rnn_stream_defaults(&so);
	so.epochs = 1;
	so.batch_size = RNN_PRETRAIN_BATCH;
	so.bptt = RNN_PRETRAIN_BPTT;
	so.patience = 0;
	so.seed = po->seed + (uint64) epoch * 7919;
	so.optim.learning_rate = (float) po->learning_rate;
	so.optim.clip_norm = (float) po->clip_norm;
	if (po->freeze_embeddings)
		so.optim.frozen_prefix = (size_t) lm->cfg.vocab_size * lm->cfg.embedding_dim;
	so.on_batch = on_batch;
	memset(&fr, 0, sizeof(fr));
	fr.train_curve = &tl;
	rnn_check_status(rnn_fit_stream(lm, train, n_train, valid, n_valid, &so, &fr),
					 psprintf("could not pretrain model \"%s\"", po->model_name));
	*train_loss = tl;
	return fr.best_valid_loss;
}

void
rnn_classifier_pretrain(RnnModel *clf, const RnnSeqs *labelled, int n_train, int n_valid,
						const RnnSeqs *unlabelled, const RnnPretrainOptions *po,
						RnnPretrainResult *res)
{
	int			dirs = clf->cfg.bidirectional ? 2 : 1;
	bool		auto_epochs = po->epochs < 0;
	int			max_epochs = auto_epochs ? RNN_PRETRAIN_AUTO_MAX : po->epochs;
	int32	   *train[2],
			   *valid[2] = {NULL, NULL};
	Size		n_tr,
				n_va = 0;
	RnnModel   *lm[2] = {NULL, NULL};
	float	   *best[2] = {NULL, NULL};
	size_t		emb = (size_t) clf->cfg.vocab_size * clf->cfg.embedding_dim;
	double		best_loss = INFINITY;
	int			since_best = 0;
	RnnConfig	cfg;
	Size		need;
	instr_time	t0,
				t1;

	memset(res, 0, sizeof(*res));
	res->best_epoch = 0;
	res->valid_loss = NAN;
	if (max_epochs <= 0)
		return;
	INSTR_TIME_SET_CURRENT(t0);

	/* streams: training texts and unlabelled texts; validation texts held out */
	train[0] = stream_of(labelled, 0, n_train, unlabelled, po->seed ^ 0x707265ULL, &n_tr);
	if (n_valid > 0)
		valid[0] = stream_of(labelled, n_train, n_valid, NULL, po->seed ^ 0x76616cULL, &n_va);
	if (n_va < 2)
		n_va = 0;
	res->tokens = n_tr;

	/* memory: the twins, their best copies, the streams, one fit at a time */
	cfg = clf->cfg;
	cfg.bidirectional = 0;
	cfg.output_size = Min(cfg.vocab_size, RNN_PRETRAIN_OUTPUT);
	cfg.head = RNN_HEAD_STEPS;
	cfg.pooling = RNN_POOL_LAST;
	need = rnn_fit_stream_memory(&cfg, RNN_PRETRAIN_BATCH, RNN_PRETRAIN_BPTT);
	if (need != SIZE_MAX)
		need += (Size) dirs * (auto_epochs ? 2 : 1) * rnn_param_count(&cfg) * sizeof(float) +
			clf->n_params * sizeof(float) + (Size) dirs * sizeof(int32) * (n_tr + n_va);
	rnn_check_train_memory(need, psprintf("pretraining model \"%s\"", po->model_name));

	if (dirs == 2)
	{
		train[1] = reversed(train[0], n_tr);
		if (n_va > 0)
			valid[1] = reversed(valid[0], n_va);
	}
	for (int d = 0; d < dirs; d++)
	{
		lm[d] = twin(clf, po->seed + 1 + d);
		if (auto_epochs && n_va > 0)
			best[d] = palloc_extended(sizeof(float) * lm[d]->n_params, MCXT_ALLOC_HUGE);
	}

	for (int epoch = 1; epoch <= max_epochs; epoch++)
	{
		double		vl[2] = {NAN, NAN},
					tl[2] = {NAN, NAN},
					score = 0;

		for (int d = 0; d < dirs; d++)
		{
			/* the shared embedding from the direction trained last */
			if (dirs == 2 && (epoch > 1 || d > 0))
				memcpy(lm[d]->p.embedding, lm[1 - d]->p.embedding, sizeof(float) * emb);
			vl[d] = run_epoch(lm[d], train[d], n_tr, valid[d], n_va, po, epoch * 2 + d, &tl[d]);
			score += n_va > 0 ? vl[d] : tl[d];
		}
		score /= dirs;
		res->epochs_run = epoch;
		INSTR_TIME_SET_CURRENT(t1);
		INSTR_TIME_SUBTRACT(t1, t0);
		if (rnn_progress_guc)
		{
			if (n_va > 0)
				ereport(NOTICE,
						(errmsg("%s: pretraining epoch %d/%d%s: train %.4f, validation %.4f nats/token%s, %.1f s",
								po->model_name, epoch, max_epochs, auto_epochs ? " (at most)" : "",
								dirs == 2 ? (tl[0] + tl[1]) / 2 : tl[0], score,
								dirs == 2 ? " (mean of both directions)" : "",
								INSTR_TIME_GET_DOUBLE(t1))));
			else
				ereport(NOTICE,
						(errmsg("%s: pretraining epoch %d/%d: train %.4f nats/token%s, %.1f s",
								po->model_name, epoch, max_epochs,
								dirs == 2 ? (tl[0] + tl[1]) / 2 : tl[0],
								dirs == 2 ? " (mean of both directions)" : "",
								INSTR_TIME_GET_DOUBLE(t1))));
		}
		rnn_report_progress("rnn.train_classifier('%s'): pretraining epoch %d/%d, %.4f nats/token",
							po->model_name, epoch, max_epochs, score);
		if (!auto_epochs || n_va == 0)
		{
			res->best_epoch = epoch;
			res->valid_loss = n_va > 0 ? score : NAN;
			continue;
		}
		if (score < best_loss)
		{
			best_loss = score;
			res->best_epoch = epoch;
			res->valid_loss = score;
			since_best = 0;
			for (int d = 0; d < dirs; d++)
				memcpy(best[d], lm[d]->params, sizeof(float) * lm[d]->n_params);
		}
		else if (++since_best >= 1)
			break;
	}
	if (best[0])
		for (int d = 0; d < dirs; d++)
			memcpy(lm[d]->params, best[d], sizeof(float) * lm[d]->n_params);

	/* the classifier: the embedding trained last, each direction's layers */
	memcpy(clf->p.embedding, lm[dirs - 1]->p.embedding, sizeof(float) * emb);
	for (int d = 0; d < dirs; d++)
		copy_direction(clf, lm[d], d);
	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	res->seconds = INSTR_TIME_GET_DOUBLE(t1);
	for (int d = 0; d < dirs; d++)
		rnn_model_free(lm[d]);
	rnn_progress_done();
}
