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
  type AgentCall,
  type AgentCast,
  type AgentProcessOptions,
  type AgentReply,
  type AgentReplyEvent,
  type AgentStats,
  agentProcessName,
  defineAgentProcess,
  errorPayload,
} from "./AgentProcess.js";
export {
  AgentProcessClient,
  type AgentProcessClientOptions,
  type RequestOptions,
} from "./AgentProcessClient.js";
export {
  type AgentChildOptions,
  AgentSupervisor,
  AgentSupervisorError,
  type AgentSupervisorFlags,
  agentChildSpec,
  defineAgentSupervisor,
} from "./AgentSupervisor.js";
export {
  AgentFailedError,
  type AgentFailure,
  AgentPausedError,
  AgentRunError,
  AgentTimeoutError,
  AggregationFailedError,
  AllAgentsFailedError,
  CancelledError,
  CoordinationError,
  type CoordinationErrorCode,
  InvalidMessageError,
  ManagerFailedError,
  NotCheckedOutError,
  PoolExhaustedError,
  PoolStoppedError,
  QuorumNotReachedError,
  UnknownWorkerError,
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
