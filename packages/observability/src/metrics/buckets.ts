/**
 * The explicit histogram bucket boundaries the OpenTelemetry GenAI conventions specify for the client
 * metrics (token usage; operation duration and time to first chunk, in seconds).
 */

/** Boundaries of `gen_ai.client.token.usage` (powers of 4, from 1 to 4^13). */
export const GEN_AI_TOKEN_BUCKETS: readonly number[] = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

/**
 * Boundaries of `gen_ai.client.operation.duration` and `gen_ai.client.operation.time_to_first_chunk`, in
 * seconds (doubling from 10 ms to 81.92 s).
 */
export const GEN_AI_DURATION_BUCKETS: readonly number[] = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
