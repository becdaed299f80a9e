/** @normandy/testing — the loopback LLM server (OpenAI and Anthropic wire formats) and its script types. */
export { ScriptError } from "./errors.js";
export type { HttpFault } from "./faults.js";
export { LoopbackLLMServer, type LoopbackLLMServerOptions } from "./LoopbackLLMServer.js";
export type { Endpoint, RecordedRequest, ResponseOutcome } from "./recording.js";
export { type CliIo, cliUsage, runCli } from "./runCli.js";
export type {
  ConnectionResetFault,
  CustomHttpFault,
  EmptyStreamFault,
  Fault,
  FaultTurn,
  HttpFaultSettings,
  LatencyOptions,
  RateLimitFault,
  ReplyTurn,
  ScriptedToolCall,
  ScriptedTurn,
  StaticTurn,
  StatusFault,
  StatusFaultKind,
  StopReason,
  StreamCutFault,
  StreamErrorFault,
  TurnFunction,
  UsageOverride,
  WireFamily,
} from "./script.js";
export { estimateRequestTokens, estimateTokens } from "./tokens.js";
export { parseScript } from "./validateTurn.js";
