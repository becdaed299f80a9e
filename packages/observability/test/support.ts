// Test helpers shared by the observability tests (not a test file itself): loopback LLM servers, actor
// systems and other resources torn down after each test.
import { ActorSystem, type ActorSystemOptions } from "@normandy/runtime";
import { LoopbackLLMServer, type ScriptedTurn } from "@normandy/testing";
import { afterEach } from "vitest";

/** What {@link useFixtures} hands a test file: resources that are released after each test. */
export interface Fixtures {
  /** Starts a loopback LLM server answering `script` in order. */
  serve(script: ScriptedTurn[]): Promise<LoopbackLLMServer>;
  /** Starts an actor system. */
  start(options?: ActorSystemOptions): ActorSystem;
  /** Runs `release` after the test, before the systems shut down (e.g. a provider's shutdown). */
  cleanup(release: () => Promise<void> | void): void;
}

/**
 * Registers, in the calling test file (once, at module top level), an `afterEach` that runs the
 * cleanups, then shuts down every system `start` made, then stops every server `serve` started.
 *
 * @returns the fixtures.
 */
export function useFixtures(): Fixtures {
  const servers: LoopbackLLMServer[] = [];
  const systems: ActorSystem[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
    for (const s of systems.splice(0)) await s.shutdown();
    for (const s of servers.splice(0)) await s.stop();
  });
  return {
    async serve(script) {
      const server = await new LoopbackLLMServer({ script }).start();
      servers.push(server);
      return server;
    },
    start(options = {}) {
      const system = ActorSystem.start(options);
      systems.push(system);
      return system;
    },
    cleanup(release) {
      cleanups.push(release);
    },
  };
}
