/** @normandy/agents — the model layer (normalized messages and streams, providers, resilience) and the agent. */

export {
  Agent,
  AgentAbortedError,
  type AgentDefinition,
  type AgentSnapshot,
  AgentStream,
  defineAgent,
  type PausedRun,
  type RunOptions,
  type RunResult,
} from "./agent/Agent.js";
export {
  type AgentEvent,
  type AgentResult,
  AgentStateError,
  MaxIterationsError,
  type StepInfo,
} from "./agent/events.js";
export {
  type BatchItem,
  BatchItemTimeoutError,
  type BatchOptions,
  type BatchResult,
  type BatchStats,
  processBatch,
  processBatchChunked,
  processBatchWithStats,
} from "./batch/processBatch.js";
export { ModelCatalog, type ModelEntry, type ModelPricing, usageCost } from "./catalog/ModelCatalog.js";
export { ANTHROPIC_MODELS, BUILTIN_MODELS, OPENAI_MODELS } from "./catalog/models.js";
export {
  ContextOverflowError,
  type ContextStrategy,
  ContextWindowManager,
  type ContextWindowOptions,
  type FitResult,
  type PromptFrame,
} from "./context/ContextWindowManager.js";
export {
  type CompressOptions,
  compressConversation,
  DEFAULT_SUMMARY_PROMPT,
  EmptySummaryError,
  estimateSavings,
  formatForSummary,
  type Savings,
  SUMMARY_PREFIX,
  type SummarizeOptions,
  summarizeMessages,
} from "./context/summarizer.js";
export {
  ConversationMemory,
  type MemoryDump,
  type MemoryEntry,
  MemoryFormatError,
  type MemoryOptions,
  NonExistentTurnError,
  safeStart,
} from "./memory/ConversationMemory.js";
export {
  addUsage,
  type ContentBlock,
  type ImageBlock,
  type JsonSchema,
  type Message,
  type ModelRequest,
  type ModelResponse,
  parseToolArguments,
  type ResponseFormat,
  type Role,
  type StopReason,
  type TextBlock,
  type ThinkingBlock,
  type ToolCallBlock,
  type ToolChoice,
  type ToolDefinition,
  type ToolResultBlock,
  textOf,
  toolCallsOf,
  type Usage,
  ZERO_USAGE,
} from "./model/messages.js";
export {
  ModelStream,
  type RawEventSource,
  type RawStreamEvent,
  ResponseAssembler,
  type StreamEvent,
  type StreamTranslator,
  toRawEvent,
} from "./model/stream.js";
export {
  type ChatMessage,
  DefaultInputSchema,
  DefaultOutputSchema,
  jsonSchemaOf,
  outputSchemaBlock,
  type ParseResult,
  parseStructuredOutput,
  repairPrompt,
  StructuredOutputError,
} from "./output/structuredOutput.js";
export {
  type ContextProvider,
  DEFAULT_BACKGROUND,
  FIXED_OUTPUT_INSTRUCTIONS,
  generateSystemPrompt,
  type PromptSpecification,
} from "./prompt/systemPrompt.js";
export { AnthropicProvider, type AnthropicProviderOptions } from "./providers/anthropic/AnthropicProvider.js";
export { classifyAnthropicError } from "./providers/anthropic/anthropicErrors.js";
export { AnthropicStreamTranslator, fromAnthropicStream } from "./providers/anthropic/anthropicStream.js";
export {
  ANTHROPIC_DEFAULT_MAX_TOKENS,
  type AnthropicCountTokensBody,
  type AnthropicRequestBody,
  type AnthropicRequestOptions,
  type AnthropicUsageLike,
  type AnthropicWireMessages,
  fromAnthropicMessage,
  fromAnthropicMessages,
  fromAnthropicStopReason,
  fromAnthropicToolInput,
  fromAnthropicUsage,
  toAnthropicCountTokensRequest,
  toAnthropicMessages,
  toAnthropicRequest,
  toAnthropicToolChoice,
} from "./providers/anthropic/anthropicWire.js";
export { OpenAIProvider, type OpenAIProviderOptions } from "./providers/openai/OpenAIProvider.js";
export { classifyOpenAIError, type OpenAIErrorContext } from "./providers/openai/openaiErrors.js";
export { OpenAIStreamTranslator, openaiRawEvents } from "./providers/openai/openaiStream.js";
export {
  fromOpenAICompletion,
  fromOpenAIFinishReason,
  fromOpenAIMessages,
  fromOpenAIUsage,
  fromToolCall,
  type MaxTokensField,
  type OpenAIMessageOptions,
  type OpenAIRequestOptions,
  toOpenAIMessages,
  toOpenAIRequest,
  toOpenAIToolChoice,
} from "./providers/openai/openaiWire.js";
export type { CallOptions, Provider } from "./providers/Provider.js";
export {
  isRetryableKind,
  ProviderError,
  type ProviderErrorInit,
  type ProviderErrorKind,
  retryAfterMs,
} from "./providers/ProviderError.js";
export {
  CIRCUIT_RELEASE_FAILED,
  CIRCUIT_STATE_CHANGE,
  CircuitBreaker,
  type CircuitBreakerHandle,
  type CircuitBreakerOptions,
  type CircuitBreakerStartOptions,
  type CircuitMetrics,
  type CircuitOutcome,
  type CircuitPermit,
  circuitBreakerServer,
  defaultIsFailure,
} from "./resilience/CircuitBreaker.js";
export { CircuitOpenError, type CircuitState, RetryExhaustedError } from "./resilience/errors.js";
export { type ResilienceOptions, withResilience } from "./resilience/ResilientProvider.js";
export {
  RETRY_ATTEMPT_FAILED,
  type RetryInfo,
  type RetryOptions,
  RetryPolicy,
  type RetryPresetName,
  retryPresets,
} from "./resilience/RetryPolicy.js";
export { type RetryAttempt, withRetry } from "./resilience/retry.js";
export {
  estimateEncoder,
  TokenCounter,
  type TokenCounterOptions,
  type TokenEncoder,
} from "./tokens/TokenCounter.js";
export { encodingForModel, tiktokenEncoder } from "./tokens/tiktokenEncoder.js";
export { type AnyTool, defineTool, type Tool, type ToolContext, type ToolSpec } from "./tools/defineTool.js";
export { calculator, listProcessor, stringManipulator } from "./tools/exampleTools.js";
export {
  DEFAULT_TOOL_TIMEOUT_MS,
  type ExecuteToolsOptions,
  executeToolCall,
  executeToolCalls,
} from "./tools/executeTools.js";
export { ToolNotFoundError, ToolRegistry } from "./tools/ToolRegistry.js";
