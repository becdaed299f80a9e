/** The inspector module's public surface (re-exported by the package's index). */
export { DEFAULT_INSPECTOR_UI } from "./bridgePage.js";
export { InspectorError, type InspectorErrorCode } from "./errors.js";
export type {
  AgentTurnFact,
  AgentTurnState,
  DeadLetterFact,
  IntensityExceededFact,
  MailboxFact,
  RestartFact,
  RuntimeFact,
  SharedContextFact,
} from "./facts.js";
export { runtimeFactOf } from "./facts.js";
export { type InspectorOptions, type InspectorServer, startInspector } from "./InspectorServer.js";
export {
  INSPECTOR_ENV,
  INSPECTOR_FLAG,
  type InspectorFlagSource,
  type InspectorRequest,
  inspectorRequested,
  startInspectorIfRequested,
} from "./inspectorFlag.js";
export type {
  InspectorActorMessage,
  InspectorEventMessage,
  InspectorMessage,
  InspectorMessageBase,
  InspectorSnapshotMessage,
} from "./statelyEvents.js";
export { type InspectableLimits, toInspectable } from "./toInspectable.js";
