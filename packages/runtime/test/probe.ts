// Test helpers: a probe server that logs its lifecycle in OTP-scenario notation
// ("start a", "term b crash", "down sup shutdown") and can be told to exit, crash, or fail its init.
import {
  type ActorSystem,
  type ChildSpec,
  type Clock,
  defineServer,
  type ExitReason,
  IGNORE,
  type ManualClock,
  reply,
  stop,
} from "@normandy/runtime";

/** Renders a reason the way otp-semantics.md writes it. */
export function fmt(reason: ExitReason): string {
  if (typeof reason === "string") return reason;
  if ("shutdown" in reason) return `{shutdown,${String(reason.shutdown)}}`;
  const e = reason.error;
  if (e instanceof Error) return e.message;
  return typeof e === "object" ? JSON.stringify(e) : String(e);
}

/** How a probe behaves; `init` outcomes can be scripted per start. */
export interface ProbeArgs {
  readonly id: string;
  /** Starts to fail (one entry per start attempt, consumed in order): "ok", "fail", "ignore". */
  readonly starts?: ("ok" | "fail" | "ignore")[];
  /** ms its init takes (on the test clock). */
  readonly initMs?: number;
  /** ms its terminate takes (on the test clock); "forever" never finishes. */
  readonly cleanupMs?: number | "forever";
  /** Whether it traps exits (default true, as the scenarios assume). */
  readonly trap?: boolean;
}

/** Waits `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** Builds the probe behaviour, logging into `log`. */
export function probe(log: string[], clock: ManualClock) {
  return defineServer({
    name: "probe",
    init: (args: ProbeArgs, ctx) => {
      const outcome = args.starts?.shift() ?? "ok";
      const finish = () => {
        if (outcome === "fail") {
          log.push(`${args.id} init_fail`);
          throw "bad";
        }
        if (outcome === "ignore") {
          log.push(`${args.id} ignore`);
          return IGNORE;
        }
        ctx.trapExit(args.trap ?? true);
        log.push(`start ${args.id}`);
        return { args, pid: ctx.self };
      };
      // synchronous unless the scenario gives init a duration, as a gen_server's init would be
      return args.initMs === undefined ? finish() : sleep(clock, args.initMs).then(finish);
    },
    handleCast: (msg: { type: "exit"; reason: ExitReason } | { type: "crash" }, s) => {
      if (msg.type === "crash") throw "crash";
      return stop(msg.reason, s);
    },
    handleCall: (_msg: { type: "pid" }, _from, s) => reply(s.pid, s),
    terminate: (reason, s) => {
      log.push(`term ${s.args.id} ${fmt(reason)}`);
      const ms = s.args.cleanupMs;
      if (ms === "forever") return new Promise<void>(() => {});
      if (ms !== undefined) return sleep(clock, ms).then(() => void log.push(`${s.args.id} done`));
      return undefined;
    },
  });
}

/** A child spec for a probe registered under its id. */
export function child(
  log: string[],
  clock: ManualClock,
  id: string,
  extra: Partial<ChildSpec> & Partial<ProbeArgs> = {},
): ChildSpec {
  const { starts, initMs, cleanupMs, trap, ...spec } = extra;
  const args: ProbeArgs = {
    id,
    ...(starts && { starts }),
    ...(initMs !== undefined && { initMs }),
    ...(cleanupMs !== undefined && { cleanupMs }),
    ...(trap !== undefined && { trap }),
  };
  return { id, start: probe(log, clock), args, name: id, ...spec };
}

/** Logs `down <label> <reason>` when `address` exits. */
export function watch(
  system: ActorSystem,
  log: string[],
  address: string,
  label = address,
): Promise<ExitReason> {
  return new Promise((resolve) =>
    system.monitor(address, (reason) => {
      log.push(`down ${label} ${fmt(reason)}`);
      resolve(reason);
    }),
  );
}

/** A promise with its resolve and reject exposed, to control when an async handler finishes. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise continuation run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
