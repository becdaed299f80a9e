// withResilience over a scripted fake provider: the breaker outside and the retry inside, an open breaker
// not retried, errors kept as ProviderErrors, and streams retried before output but not after (unless the
// consumer copes with a restart). Every wait is on a ManualClock.
import {
  type CallOptions,
  type ModelRequest,
  type ModelResponse,
  ModelStream,
  type Provider,
  ProviderError,
  type ProviderErrorKind,
  type RawStreamEvent,
  type StreamEvent,
  textOf,
} from "@normandy/agents";
import { type ActorSystem, ManualClock, ActorSystem as System } from "@normandy/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { CircuitBreaker } from "../src/resilience/CircuitBreaker.js";
import { CircuitOpenError, RetryExhaustedError } from "../src/resilience/errors.js";
import { withResilience } from "../src/resilience/ResilientProvider.js";

const pe = (
  kind: ProviderErrorKind,
  extra: { retryAfterMs?: number; status?: number; requestId?: string } = {},
) => new ProviderError({ kind, provider: "fake", message: `${kind} failure`, ...extra });

const usage = {
  inputTokens: 10,
  outputTokens: 5,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
};
const request: ModelRequest = { model: "fake-model", messages: [{ role: "user", content: "hi" }] };
const answer = (text: string): ModelResponse => ({
  id: "r1",
  model: "fake-model",
  content: [{ type: "text", text }],
  stopReason: "end_turn",
  rawStopReason: "end_turn",
  usage,
});

const start = (id: string): RawStreamEvent => ({ type: "message_start", id, model: "fake-model" });
const end: RawStreamEvent = { type: "message_end", stopReason: "end_turn", rawStopReason: "end_turn" };
const text = (index: number, t: string): RawStreamEvent => ({ type: "text_delta", index, text: t });
const full = (id: string, t: string): RawStreamEvent[] => [
  start(id),
  text(0, t),
  { type: "usage", usage },
  end,
];

type CompleteStep = { readonly ok: ModelResponse } | { readonly error: unknown } | "hang";
interface StreamStep {
  readonly events: readonly RawStreamEvent[];
  readonly error?: unknown;
  readonly hang?: boolean;
}

const aborted = (signal: AbortSignal | undefined) =>
  new Promise<never>((_resolve, reject) =>
    signal?.addEventListener("abort", () =>
      reject(
        new ProviderError({ kind: "aborted", provider: "fake", message: "aborted", cause: signal.reason }),
      ),
    ),
  );

/** A provider that plays one scripted step per call. */
class FakeProvider implements Provider {
  readonly name = "fake";
  readonly completeSignals: (AbortSignal | undefined)[] = [];
  readonly streamSignals: (AbortSignal | undefined)[] = [];
  /** The signals the inner streams' sources got (what a real provider's HTTP request listens to). */
  readonly sourceSignals: AbortSignal[] = [];
  readonly #completes: CompleteStep[];
  readonly #streams: StreamStep[];

  constructor(completes: CompleteStep[] = [], streams: StreamStep[] = []) {
    this.#completes = completes;
    this.#streams = streams;
  }

  complete(_request: ModelRequest, options?: CallOptions): Promise<ModelResponse> {
    this.completeSignals.push(options?.signal);
    const step = this.#completes.shift() ?? { ok: answer("default") };
    if (step === "hang") return aborted(options?.signal);
    return "ok" in step ? Promise.resolve(step.ok) : Promise.reject(step.error);
  }

  stream(_request: ModelRequest, options?: CallOptions): ModelStream {
    this.streamSignals.push(options?.signal);
    const step = this.#streams.shift() ?? { events: full("default", "default") };
    const sources = this.sourceSignals;
    return new ModelStream(
      this.name,
      async function* (signal) {
        sources.push(signal);
        for (const event of step.events) yield event;
        if (step.hang) await aborted(signal);
        if (step.error !== undefined) throw step.error;
      },
      options?.signal,
    );
  }

  countTokens(): Promise<number> {
    return Promise.resolve(42);
  }
}

/** Lets pending continuations schedule their timers, then fires every timer. */
async function drain(clock: ManualClock): Promise<void> {
  await clock.advance(0);
  await clock.runAll();
}

async function collect(stream: ModelStream): Promise<{ events: StreamEvent[]; error?: unknown }> {
  const events: StreamEvent[] = [];
  try {
    for await (const e of stream) events.push(e);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

let system: ActorSystem | undefined;
afterEach(async () => {
  await system?.shutdown({ timeout: 0 }).catch(() => {});
  system = undefined;
});

async function breakerOn(clock: ManualClock, failureThreshold = 2) {
  system = System.start({ clock });
  return CircuitBreaker.shared(system, "fake:fake-model", { failureThreshold, openTimeoutMs: 10_000 });
}

describe("withResilience: complete", () => {
  it("keeps the name and passes countTokens through", async () => {
    const fake = new FakeProvider();
    const wrapped = withResilience(fake, { retry: "quick" });
    expect(wrapped.name).toBe("fake");
    expect(await wrapped.countTokens?.(request)).toBe(42);
    const noCount: Provider = {
      name: "bare",
      complete: (r, o) => fake.complete(r, o),
      stream: (r, o) => fake.stream(r, o),
    };
    expect(withResilience(noCount).countTokens).toBeUndefined();
    expect(await wrapped.complete(request)).toEqual(answer("default")); // a preset name works
  });

  it("retries transient failures inside, with the call's signal reaching every attempt", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider([
      { error: pe("overloaded") },
      { error: pe("server") },
      { ok: answer("hello") },
    ]);
    const wrapped = withResilience(fake, { retry: { clock, jitter: false } });
    expect(textOf(await Promise.all([wrapped.complete(request), drain(clock)]).then(([r]) => r))).toBe(
      "hello",
    );
    expect(fake.completeSignals).toHaveLength(3);

    const hanging = new FakeProvider([{ error: pe("server") }, "hang"]);
    const controller = new AbortController();
    const result = withResilience(hanging, { retry: { clock, jitter: false } })
      .complete(request, { signal: controller.signal })
      .catch((e: unknown) => e);
    await drain(clock);
    expect(hanging.completeSignals).toHaveLength(2);
    expect(hanging.completeSignals[1]?.aborted).toBe(false);
    controller.abort();
    expect(hanging.completeSignals[1]?.aborted).toBe(true);
    expect(await result).toMatchObject({ kind: "aborted" });
  });

  it("shows the breaker the whole retried call, not each attempt", async () => {
    const clock = new ManualClock();
    const breaker = await breakerOn(clock, 2);
    const fake = new FakeProvider([
      { error: pe("server") },
      { error: pe("server") },
      { ok: answer("third time") },
      { error: pe("server") },
      { error: pe("server") },
      { error: pe("rate_limit", { retryAfterMs: 50, status: 429, requestId: "req_1" }) },
    ]);
    const wrapped = withResilience(fake, { retry: { clock, jitter: false, baseDelayMs: 10 }, breaker });
    const ok = wrapped.complete(request);
    await drain(clock);
    expect(textOf(await ok)).toBe("third time");
    expect(await breaker.metrics()).toMatchObject({ state: "closed", failures: 0 });

    const failed = wrapped.complete(request).catch((e: unknown) => e);
    await drain(clock);
    const error = (await failed) as ProviderError;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      kind: "rate_limit",
      provider: "fake",
      status: 429,
      retryAfterMs: 50,
      requestId: "req_1",
      message: "rate_limit failure (gave up after 3 attempts)",
    });
    expect(error.cause).toBeInstanceOf(RetryExhaustedError);
    expect((error.cause as RetryExhaustedError).attempts).toHaveLength(3);
    expect(await breaker.metrics()).toMatchObject({ state: "closed", failures: 1 });
  });

  it("does not retry an open breaker: it fails at once as overloaded, naming when to try again", async () => {
    const clock = new ManualClock();
    const breaker = await breakerOn(clock);
    await breaker.trip();
    await clock.advance(4_000);
    const fake = new FakeProvider();
    const wrapped = withResilience(fake, { retry: { clock, maxAttempts: 5 }, breaker });
    const error = (await wrapped.complete(request).catch((e: unknown) => e)) as ProviderError;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      kind: "overloaded",
      provider: "fake",
      retryAfterMs: 6_000,
      retryable: true,
    });
    expect(error.cause).toBeInstanceOf(CircuitOpenError);
    expect(fake.completeSignals).toHaveLength(0);
    expect(clock.pending).toBe(0);
  });

  it("passes a non-retryable error through unchanged, and the breaker does not count it", async () => {
    const clock = new ManualClock();
    const breaker = await breakerOn(clock, 1);
    const auth = pe("auth");
    const fake = new FakeProvider([{ error: auth }]);
    const wrapped = withResilience(fake, { retry: { clock }, breaker });
    await expect(wrapped.complete(request)).rejects.toBe(auth);
    expect(fake.completeSignals).toHaveLength(1);
    expect(await breaker.state()).toBe("closed");
  });

  it("stops retrying when the caller aborts during a wait", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider([{ error: pe("server") }]);
    const wrapped = withResilience(fake, { retry: { clock } });
    const controller = new AbortController();
    const result = wrapped.complete(request, { signal: controller.signal }).catch((e: unknown) => e);
    await clock.advance(0);
    controller.abort();
    expect(await result).toMatchObject({ kind: "aborted" });
    await drain(clock);
    expect(fake.completeSignals).toHaveLength(1);
  });

  it("joins the retry options' signal with the call's", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider(["hang"]);
    const lifetime = new AbortController();
    const wrapped = withResilience(fake, { retry: { clock, signal: lifetime.signal } });
    const result = wrapped
      .complete(request, { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    await clock.advance(0);
    lifetime.abort();
    expect(await result).toMatchObject({ kind: "aborted" });
    // alone, it still cancels
    const alone = new AbortController();
    const solo = withResilience(new FakeProvider(["hang"]), { retry: { clock, signal: alone.signal } });
    const pending = solo.complete(request).catch((e: unknown) => e);
    await clock.advance(0);
    alone.abort();
    expect(await pending).toMatchObject({ kind: "aborted" });
    // and it cancels streams
    const streaming = new AbortController();
    const streams = withResilience(new FakeProvider([], [{ events: [start("s")], hang: true }]), {
      retry: { clock, signal: streaming.signal },
    });
    const final = streams
      .stream(request)
      .final()
      .catch((e: unknown) => e);
    await clock.advance(0);
    streaming.abort();
    expect(await final).toMatchObject({ kind: "aborted" });
  });

  it("without a retry, calls once and passes the signal and errors through", async () => {
    const server = pe("server");
    const fake = new FakeProvider([{ error: server }, { ok: answer("plain") }]);
    const wrapped = withResilience(fake);
    await expect(wrapped.complete(request)).rejects.toBe(server);
    const controller = new AbortController();
    expect(textOf(await wrapped.complete(request, { signal: controller.signal }))).toBe("plain");
    expect(fake.completeSignals).toEqual([undefined, controller.signal]);
  });

  it("labels the errors it makes with the provider's name", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider(["hang"]);
    const wrapped = withResilience(fake, { retry: { clock, attemptTimeoutMs: 100, retryOn: ["server"] } });
    const result = wrapped.complete(request).catch((e: unknown) => e);
    await clock.advance(100);
    expect(await result).toMatchObject({ kind: "timeout", provider: "fake" });
  });
});

describe("withResilience: stream", () => {
  it("retries a stream that failed before any output", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider(
      [],
      [
        { events: [start("a1"), { type: "usage", usage }], error: pe("overloaded") },
        { events: full("a2", "hello") },
      ],
    );
    const wrapped = withResilience(fake, { retry: { clock, jitter: false } });
    const stream = wrapped.stream(request);
    const collected = collect(stream);
    await drain(clock);
    const { events, error } = await collected;
    expect(error).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual([
      "message_start",
      "usage",
      "message_start",
      "text_delta",
      "usage",
      "message_end",
    ]);
    const response = await stream.final();
    expect(response).toMatchObject({ id: "a2", content: [{ type: "text", text: "hello" }] });
    expect(fake.streamSignals).toHaveLength(2);
  });

  it("does not retry once output reached the consumer; the error carries the partial output", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider([], [{ events: [start("a1"), text(0, "Hel")], error: pe("network") }]);
    const wrapped = withResilience(fake, { retry: { clock, maxAttempts: 5 } });
    const { events, error } = await collect(wrapped.stream(request));
    expect(events.map((e) => e.type)).toEqual(["message_start", "text_delta"]);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "network", partial: { content: [{ type: "text", text: "Hel" }] } });
    expect(fake.streamSignals).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it("restarts after output when that is safe: indexes restart and the response holds the last attempt only", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider(
      [],
      [
        {
          events: [
            start("a1"),
            { type: "thinking_delta", index: 0, thinking: "hmm" },
            text(1, "Hel"),
            { type: "tool_call_start", index: 2, id: "c0", name: "half" },
          ],
          error: pe("server"),
        },
        {
          events: [
            start("a2"),
            text(0, "Hello"),
            { type: "tool_call_start", index: 1, id: "c1", name: "add" },
            { type: "tool_call_delta", index: 1, id: "c1", delta: '{"a":1}' },
            { type: "tool_call_end", index: 1 },
            { type: "usage", usage },
            { type: "message_end", stopReason: "tool_use", rawStopReason: "tool_use" },
          ],
        },
      ],
    );
    const wrapped = withResilience(fake, { retry: { clock, jitter: false }, safeToRetryAfterOutput: true });
    const stream = wrapped.stream(request);
    const collected = collect(stream);
    await drain(clock);
    const { events, error } = await collected;
    expect(error).toBeUndefined();
    expect(events.map((e) => ("index" in e ? `${e.type}@${e.index}` : e.type))).toEqual([
      "message_start",
      "thinking_delta@0",
      "text_delta@1",
      "tool_call_start@2",
      "message_start",
      "text_delta@0",
      "tool_call_start@1",
      "tool_call_delta@1",
      "tool_call_end@1",
      "usage",
      "message_end",
    ]);
    const expected = [
      { type: "text", text: "Hello" },
      { type: "tool_call", id: "c1", name: "add", arguments: { a: 1 }, rawArguments: '{"a":1}' },
    ];
    const toolEnd = events.find((e) => e.type === "tool_call_end");
    expect(toolEnd).toMatchObject({ call: { id: "c1", arguments: { a: 1 } } });
    const last = events.at(-1);
    expect(last?.type === "message_end" && last.response.content).toEqual(expected);
    expect(await stream.final()).toMatchObject({ id: "a2", stopReason: "tool_use", content: expected });
  });

  it("drops the abandoned attempt's blocks from the partial output of a restarted stream that fails", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider(
      [],
      [
        { events: [start("a1"), text(0, "first")], error: pe("server") },
        { events: [start("a2"), text(0, "second")], error: pe("auth") },
      ],
    );
    const wrapped = withResilience(fake, { retry: { clock, jitter: false }, safeToRetryAfterOutput: true });
    const stream = wrapped.stream(request);
    const final = stream.final().catch((e: unknown) => e);
    await drain(clock);
    const error = await final;
    expect(error).toMatchObject({ kind: "auth", partial: { content: [{ type: "text", text: "second" }] } });
    // iterating a stream that final() already consumed fails as ModelStream does
    await expect(collect(stream)).resolves.toMatchObject({ error: expect.any(Error) });
  });

  it("counts a stream in the breaker once, and refuses it without retrying when open", async () => {
    const clock = new ManualClock();
    const breaker = await breakerOn(clock, 1);
    const fake = new FakeProvider(
      [],
      [
        { events: full("ok", "fine") },
        { events: [start("x")], error: pe("server") },
        { events: [start("y")], error: pe("server") },
      ],
    );
    const wrapped = withResilience(fake, { retry: { clock, maxAttempts: 2, jitter: false }, breaker });
    expect(textOf(await wrapped.stream(request).final())).toBe("fine");
    expect(await breaker.metrics()).toMatchObject({ state: "closed", failures: 0 });

    const failing = wrapped
      .stream(request)
      .final()
      .catch((e: unknown) => e);
    await drain(clock);
    const error = (await failing) as ProviderError;
    expect(error).toMatchObject({ kind: "server", message: "server failure (gave up after 2 attempts)" });
    expect(error.cause).toBeInstanceOf(RetryExhaustedError);
    expect(await breaker.state()).toBe("open");

    const refused = (await wrapped
      .stream(request)
      .final()
      .catch((e: unknown) => e)) as ProviderError;
    expect(refused).toMatchObject({ kind: "overloaded", retryAfterMs: 10_000 });
    expect(refused.cause).toBeInstanceOf(CircuitOpenError);
    expect(fake.streamSignals).toHaveLength(3);
  });

  it("releases the breaker's trial slot when the consumer stops early, as neutral", async () => {
    const clock = new ManualClock();
    const breaker = await breakerOn(clock, 1);
    await breaker.trip();
    await clock.advance(10_000);
    const fake = new FakeProvider([], [{ events: [start("a"), text(0, "x")], hang: true }]);
    const wrapped = withResilience(fake, { breaker });
    for await (const event of wrapped.stream(request)) if (event.type === "text_delta") break;
    expect(await breaker.metrics()).toMatchObject({ state: "half_open", halfOpenInFlight: 0, successes: 0 });
    expect(fake.sourceSignals[0]?.aborted).toBe(true); // the inner request was closed
  });

  it("counts a stream that ended as a success even if the consumer stops at message_end", async () => {
    const clock = new ManualClock();
    const breaker = await breakerOn(clock, 1);
    await breaker.trip();
    await clock.advance(10_000);
    const wrapped = withResilience(new FakeProvider(), { breaker });
    for await (const event of wrapped.stream(request)) if (event.type === "message_end") break;
    expect(await breaker.metrics()).toMatchObject({ state: "half_open", successes: 1 });
  });

  it("hands on nothing after the inner stream's message_end", async () => {
    const fake = new FakeProvider([], [{ events: [...full("a", "done"), text(0, " and more")] }]);
    const { events } = await collect(withResilience(fake).stream(request));
    expect(events.map((e) => e.type)).toEqual(["message_start", "text_delta", "usage", "message_end"]);
  });

  it("gives each stream attempt a time limit", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider(
      [],
      [{ events: [start("slow")], hang: true }, { events: full("fast", "ok") }],
    );
    const wrapped = withResilience(fake, {
      retry: { clock, attemptTimeoutMs: 300, jitter: false, baseDelayMs: 100 },
    });
    const stream = wrapped.stream(request);
    const final = stream.final();
    await clock.advance(299);
    expect(fake.streamSignals).toHaveLength(1);
    await clock.advance(1);
    expect(fake.sourceSignals[0]?.aborted).toBe(true); // the inner request was closed
    await clock.advance(100);
    expect(textOf(await final)).toBe("ok");
    expect(clock.pending).toBe(0);
  });

  it("fails a timed-out stream attempt as a timeout when timeouts are not retried", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider([], [{ events: [], hang: true }]);
    const wrapped = withResilience(fake, { retry: { clock, attemptTimeoutMs: 50, retryOn: ["server"] } });
    const final = wrapped
      .stream(request)
      .final()
      .catch((e: unknown) => e);
    await clock.advance(50);
    expect(await final).toMatchObject({ kind: "timeout", provider: "fake" });
  });

  it("ends at once when the caller aborts, during an attempt or a wait", async () => {
    const clock = new ManualClock();
    const fake = new FakeProvider(
      [],
      [
        { events: [start("a")], hang: true },
        { events: [start("b")], error: pe("server") },
      ],
    );
    const wrapped = withResilience(fake, { retry: { clock } });
    const during = new AbortController();
    const first = wrapped
      .stream(request, { signal: during.signal })
      .final()
      .catch((e: unknown) => e);
    await clock.advance(0);
    during.abort();
    expect(await first).toMatchObject({ kind: "aborted" });

    const waiting = new AbortController();
    const second = wrapped
      .stream(request, { signal: waiting.signal })
      .final()
      .catch((e: unknown) => e);
    await clock.advance(0);
    expect(clock.pending).toBe(1);
    waiting.abort();
    expect(await second).toMatchObject({ kind: "aborted" });
    await drain(clock);
    expect(fake.streamSignals).toHaveLength(2);
  });

  it("does not start a stream whose signal is already aborted, nor ask the breaker", async () => {
    const clock = new ManualClock();
    const breaker = await breakerOn(clock, 1);
    const fake = new FakeProvider();
    const wrapped = withResilience(fake, { retry: { clock }, breaker });
    const error = await wrapped
      .stream(request, { signal: AbortSignal.abort() })
      .final()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "aborted", provider: "fake" });
    expect(fake.streamSignals).toHaveLength(0);
    expect(await breaker.metrics()).toMatchObject({ rejected: 0, failures: 0 });
  });

  it("does not retry a non-retryable stream failure, nor anything without a retry", async () => {
    const clock = new ManualClock();
    const auth = pe("auth");
    const fake = new FakeProvider(
      [],
      [
        { events: [start("a")], error: auth },
        { events: [], error: pe("server") },
      ],
    );
    const wrapped = withResilience(fake, { retry: { clock } });
    expect(
      await wrapped
        .stream(request)
        .final()
        .catch((e: unknown) => e),
    ).toMatchObject({ kind: "auth" });
    const plain = withResilience(fake);
    expect(
      await plain
        .stream(request)
        .final()
        .catch((e: unknown) => e),
    ).toMatchObject({ kind: "server" });
    expect(fake.streamSignals).toHaveLength(2);
  });
});
