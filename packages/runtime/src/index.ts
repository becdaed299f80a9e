/** @normandy/runtime — actors, mailboxes, OTP supervisors, registry, shared context, telemetry, inspection. */
export {
  ActorSystem,
  type ActorSystemOptions,
  type SpawnLogicOptions,
  type SpawnOptions,
  type StopOptions,
} from "./ActorSystem.js";
export type {
  AutoShutdown,
  ChildSpec,
  FullChildSpec,
  RestartType,
  Shutdown,
  Startable,
  Strategy,
  SupervisorFlags,
} from "./ChildSpec.js";
export { type Clock, ManualClock, systemClock, type TimerHandle } from "./Clock.js";
export {
  CORRELATION_METADATA_KEY,
  Correlation,
  type CorrelationIds,
  type CorrelationRunOptions,
} from "./Correlation.js";
export type { DeadLetter, DeadLetterReason } from "./DeadLetter.js";
export { crash, type ExitReason, type ExitSignal, formatReason, isCleanExit } from "./ExitReason.js";
export {
  CallExitError,
  CallingSelfError,
  CallTimeoutError,
  InvalidArgumentError,
  InvalidChildSpecError,
  MailboxFullError,
  NameTakenError,
  NoProcError,
  NotAServerError,
  RuntimeError,
  type RuntimeErrorCode,
  StartError,
  SystemStoppedError,
} from "./errors.js";
export { FileSnapshotStore } from "./FileSnapshotStore.js";
export { onAbort } from "./onAbort.js";
export { addRestart, type RestartCheck, type RestartHistory } from "./RestartIntensity.js";
export {
  type Address,
  addressOf,
  type CallOptions,
  type CallResult,
  type DownMessage,
  type DurableOptions,
  defineServer,
  type ExitMessage,
  type From,
  IGNORE,
  type InitResult,
  type MailboxOptions,
  type MonitorRef,
  NoReply,
  noreply,
  type Protocol,
  type ProtocolOf,
  reply,
  type Server,
  type ServerContext,
  type ServerDefinition,
  type StateResult,
  Stop,
  stop,
  stopWithReply,
  type TimerRef,
} from "./Server.js";
export {
  type Access,
  AccessError,
  type AccessOperation,
  type Caller,
  type Change,
  type ChangeKind,
  CounterError,
  compareKeys,
  DEFAULT_SHARED_CONTEXT_NAME,
  deepEqual,
  type EtsTransferMessage,
  type Heir,
  type Key,
  type KeyAtom,
  NoTableError,
  SharedContext,
  type SharedContextOptions,
  type Table,
  TableExistsError,
  type TableInfo,
  type TableOptions,
  type TableType,
  type Transaction,
  type TransactionOptions,
  TransactionTimeoutError,
} from "./SharedContext.js";
export { MemorySnapshotStore, type SnapshotStore, type StoredSnapshot } from "./SnapshotStore.js";
export {
  type ChildCounts,
  type ChildInfo,
  type ChildSpecResult,
  defineSupervisor,
  type OkResult,
  type StartChildResult,
  type Supervisor,
  type SupervisorError,
  type SupervisorProtocol,
  type SupervisorRequest,
  type SupervisorSpec,
} from "./Supervisor.js";
export { SupervisorClient } from "./SupervisorClient.js";
export {
  type EventFilter,
  type EventName,
  type Measurements,
  type Metadata,
  Telemetry,
  type TelemetryHandler,
} from "./Telemetry.js";
