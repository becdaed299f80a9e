/**
 * Stream plumbing shared by the recorder and the replayer: a `ModelStream` that lets record/replay's own
 * typed errors through (a plain `ModelStream` would wrap them in a ProviderError of kind `network`).
 */
import { type ModelResponse, ModelStream, ProviderError, type StreamEvent } from "@normandy/agents";
import { RecordingWriteError, ReplayError } from "./errors.js";

/**
 * Whether an error is one of ours, to be surfaced as is rather than as a provider failure. A
 * `ReplayedError` is not: the recorded stream wrapped the original failure too, so its replay does.
 */
function ours(error: unknown): boolean {
  return error instanceof ReplayError || error instanceof RecordingWriteError;
}

/** The error to surface: ours unwrapped from the ProviderError the stream put around it. */
function surface(error: unknown): unknown {
  return error instanceof ProviderError && ours(error.cause) ? error.cause : error;
}

/**
 * A `ModelStream` whose iteration and `final()` throw record/replay's own errors (mismatch, exhaustion,
 * a bad recording, a failed write) unwrapped; every other failure is as a plain `ModelStream` has it.
 */
export class TransparentStream extends ModelStream {
  override final(): Promise<ModelResponse> {
    return super.final().catch((error: unknown) => Promise.reject(surface(error)));
  }

  override async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    const events = { [Symbol.asyncIterator]: () => super[Symbol.asyncIterator]() };
    try {
      for await (const event of events) yield event;
    } catch (error) {
      throw surface(error);
    }
  }
}
