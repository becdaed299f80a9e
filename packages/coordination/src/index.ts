/** @normandy/coordination — AgentMessage, agent processes and supervisors, orchestrators, workflows. */
export {
  AgentContext,
  type AgentContextOptions,
  type ContextChange,
  ContextNamespace,
} from "./AgentContext.js";
export {
  type AgentMessage,
  AgentMessageSchema,
  createMessage,
  type ErrorPayload,
  errorReply,
  type MessageType,
  type NewMessage,
  parseMessage,
  replyTo,
} from "./AgentMessage.js";
export {
  AgentPausedError,
  AgentTimeoutError,
  CancelledError,
  CoordinationError,
  type CoordinationErrorCode,
  InvalidMessageError,
} from "./errors.js";
export {
  type Orchestration,
  type OrchestrationEvents,
  type OrchestrationLogic,
  orchestrationEvents,
  orchestrationLogic,
  startOrchestration,
} from "./orchestration.js";
export { type Runnable, runToResult } from "./Runnable.js";
