/** The logging module's public surface (re-exported by the package's index). */
export { type AttachLoggerOptions, attachLogger, type LoggerHandle } from "./attachLogger.js";
export { correlationFields } from "./correlationFields.js";
export { DEFAULT_EVENT_LEVELS, type EventLevel, type EventLevels, type LogLevel } from "./eventLevels.js";
export { scrubSecrets } from "./redaction.js";
