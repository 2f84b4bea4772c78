/*
 * rnn.h -- the rnn_ext engine: GRU, LSTM and vanilla RNN networks with full
 * BPTT, Adam and a versioned weight format, in plain C11 + CBLAS.
 *
 * Nothing here includes PostgreSQL headers.  Functions return an RnnStatus;
 * the PostgreSQL side (src/pg) turns non-OK codes into ereport().  Memory
 * comes from rnn_alloc()/rnn_free() (see alloc.c) so the server can route it
 * into a memory context and have it freed on error.
 *
 * Conventions (llm.c style):
 *   - shapes are written in comments as (rows, cols), row-major;
 *   - gate order is PyTorch's: LSTM i,f,g,o; GRU r,z,n (b_hn inside r*(..));
 *   - sequences in a batch are "packed" like torch.nn.utils.rnn.PackedSequence:
 *     lengths sorted descending, time-major, and step t holds only the
 *     batch_sizes[t] sequences still running, so no work is done on padding.
 *     Row (t, b) of a packed tensor is row offsets[t] + b.
 *   - gradient buffers start with d and backward passes accumulate (+=), so
 *     zeroing the gradients is one memset of the flat gradient buffer.
 */
#ifndef RNN_CORE_H
#define RNN_CORE_H

#include <stddef.h>
#include <stdint.h>

#define RNN_MAX_LAYERS 8
#define RNN_MAX_HIDDEN 4096
#define RNN_MAX_VOCAB 2000000
#define RNN_MAX_OUTPUT 100000
#define RNN_MAX_INPUT 100000

/* ---------------------------------------------------------------------------
 * Status codes
 */
typedef enum RnnStatus
{
	RNN_OK = 0,
	RNN_ERR_NOMEM,				/* an allocation failed */
	RNN_ERR_CONFIG,				/* a hyper-parameter is out of range */
	RNN_ERR_INPUT,				/* a batch is malformed (lengths, token ids) */
	RNN_ERR_NONFINITE,			/* NaN or Infinity in a loss or gradient */
	RNN_ERR_TRUNCATED,			/* a weight blob is shorter than it says */
	RNN_ERR_MAGIC,				/* not an rnn_ext weight blob */
	RNN_ERR_VERSION,			/* blob written by a newer format version */
	RNN_ERR_CHECKSUM,			/* blob bytes do not match their checksum */
	RNN_ERR_CORRUPT				/* blob header is inconsistent */
} RnnStatus;

const char *rnn_status_message(RnnStatus status);

/* ---------------------------------------------------------------------------
 * Allocation hooks (alloc.c).  Default: malloc/free.  Allocations are
 * zero-filled.
 */
typedef void *(*RnnAllocFn) (size_t size);
typedef void (*RnnFreeFn) (void *ptr);
void		rnn_set_allocator(RnnAllocFn alloc_fn, RnnFreeFn free_fn);
void	   *rnn_alloc(size_t size);	/* zeroed, NULL on failure */
void		rnn_free(void *ptr);

/* ---------------------------------------------------------------------------
 * BLAS (blas.c).  Row-major single-precision GEMM:
 *   C (M,N) = alpha * op(A) op(B) + beta * C,  op(X) = X or X^T.
 *
 * Built with RNN_BLAS_DLOPEN (the PostgreSQL module), OpenBLAS is dlopen()ed
 * on first use with every signal blocked, so the worker threads it starts
 * never receive a backend's signals (query cancel, SIGTERM, latches).
 * Otherwise cblas_sgemm is linked directly (unit tests, benchmarks).
 */
RnnStatus	rnn_blas_load(const char **detail);	/* idempotent */
void		rnn_blas_set_threads(int n);	/* also with signals blocked */
int			rnn_blas_threads(void);
const char *rnn_blas_core(void);	/* OpenBLAS's kernels, NULL before load */
void		rnn_sgemm(int trans_a, int trans_b, int M, int N, int K,
					  float alpha, const float *A, int lda,
					  const float *B, int ldb,
					  float beta, float *C, int ldc);

/* ---------------------------------------------------------------------------
 * Code paths (kernels.c).  The hot loops (the per-step recurrent product and
 * gate math of every cell, forward and backward, and Adam) are compiled for
 * three x86-64 levels; one runs, chosen at the first kernel call: the one
 * the environment variable RNN_ISA names (auto, generic, avx2, avx512), else
 * the best this CPU supports; rnn_isa_set changes it at any time.
 * Results agree across paths to float rounding (FMA contraction and
 * summation order differ), not bit for bit.
 */
typedef enum RnnIsa
{
	RNN_ISA_GENERIC = 0,		/* any CPU (x86-64 baseline: SSE2) */
	RNN_ISA_AVX2 = 1,			/* x86-64-v3: AVX2 + FMA, 16 ymm registers */
	RNN_ISA_AVX512 = 2			/* x86-64-v4: AVX-512 F/BW/CD/DQ/VL, 32 zmm */
} RnnIsa;

#define RNN_ISA_COUNT 3

const char *rnn_isa_name(RnnIsa isa);	/* "generic", "avx2", "avx512" */
/* built, this CPU runs it, and RNN_ISA_MAX (if set to a path name) is not
 * below it */
int			rnn_isa_supported(RnnIsa isa);
RnnIsa		rnn_isa_best(void);
/* 0 if name is unknown; "auto" gives rnn_isa_best() */
int			rnn_isa_parse(const char *name, RnnIsa *isa);
/* RNN_ERR_CONFIG (and no change) if the CPU does not support isa */
RnnStatus	rnn_isa_set(RnnIsa isa);
/* select from RNN_ISA; on a bad or unsupported name *why says which and
 * the path stays as it was */
RnnStatus	rnn_isa_from_env(const char **why);
RnnIsa		rnn_isa_current(void);

/* ---------------------------------------------------------------------------
 * Seeded random numbers (rng.c): xoshiro128** seeded through splitmix64.
 */
typedef struct RnnRng
{
	uint32_t	s[4];
} RnnRng;

void		rnn_rng_seed(RnnRng *rng, uint64_t seed);
uint32_t	rnn_rng_u32(RnnRng *rng);
float		rnn_rng_uniform(RnnRng *rng);	/* [0, 1) */
float		rnn_rng_normal(RnnRng *rng);
uint32_t	rnn_rng_below(RnnRng *rng, uint32_t n);	/* [0, n) unbiased */
void		rnn_rng_shuffle(RnnRng *rng, int *v, int n);

/* ---------------------------------------------------------------------------
 * Architecture
 */
typedef enum RnnCellKind
{
	RNN_CELL_TANH = 0,			/* h' = tanh(W_ih x + b_ih + W_hh h + b_hh) */
	RNN_CELL_GRU = 1,
	RNN_CELL_LSTM = 2
} RnnCellKind;

typedef enum RnnHeadKind
{
	RNN_HEAD_REGRESSION = 0,	/* output_size values, MSE loss */
	RNN_HEAD_CLASSIFIER = 1,	/* output_size class logits, cross-entropy */
	RNN_HEAD_STEPS = 2			/* output_size logits at every step (language
								 * model: the next token; tagger: the tag),
								 * from the top layer's output at that step;
								 * no pooling, per-step cross-entropy */
} RnnHeadKind;

typedef enum RnnPooling
{
	RNN_POOL_LAST = 0,			/* forward dir: last valid step; reverse: step 0 */
	RNN_POOL_MAX = 1,			/* max over valid steps, per feature */
	RNN_POOL_MEAN = 2			/* mean over valid steps */
} RnnPooling;

typedef struct RnnConfig
{
	RnnCellKind cell;
	int			num_layers;		/* 1 .. RNN_MAX_LAYERS */
	int			bidirectional;	/* 0 or 1 */
	int			input_size;		/* features per step (when vocab_size == 0) */
	int			vocab_size;		/* > 0: inputs are token ids into an embedding */
	int			embedding_dim;	/* embedding width (when vocab_size > 0) */
	int			hidden_size;	/* 1 .. RNN_MAX_HIDDEN */
	int			output_size;	/* horizon (regression) or number of classes */
	RnnHeadKind head;
	RnnPooling	pooling;
	int			skip_size;		/* > 0: linear path from the last skip_size
								 * values of input feature 0 to the outputs
								 * (regression only; sequences must all be at
								 * least skip_size long) */
	float		dropout;		/* between layers and before the head, training only */
} RnnConfig;

/* Number of gate blocks of a cell: 1 (tanh), 3 (GRU), 4 (LSTM). */
int			rnn_cell_gates(RnnCellKind cell);

/* Checks every field; on failure *why (if non-NULL) names the field. */
RnnStatus	rnn_config_validate(const RnnConfig *cfg, const char **why);

/* Width of the layer-l input: embedding_dim/input_size for l = 0, else H*dirs. */
int			rnn_layer_input_size(const RnnConfig *cfg, int layer);

/* Width of the features fed to the head: H * (1 + bidirectional). */
int			rnn_feature_size(const RnnConfig *cfg);

/* ---------------------------------------------------------------------------
 * Parameters: pointers into one flat float buffer, in PyTorch state_dict
 * order: embedding.weight, then for each layer l and direction
 * (forward, then _reverse): weight_ih_l{l}, weight_hh_l{l}, bias_ih_l{l},
 * bias_hh_l{l}; then head.weight, head.bias, skip.weight.
 */
typedef struct RnnParams
{
	float	   *embedding;		/* (V, E) or NULL */
	float	   *w_ih[RNN_MAX_LAYERS][2];	/* (G*H, I_l) */
	float	   *w_hh[RNN_MAX_LAYERS][2];	/* (G*H, H) */
	float	   *b_ih[RNN_MAX_LAYERS][2];	/* (G*H) */
	float	   *b_hh[RNN_MAX_LAYERS][2];	/* (G*H) */
	float	   *head_w;			/* (O, F), F = H*dirs */
	float	   *head_b;			/* (O) */
	float	   *skip_w;			/* (O, skip_size) or NULL */
} RnnParams;

/* One named tensor of the flat buffer, for serialization and tests. */
typedef struct RnnTensorInfo
{
	char		name[48];		/* PyTorch-style name, e.g. "rnn.weight_ih_l0_reverse" */
	size_t		offset;			/* in floats, from the start of the buffer */
	int			rows;
	int			cols;			/* 1 for vectors */
} RnnTensorInfo;

size_t		rnn_param_count(const RnnConfig *cfg);
void		rnn_params_bind(RnnParams *p, const RnnConfig *cfg, float *base);

/* Fills up to max entries of info, returns the number of tensors. */
int			rnn_param_tensors(const RnnConfig *cfg, RnnTensorInfo *info, int max);

/* ---------------------------------------------------------------------------
 * Model: a configuration and its parameters.
 */
typedef struct RnnModel
{
	RnnConfig	cfg;
	size_t		n_params;
	float	   *params;			/* (n_params) */
	RnnParams	p;				/* views into params */
} RnnModel;

RnnStatus	rnn_model_create(RnnModel **out, const RnnConfig *cfg);
void		rnn_model_free(RnnModel *model);

/*
 * PyTorch's default initialisation: every recurrent and head weight
 * U(-1/sqrt(fan), 1/sqrt(fan)), embedding N(0, 1); then the LSTM forget-gate
 * biases set to 1 (a standard help for long sequences).
 */
void		rnn_model_init(RnnModel *model, uint64_t seed);

/* ---------------------------------------------------------------------------
 * Weight blob (codec.c): little-endian, versioned, checksummed.
 *
 *   magic "RNNW" | u32 format version | u32 header bytes | config fields |
 *   u64 n_params | n_params float32 | u32 CRC-32 of everything before it
 *
 * The decoder checks every length and field before touching the payload and
 * never reads outside [blob, blob + len).
 */
#define RNN_FORMAT_VERSION 1

RnnStatus	rnn_model_encode(const RnnModel *model, uint8_t **out, size_t *out_len);
RnnStatus	rnn_model_decode(const uint8_t *blob, size_t len, RnnModel **out);

/* ---------------------------------------------------------------------------
 * Batches.
 *
 * lengths are sorted descending (lengths[0] == T, all >= 1).  Inputs are
 * packed: N = sum(lengths) rows, step t occupying rows offsets[t] ..
 * offsets[t] + batch_sizes[t] - 1, where batch_sizes[t] = #{b : lengths[b] > t}.
 */
typedef struct RnnBatch
{
	int			B;				/* sequences */
	int			T;				/* longest length (== lengths[0]) */
	const int  *lengths;		/* (B), descending */
	const float *x;				/* (N, input_size) when vocab_size == 0 */
	const int32_t *tokens;		/* (N) when vocab_size > 0, 0 <= id < V */
	const float *skip;			/* (B, skip_size) when skip_size > 0 */
} RnnBatch;

/* A sequence's length and its index, for ordering a batch. */
typedef struct RnnLenIdx
{
	int			len;
	int			idx;
} RnnLenIdx;

/* Sort by length descending, ties by index (the order packing needs). */
void		rnn_sort_by_length(RnnLenIdx *items, int n);

/* batch_sizes and offsets have T entries; returns N, or -1 if lengths are
 * not descending or not in 1..T. */
int			rnn_pack_layout(const int *lengths, int B, int *batch_sizes, int *offsets);

/* ---------------------------------------------------------------------------
 * Training (network.c, loss.c, optim.c).
 *
 * An RnnTrainer owns gradients, Adam moments (each n_params floats, in one
 * allocation) and the activation caches for batches of up to max_batch
 * sequences of up to max_steps steps.  Nothing is allocated per step.
 */
typedef struct RnnOptimConfig
{
	float		learning_rate;	/* Adam lr */
	float		beta1;
	float		beta2;
	float		eps;
	float		weight_decay;	/* L2 added to the gradient (torch.optim.Adam) */
	float		clip_norm;		/* global gradient-norm clip; <= 0 disables */
	size_t		frozen_prefix;	/* the first frozen_prefix parameters (e.g. the
								 * embedding, first in the flat layout) are
								 * not trained: no step, no part in the norm */
	size_t		frozen_suffix;	/* the same for the last frozen_suffix (the
								 * head bias and skip weights, last in it:
								 * a forecaster's linear path kept as started) */
} RnnOptimConfig;

void		rnn_optim_defaults(RnnOptimConfig *opt);	/* 1e-3, .9, .999, 1e-8, 0, 1.0 */

typedef struct RnnTrainer RnnTrainer;	/* opaque; see network.h */

/* Bytes rnn_trainer_create would allocate, for memory limits. */
size_t		rnn_trainer_memory(const RnnConfig *cfg, int max_batch, int max_steps);

RnnStatus	rnn_trainer_create(RnnTrainer **out, RnnModel *model,
							   int max_batch, int max_steps,
							   const RnnOptimConfig *opt, uint64_t seed);
void		rnn_trainer_free(RnnTrainer *tr);

/*
 * Forward over a batch; training != 0 applies dropout and keeps the caches
 * that rnn_backward needs.  Returns the head outputs (B, O): regression
 * values or class logits, in batch order; for RNN_HEAD_STEPS (N, O), one
 * row of logits per packed row (step t of sequence b is row offsets[t] + b),
 * so padding is never computed.
 */
RnnStatus	rnn_forward(RnnTrainer *tr, const RnnBatch *batch, int training,
						const float **outputs);

/* Losses on the last forward: set d(outputs) and return the mean loss.
 * MSE and MAE average over the B*O values whose target is not NaN (a NaN
 * target is masked: no loss, no gradient; all masked: loss 0);
 * cross-entropy over B sequences.  weights (B) may be NULL (all 1); the
 * mean is then sum(w*loss)/sum(w). */
RnnStatus	rnn_loss_mse(RnnTrainer *tr, const float *targets, double *loss);
RnnStatus	rnn_loss_mae(RnnTrainer *tr, const float *targets, double *loss);
RnnStatus	rnn_loss_xent(RnnTrainer *tr, const int *labels, const float *weights,
						  double *loss);

/*
 * Per-step softmax cross-entropy (RNN_HEAD_STEPS): targets (N) packed like
 * the inputs; a target < 0 is masked (no loss, no gradient).  Mean over the
 * unmasked rows, as torch.nn.CrossEntropyLoss(ignore_index=-1); *counted
 * (may be NULL) gets their number.  All rows masked: *loss = 0.
 */
RnnStatus	rnn_loss_xent_steps(RnnTrainer *tr, const int32_t *targets, double *loss,
								int *counted);

/*
 * Start the next rnn_forward from states h0/c0 ((L*dirs, B, H), PyTorch
 * layout; NULL = zeros), as rnn_infer_set_state does for inference.
 * Gradients stop at h0/c0: truncated backpropagation through time, with the
 * state carried from one chunk of a long sequence to the next.  The
 * pointers are kept until changed; the caller owns the memory (it must not
 * be the trainer's own h_n/c_n, which the forward overwrites).
 */
void		rnn_trainer_set_state(RnnTrainer *tr, const float *h0, const float *c0);

/* outputs (B, O) += offsets (B, O) on the last forward, before a loss. */
void		rnn_add_output_offsets(RnnTrainer *tr, const float *offsets);

void		rnn_zero_grad(RnnTrainer *tr);

/* Backward of the last forward (training) given d(outputs); accumulates. */
RnnStatus	rnn_backward(RnnTrainer *tr);

/* Clip the global gradient norm and take one Adam step.  *grad_norm gets
 * the norm before clipping; RNN_ERR_NONFINITE if it is not finite (the
 * parameters are then left untouched). */
RnnStatus	rnn_optim_step(RnnTrainer *tr, double *grad_norm);

/* Views for tests and the trainer loop. */
float	   *rnn_trainer_grads(RnnTrainer *tr);	/* (n_params), same layout */
RnnModel   *rnn_trainer_model(RnnTrainer *tr);

/*
 * Outputs of the recurrent layers on the last forward: the top layer's packed
 * output (N, H*dirs) and the final states h_n / c_n ((L*dirs, B, H), PyTorch
 * order; c_n only for LSTM, else NULL).
 */
const float *rnn_trainer_top_output(RnnTrainer *tr);
const float *rnn_trainer_h_n(RnnTrainer *tr);
const float *rnn_trainer_c_n(RnnTrainer *tr);

/* ---------------------------------------------------------------------------
 * Fitting (fit.c): epochs of shuffled mini-batches, validation after each
 * epoch, early stopping that restores the best epoch's weights.
 *
 * The data stay with the caller: the dataset hands out example lengths and
 * fills batch buffers on request, so a forecaster can cut windows from
 * series on the fly instead of materialising them.
 */
typedef struct RnnBatchBuf
{
	/* capacity: max_batch sequences of max_steps steps, allocated by rnn_fit */
	int		   *lengths;		/* (max_batch) */
	float	   *x;				/* (max_batch * max_steps, input_size) packed */
	int32_t    *tokens;			/* (max_batch * max_steps) packed */
	float	   *skip;			/* (max_batch, skip_size) */
	float	   *targets;		/* (max_batch, output_size) regression */
	int		   *labels;			/* (max_batch) classification; RNN_HEAD_STEPS:
								 * (max_batch * max_steps) packed per-step
								 * targets, < 0 masked */
	float	   *weights;		/* (max_batch) per-example loss weight */
	float	   *offsets;		/* (max_batch, output_size) added to the
								 * outputs before the loss (use_offsets) */
} RnnBatchBuf;

typedef struct RnnDataset
{
	void	   *ctx;
	int			n_train;		/* examples 0 .. n_train-1 train */
	int			n_valid;		/* examples n_train .. n_train+n_valid-1 validate */
	int			max_steps;		/* longest example */
	int			use_weights;	/* classification: pass buf->weights to the loss */
	int			use_offsets;	/* load fills buf->offsets: a fixed term added
								 * to the outputs (a linear path beside the
								 * network, fitted before it) */
	int			(*length) (void *ctx, int example);
	/*
	 * Fill buf with examples idx[0..count), in that order (rnn_fit has sorted
	 * them by length, descending): lengths, packed inputs (row offsets[t]+b
	 * of step t, see rnn_pack_layout), skip, targets or labels.
	 */
	RnnStatus	(*load) (void *ctx, const int *idx, int count, RnnBatchBuf *buf);
} RnnDataset;

typedef struct RnnEpochReport
{
	int			epoch;			/* 1-based */
	double		train_loss;		/* mean over the epoch's batches */
	double		valid_loss;		/* NaN when there is no validation set */
	double		seconds;		/* since rnn_fit started */
	int			best_epoch;
	double		grad_norm;		/* mean pre-clip norm */
} RnnEpochReport;

typedef struct RnnFitOptions
{
	int			epochs;
	int			batch_size;
	int			patience;		/* epochs without improvement; 0 = never stop early */
	int			batches_per_epoch;	/* 0 = one pass over the training set;
									 * else this many sampled batches */
	int			length_buckets;	/* 1: group similar lengths into batches */
	uint64_t	seed;
	RnnOptimConfig optim;
	/*
	 * > 0: validate, keep and return an exponential moving average of the
	 * weights (Polyak averaging), updated after every optimizer step with
	 * decay min(average_decay, (1 + t) / (10 + t)) at step t; training itself
	 * goes on from the raw weights.  One network, an ensemble of the last
	 * ~1 / (1 - average_decay) steps' weights.  0: the raw weights.
	 */
	float		average_decay;
	/* regression: train and validate on the mean absolute error (the
	 * forecast of a median) instead of the mean squared error */
	int			l1_loss;
	void	   *cb_ctx;
	/* called between batches (the server checks for interrupts here) */
	void		(*on_batch) (void *cb_ctx);
	/* after each epoch; nonzero return stops training */
	int			(*on_epoch) (void *cb_ctx, const RnnEpochReport *report);
} RnnFitOptions;

typedef struct RnnFitResult
{
	int			epochs_run;
	int			best_epoch;		/* 0: no epoch beat the starting weights
								 * on validation, which are kept */
	double		best_valid_loss;
	double		seconds;
	double	   *train_curve;	/* caller-provided, epochs entries, or NULL */
	double	   *valid_curve;	/* caller-provided, epochs entries, or NULL */
} RnnFitResult;

void		rnn_fit_defaults(RnnFitOptions *opt);

/* Bytes rnn_fit allocates besides the model, for memory limits (with
 * average_decay, two more copies of the parameters). */
size_t		rnn_fit_memory(const RnnConfig *cfg, int batch_size, int max_steps);

RnnStatus	rnn_fit(RnnModel *model, const RnnDataset *ds, const RnnFitOptions *opt,
					RnnFitResult *result);

/* Mean loss of the model over examples first..first+count-1 (no dropout). */
RnnStatus	rnn_evaluate_loss(RnnModel *model, const RnnDataset *ds, int first,
							  int count, int batch_size, double *loss);

/* ---------------------------------------------------------------------------
 * Language models over a token stream (fit_stream.c): truncated BPTT.
 *
 * The stream (texts back to back, each preceded by a separator token) is
 * cut into batch_size parallel streams of equal length, read in chunks of
 * bptt steps; the input at step t is token t, the target token t + 1.  The
 * state after a chunk is where the next chunk of the same stream starts
 * (gradients stop there), so a model learns dependencies longer than a
 * chunk from a text of any length at the memory of one chunk.  Each epoch
 * starts from zero states at a seeded random offset in [0, bptt), so chunk
 * boundaries move between epochs.  Validation reads its own stream the same
 * way (no dropout) and reports the mean negative log-likelihood per
 * predicted token.  Early stopping restores the best epoch's weights.
 *
 * The head may predict fewer tokens than the vocabulary (output_size <
 * vocab_size): a target at or above output_size is masked (no loss, no
 * gradient; not counted in the means), while every token is still an
 * input.  With ids in frequency order this is a softmax over the frequent
 * tokens only, whose cost does not grow with a long tail of rare words
 * (the classifier's pretraining, src/pg/classify_pretrain.c).
 */
typedef struct RnnStreamOptions
{
	int			epochs;
	int			batch_size;		/* parallel streams */
	int			bptt;			/* steps per chunk */
	int			patience;		/* epochs without improvement; 0 = never */
	double		max_seconds;	/* > 0: stop once training has run this long
								 * (the epoch in progress ends there and is
								 * validated) */
	uint64_t	seed;
	RnnOptimConfig optim;
	void	   *cb_ctx;
	void		(*on_batch) (void *cb_ctx);
	int			(*on_epoch) (void *cb_ctx, const RnnEpochReport *report);
} RnnStreamOptions;

void		rnn_stream_defaults(RnnStreamOptions *opt);

/* Bytes rnn_fit_stream allocates besides the model, for memory limits. */
size_t		rnn_fit_stream_memory(const RnnConfig *cfg, int batch_size, int bptt);

/* train (n_train tokens, >= 2) and valid (n_valid, 0 or >= 2) stay with the
 * caller; every id must be < vocab_size. */
RnnStatus	rnn_fit_stream(RnnModel *model, const int32_t *train, size_t n_train,
						   const int32_t *valid, size_t n_valid,
						   const RnnStreamOptions *opt, RnnFitResult *result);

/*
 * Sum of -log p(token t+1 | tokens 0..t) over the stream (n >= 2), read as
 * batch_size parallel streams in chunks of bptt steps, and the number of
 * predictions (*count; tokens past the last full stream are not scored).
 */
RnnStatus	rnn_stream_nll(RnnModel *model, const int32_t *tokens, size_t n,
						   int batch_size, int bptt, double *nll, size_t *count);

/* ---------------------------------------------------------------------------
 * Inference without training buffers (infer.c).
 */
typedef struct RnnInfer RnnInfer;

RnnStatus	rnn_infer_create(RnnInfer **out, const RnnModel *model,
							 int max_batch, int max_steps);
void		rnn_infer_free(RnnInfer *inf);

/* outputs (B, O), or (N, O) for RNN_HEAD_STEPS, as in rnn_forward(training = 0). */
RnnStatus	rnn_infer(RnnInfer *inf, const RnnBatch *batch, float *outputs);

/*
 * Make rnn_infer cheap for one text at a time (call once, after create):
 *  - keeps W_hh transposed per layer-direction, so a step with one running
 *    sequence is a register-blocked matrix-vector product instead of an
 *    sgemm call;
 *  - for token models, folds the first layer's input projection into a
 *    table of V rows of embedding[id] . W_ih^T (both directions), so that
 *    projection becomes a row copy per token.  Rows are computed on first
 *    use of a token (no up-front cost for a short query); the table takes
 *    V * dirs * G*H * 4 bytes and is only built when that is at most
 *    max_fold_bytes (*folded, if not NULL, says whether it was).
 * Outputs agree with the unprepared path to float rounding (~1e-6).
 */
RnnStatus	rnn_infer_prepare(RnnInfer *inf, size_t max_fold_bytes, int *folded);

/*
 * Streaming: start the next rnn_infer from states h0/c0 ((L*dirs, B, H),
 * PyTorch h_n layout; NULL = zeros) instead of zeros, and read the final
 * states afterwards.  With a unidirectional model and RNN_POOL_LAST,
 * feeding a text in pieces, each piece starting from the previous piece's
 * h_n/c_n, gives exactly the outputs of feeding it whole.  The pointers are
 * kept until changed; the caller owns the memory.
 */
void		rnn_infer_set_state(RnnInfer *inf, const float *h0, const float *c0);
const float *rnn_infer_h_n(RnnInfer *inf);
const float *rnn_infer_c_n(RnnInfer *inf);	/* NULL unless LSTM */

/* The head alone: outputs (B, O) from features (B, F) (no skip path);
 * e.g. a stream's score from its top-layer state with no new tokens. */
void		rnn_head_forward(const RnnModel *model, const float *features, int B,
							 float *outputs);

#endif							/* RNN_CORE_H */
