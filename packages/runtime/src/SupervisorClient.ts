/**
 * A typed front for a supervisor's management API (OTP §1.8). Every request is a call with no timeout,
 * as in OTP, and queues behind whatever the supervisor is doing (a restart, a child's init).
 */
import type { ActorSystem } from "./ActorSystem.js";
import type { ChildSpec } from "./ChildSpec.js";
import type {
  ChildCounts,
  ChildInfo,
  ChildSpecResult,
  OkResult,
  StartChildResult,
  SupervisorRequest,
} from "./Supervisor.js";

/**
 * Manages a running supervisor.
 *
 * @example
 * ```ts
 * const sup = new SupervisorClient(system, "app");
 * await sup.terminateChild("cache"); // { ok: true }; the spec is kept, not restarted
 * await sup.restartChild("cache");   // { ok: true, pid: "p:42" }
 * ```
 */
export class SupervisorClient {
  readonly #system: ActorSystem;
  /** The supervisor's pid or name. */
  readonly address: string;

  /**
   * @param system - the actor system.
   * @param address - the supervisor's pid or name.
   */
  constructor(system: ActorSystem, address: string) {
    this.#system = system;
    this.address = address;
  }

  /** The children, newest first (OTP order); `pid` is `restarting` while a failed restart awaits its retry. */
  whichChildren(): Promise<ChildInfo[]> {
    return this.#call({ type: "which_children" }) as Promise<ChildInfo[]>;
  }

  /** Counts of specs, live children, supervisors and workers. */
  countChildren(): Promise<ChildCounts> {
    return this.#call({ type: "count_children" }) as Promise<ChildCounts>;
  }

  /**
   * Adds and starts a child: a full spec for a static supervisor, extra init arguments for
   * `simple_one_for_one`.
   */
  startChild(specOrExtraArgs: ChildSpec | readonly unknown[]): Promise<StartChildResult> {
    const req: SupervisorRequest = Array.isArray(specOrExtraArgs)
      ? { type: "start_child", extraArgs: specOrExtraArgs }
      : { type: "start_child", spec: specOrExtraArgs as ChildSpec };
    return this.#call(req) as Promise<StartChildResult>;
  }

  /** Stops a child with its shutdown spec (by id; by pid for `simple_one_for_one`); not a restart. */
  terminateChild(idOrPid: string): Promise<OkResult> {
    return this.#call({ type: "terminate_child", id: idOrPid }) as Promise<OkResult>;
  }

  /** Starts a terminated child again from its kept spec. */
  restartChild(id: string): Promise<StartChildResult> {
    return this.#call({ type: "restart_child", id }) as Promise<StartChildResult>;
  }

  /** Removes a terminated child's spec. */
  deleteChild(id: string): Promise<OkResult> {
    return this.#call({ type: "delete_child", id }) as Promise<OkResult>;
  }

  /** A child's spec with every default filled in. */
  getChildSpec(id: string): Promise<ChildSpecResult> {
    return this.#call({ type: "get_childspec", id }) as Promise<ChildSpecResult>;
  }

  #call(req: SupervisorRequest): Promise<unknown> {
    return this.#system.call(this.address, req, { timeout: Number.POSITIVE_INFINITY });
  }
}
