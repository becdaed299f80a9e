/**
 * The wire format: XState inspection events converted to the events `@statelyai/inspect` sends over a
 * WebSocket (`@xstate.actor` with a name, a definition and a snapshot; `@xstate.event` with a source;
 * `@xstate.snapshot`), so the Stately inspector and any client of its `createWebSocketReceiver` read
 * them. Conversion is synchronous and never throws; values pass through {@link toInspectable}.
 */
import type { ActorSystem } from "@normandy/runtime";
import { createInspector } from "@statelyai/inspect";
import { type InspectableLimits, toInspectable } from "./toInspectable.js";

/** An XState inspection event, as the actor system reports it. */
export type InspectionEvent = Parameters<ActorSystem["inspect"]>[0] extends infer O
  ? O extends (event: infer E) => void
    ? E
    : never
  : never;

/** What every message on the wire carries (the fields of `@statelyai/inspect`'s events). */
export interface InspectorMessageBase {
  /** The session id (pid) of the actor the message is about. */
  readonly sessionId: string;
  /** The session id of the system's root actor. */
  readonly rootId: string | undefined;
  /** Milliseconds since the epoch, as a decimal string. */
  readonly createdAt: string;
  /** Always null (the field exists in `@statelyai/inspect`'s format). */
  readonly id: null;
  /** The `@statelyai/inspect` format version. */
  readonly _version: string;
}

/** An actor exists: its name, parent, definition (JSON text) and current snapshot. */
export interface InspectorActorMessage extends InspectorMessageBase {
  readonly type: "@xstate.actor";
  readonly name: string;
  readonly parentId: string | undefined;
  readonly definition: string;
  readonly snapshot: unknown;
}

/** An event reached an actor (from `sourceId`, when it came from one); runtime facts are such events. */
export interface InspectorEventMessage extends InspectorMessageBase {
  readonly type: "@xstate.event";
  readonly sourceId: string | undefined;
  readonly event: { readonly type: string; readonly [key: string]: unknown };
}

/** An actor's new snapshot, and the event that led to it. */
export interface InspectorSnapshotMessage extends InspectorMessageBase {
  readonly type: "@xstate.snapshot";
  readonly event: { readonly type: string; readonly [key: string]: unknown };
  readonly snapshot: unknown;
}

/** One message the inspector server sends (one JSON text per WebSocket message). */
export type InspectorMessage = InspectorActorMessage | InspectorEventMessage | InspectorSnapshotMessage;

/** What the converter reads of an actor ref (XState actors and runtime processes both have it). */
export interface InspectedActor {
  readonly id: string;
  readonly sessionId: string;
  readonly _parent?: { readonly sessionId: string } | undefined;
  readonly logic?: { readonly config?: unknown } | undefined;
  getSnapshot(): unknown;
}

/**
 * The `_version` stamped on every message: the installed `@statelyai/inspect`'s own, read from one event
 * it builds, so an upgrade of the package keeps the stamp right.
 */
export const STATELY_VERSION: string = (() => {
  let version = "";
  createInspector({
    send: (event) => {
      version = event._version;
    },
  }).event("normandy", "version");
  return version;
})();

/**
 * The `@xstate.actor` message of an actor, with its current snapshot.
 *
 * @param actor - the actor ref.
 * @param rootId - the session id of the system's root.
 * @param limits - serialization bounds.
 * @returns the message.
 */
export function actorMessage(
  actor: InspectedActor,
  rootId: string | undefined,
  limits: InspectableLimits,
): InspectorActorMessage {
  const config = actor.logic?.config;
  const machine = typeof config === "object" && config !== null ? (config as { id?: unknown }) : undefined;
  const name = actor.id === actor.sessionId && typeof machine?.id === "string" ? machine.id : actor.id;
  return {
    type: "@xstate.actor",
    name,
    // a machine's definition lets the inspector draw it; anything else is known by its name
    definition: JSON.stringify(toInspectable(machine ?? { id: name }, limits)),
    parentId: actor._parent?.sessionId,
    snapshot: toInspectable(snapshotOf(actor), limits),
    ...base(actor.sessionId, rootId),
  };
}

/**
 * Converts an XState inspection event; the kinds the Stately inspector does not show (microsteps,
 * actions, transitions) give undefined.
 *
 * @param event - the XState inspection event.
 * @param limits - serialization bounds.
 * @returns the message, or undefined.
 */
export function fromInspectionEvent(
  event: InspectionEvent,
  limits: InspectableLimits,
): InspectorMessage | undefined {
  const actor = event.actorRef as unknown as InspectedActor;
  switch (event.type) {
    case "@xstate.actor":
      return actorMessage(actor, event.rootId, limits);
    case "@xstate.event":
      return {
        type: "@xstate.event",
        sourceId: (event.sourceRef as InspectedActor | undefined)?.sessionId,
        event: eventOf(event.event, limits),
        ...base(actor.sessionId, event.rootId),
      };
    case "@xstate.snapshot":
      return {
        type: "@xstate.snapshot",
        event: eventOf(event.event, limits),
        snapshot: toInspectable(event.snapshot, limits),
        ...base(actor.sessionId, event.rootId),
      };
    default:
      return undefined;
  }
}

/**
 * An `@xstate.event` that carries a runtime fact (its `event`) to the actor it concerns.
 *
 * @param sessionId - the actor the fact is about.
 * @param fact - the fact, an object with a `type`.
 * @param rootId - the session id of the system's root.
 * @param limits - serialization bounds.
 * @returns the message.
 */
export function factMessage(
  sessionId: string,
  fact: { readonly type: string },
  rootId: string,
  limits: InspectableLimits,
): InspectorEventMessage {
  return {
    type: "@xstate.event",
    sourceId: undefined,
    event: eventOf(fact, limits),
    ...base(sessionId, rootId),
  };
}

/** What an actor shows before its first snapshot exists (`@statelyai/inspect`'s default too). */
const NO_SNAPSHOT_YET = { status: "active" } as const;

/**
 * An actor's current snapshot. XState announces an actor from its constructor, before the first
 * snapshot exists, and reading it then throws; the `@xstate.snapshot` that follows carries the real one.
 */
function snapshotOf(actor: InspectedActor): unknown {
  try {
    return actor.getSnapshot() ?? NO_SNAPSHOT_YET;
  } catch {
    return NO_SNAPSHOT_YET;
  }
}

function base(sessionId: string, rootId: string | undefined) {
  return {
    sessionId,
    rootId,
    createdAt: Date.now().toString(),
    id: null,
    _version: STATELY_VERSION,
  } as const;
}

function eventOf(event: unknown, limits: InspectableLimits): InspectorEventMessage["event"] {
  const type = (event as { type?: unknown }).type;
  const data = toInspectable(event, limits);
  // the type survives any bound, so a client can always tell what the event was
  const fields = typeof data === "object" && data !== null ? data : { value: data };
  return { ...fields, type: String(type) };
}
