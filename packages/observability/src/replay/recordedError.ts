/**
 * Failures in and out of a recording: a ProviderError is kept by its classification (kind, status,
 * Retry-After, request id, message) so replay can rethrow an equivalent one; its `cause` (the SDK's error,
 * which carries the HTTP request and its headers) and `partial` (rebuilt from a stream's recorded events)
 * are never written.
 */
import { ProviderError } from "@normandy/agents";
import { ReplayedError } from "./errors.js";
import type { RecordedError } from "./exchange.js";

/**
 * The recorded form of a failure.
 *
 * @param error - what the provider threw.
 * @returns its classification and message.
 */
export function recordError(error: unknown): RecordedError {
  if (error instanceof ProviderError)
    return {
      kind: error.kind,
      provider: error.provider,
      message: error.message,
      ...(error.status !== undefined && { status: error.status }),
      ...(error.retryAfterMs !== undefined && { retryAfterMs: error.retryAfterMs }),
      ...(error.requestId !== undefined && { requestId: error.requestId }),
    };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: typeof error, message: String(error) };
}

/**
 * The error a replay throws for a recorded failure.
 *
 * @param recorded - the recorded failure.
 * @returns an equivalent ProviderError, or a {@link ReplayedError} for any other failure.
 */
export function replayedError(recorded: RecordedError): Error {
  if (!("kind" in recorded)) return new ReplayedError(recorded.name, recorded.message);
  return new ProviderError({
    kind: recorded.kind,
    provider: recorded.provider,
    message: recorded.message,
    ...(recorded.status !== undefined && { status: recorded.status }),
    ...(recorded.retryAfterMs !== undefined && { retryAfterMs: recorded.retryAfterMs }),
    ...(recorded.requestId !== undefined && { requestId: recorded.requestId }),
  });
}
