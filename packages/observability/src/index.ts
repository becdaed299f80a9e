/** @normandy/observability — public API (work in progress). */

export {
  type AgentTurnFact,
  type AgentTurnState,
  DEFAULT_INSPECTOR_UI,
  type DeadLetterFact,
  INSPECTOR_ENV,
  INSPECTOR_FLAG,
  type InspectableLimits,
  type InspectorActorMessage,
  InspectorError,
  type InspectorErrorCode,
  type InspectorEventMessage,
  type InspectorFlagSource,
  type InspectorMessage,
  type InspectorMessageBase,
  type InspectorOptions,
  type InspectorRequest,
  type InspectorServer,
  type InspectorSnapshotMessage,
  type IntensityExceededFact,
  inspectorRequested,
  type MailboxFact,
  type RestartFact,
  type RuntimeFact,
  runtimeFactOf,
  type SharedContextFact,
  startInspector,
  startInspectorIfRequested,
  toInspectable,
} from "./inspector/index.js";
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
  type AttachMetricsOptions,
  attachMetrics,
  METERED_EVENTS,
  type MetricsHandle,
} from "./metrics/attachMetrics.js";
export { GEN_AI_DURATION_BUCKETS, GEN_AI_TOKEN_BUCKETS } from "./metrics/buckets.js";
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
export {
  type AttachTracingOptions,
  attachTracing,
  TRACED_EVENTS,
  type TracingHandle,
} from "./tracing/attachTracing.js";
export { CorrelationIdGenerator } from "./tracing/CorrelationIdGenerator.js";
export { errorTypeOf } from "./tracing/errorType.js";
