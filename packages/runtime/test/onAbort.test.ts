// Many waiters on one abort signal: each called once on abort, detachable in O(1), one listener in all.
import { getEventListeners } from "node:events";
import { onAbort } from "@normandy/runtime";
import { describe, expect, it } from "vitest";

describe("onAbort", () => {
  it("calls every waiter once when the signal aborts, through one listener on it", () => {
    const controller = new AbortController();
    const calls: number[] = [];
    for (let i = 0; i < 100; i++) onAbort(controller.signal, () => calls.push(i));
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    controller.abort();
    controller.abort(); // a second abort is no event
    expect(calls).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("skips a detached waiter, and detaching twice or after the abort is harmless", () => {
    const controller = new AbortController();
    const calls: string[] = [];
    const detachA = onAbort(controller.signal, () => calls.push("a"));
    onAbort(controller.signal, () => calls.push("b"));
    detachA();
    detachA();
    controller.abort();
    expect(calls).toEqual(["b"]);
    const late = onAbort(controller.signal, () => calls.push("c")); // aborted already: at once
    expect(calls).toEqual(["b", "c"]);
    late();
  });

  it("keeps the waiters of different signals apart", () => {
    const one = new AbortController();
    const two = new AbortController();
    const calls: string[] = [];
    onAbort(one.signal, () => calls.push("one"));
    onAbort(two.signal, () => calls.push("two"));
    two.abort();
    expect(calls).toEqual(["two"]);
    one.abort();
    expect(calls).toEqual(["two", "one"]);
  });
});
