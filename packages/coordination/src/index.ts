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
// reactive combinators and the agent pool
export {
  AgentPool,
  type AgentPoolOptions,
  type CheckinOptions,
  type CheckoutOptions,
  isOrdinaryFailure,
  type PoolStats,
  type PoolStrategy,
} from "./AgentPool.js";
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
// workflows as state machines
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
  InvalidWorkflowError,
  ManagerFailedError,
  NotCheckedOutError,
  PoolExhaustedError,
  PoolStoppedError,
  QuorumNotReachedError,
  UnknownWorkerError,
  WorkflowError,
  WorkflowInterruptedError,
  WorkflowTimeoutError,
} from "./errors.js";
export { defineHandlerProcess, type HandlerProcessOptions } from "./HandlerProcess.js";
export {
  type Orchestration,
  type OrchestrationEvents,
  type OrchestrationLogic,
  orchestrationEvents,
  orchestrationLogic,
  startOrchestration,
} from "./orchestration.js";
export {
  type Assignment,
  type DelegationPlan,
  DelegationPlanSchema,
  type DelegationStrategy,
  type DelegationTask,
  DelegationTaskSchema,
  HierarchicalCoordinator,
  type HierarchicalOptions,
  type HierarchicalResult,
  type HierarchicalRunOptions,
  hierarchicalLogic,
  ManagerOutputSchema,
  runHierarchical,
  type ToolHost,
  type Worker,
  type WorkerTaskFailure,
  type WorkerTaskOutcome,
  type WorkerTaskSuccess,
} from "./orchestrators/hierarchical.js";
export {
  type ParallelAgent,
  type ParallelFailure,
  type ParallelOptions,
  type ParallelOutcome,
  type ParallelResult,
  type ParallelSpec,
  type ParallelSuccess,
  parallelLogic,
  parallelSameInputLogic,
  runParallel,
  runParallelSameInput,
  streamParallel,
} from "./orchestrators/parallel.js";
export {
  type OnStepError,
  runSequential,
  runSequentialMessages,
  type SequentialOptions,
  type SequentialResult,
  type SequentialStep,
  type SequentialStepError,
  type SequentialStepResult,
  StepFailure,
  sequentialLogic,
  sequentialMessagesLogic,
} from "./orchestrators/sequential.js";
export { type Runnable, runToResult } from "./Runnable.js";
export {
  type AgentOutcome,
  type AgentSuccess,
  type AllOptions,
  all,
  allLogic,
  map,
  mapLogic,
  type ReactiveInput,
  type ReactiveOptions,
  race,
  raceLogic,
  type SomeOptions,
  some,
  someLogic,
} from "./reactive.js";
