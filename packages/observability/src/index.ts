/** @normandy/observability — public API (work in progress). */

export {
  type AttachLoggerOptions,
  attachLogger,
  correlationFields,
  DEFAULT_EVENT_LEVELS,
  type EventLevel,
  type EventLevels,
  type LoggerHandle,
  type LogLevel,
  scrubSecrets,
} from "./logging/index.js";
export {
  RecordingFormatError,
  RecordingWriteError,
  ReplayError,
  ReplayExhaustedError,
  ReplayedError,
  ReplayMismatchError,
  type ReplayMismatchInit,
} from "./replay/errors.js";
export {
  parseRecording,
  RECORDING_VERSION,
  type RecordedCompletion,
  type RecordedCount,
  type RecordedError,
  type RecordedExchange,
  type RecordedExchangeHead,
  type RecordedFailure,
  type RecordedOtherError,
  type RecordedProviderError,
  type RecordedStream,
  type ReplayOperation,
  readRecording,
} from "./replay/exchange.js";
export {
  type RecordingOptions,
  type RecordingTarget,
  recordingProvider,
} from "./replay/recordingProvider.js";
export { REDACTED } from "./replay/redact.js";
export {
  type ReplayOptions,
  type ReplayProvider,
  type ReplaySource,
  replayProvider,
} from "./replay/replayProvider.js";
export {
  type FileSinkOptions,
  fileSink,
  type MemorySink,
  memorySink,
  type RecordingSink,
} from "./replay/sinks.js";
