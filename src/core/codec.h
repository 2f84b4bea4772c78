/*
 * codec.h -- weight blob details beyond rnn.h: the header layout constants
 * and the CRC-32 used by the blob checksum (also handy for tests and the
 * fuzz target, which repairs checksums to reach the deeper checks).
 *
 * Format version 1, all integers little-endian:
 *
 *   offset  size  field
 *        0     4  magic "RNNW"
 *        4     4  u32 format version (1)
 *        8     4  u32 header bytes: offset of the first parameter (68)
 *       12     4  i32 cell          (RnnCellKind)
 *       16     4  i32 num_layers
 *       20     4  i32 bidirectional
 *       24     4  i32 input_size
 *       28     4  i32 vocab_size
 *       32     4  i32 embedding_dim
 *       36     4  i32 hidden_size
 *       40     4  i32 output_size
 *       44     4  i32 head          (RnnHeadKind)
 *       48     4  i32 pooling       (RnnPooling)
 *       52     4  i32 skip_size
 *       56     4  f32 dropout       (IEEE-754 bits)
 *       60     8  u64 n_params
 *       68  4*n   f32 params, flat layout of rnn.h (PyTorch state_dict order)
 *   68+4n     4  u32 CRC-32 (IEEE 802.3, reflected 0xEDB88320) of bytes
 *                 [0, 68 + 4n)
 *
 * A blob is exactly 72 + 4 * n_params bytes.
 */
#ifndef RNN_CODEC_H
#define RNN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define RNN_BLOB_MAGIC "RNNW"
#define RNN_BLOB_HEADER_BYTES 68	/* version 1 */
#define RNN_BLOB_OVERHEAD (RNN_BLOB_HEADER_BYTES + 4)

/*
 * CRC-32 (IEEE, reflected polynomial 0xEDB88320, init and final xor
 * 0xFFFFFFFF).  Start with crc = 0; chain calls by passing the previous
 * result: rnn_crc32(rnn_crc32(0, a, n), b, m) == CRC of a followed by b.
 */
uint32_t	rnn_crc32(uint32_t crc, const void *data, size_t len);

#endif							/* RNN_CODEC_H */
