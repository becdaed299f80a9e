/**
 * Serialises snapshot-store operations per key and coalesces writes: while one write of a key is in
 * flight, later states replace each other in a single queued write, so the newest state is always the
 * one stored and a fast actor never builds a backlog. A read waits for the key's pending writes, so a
 * restarted process sees the last state its previous incarnation saved.
 */
import type { SnapshotStore, StoredSnapshot } from "../SnapshotStore.js";

interface Slot {
  tail: Promise<void>;
  queued: { value: unknown } | undefined;
}

/** See the file comment. */
export class DurableWriter {
  readonly #store: SnapshotStore;
  readonly #onError: (key: string, error: unknown) => void;
  readonly #slots = new Map<string, Slot>();

  /**
   * @param store - the snapshot store.
   * @param onError - told of a failed write or delete (the kernel crashes the owning process).
   */
  constructor(store: SnapshotStore, onError: (key: string, error: unknown) => void) {
    this.#store = store;
    this.#onError = onError;
  }

  /** Queues a write of `value` (replacing a queued, not yet started, write of the same key). */
  write(key: string, value: unknown): void {
    const slot = this.#slot(key);
    if (slot.queued !== undefined) {
      slot.queued.value = value;
      return;
    }
    const job = { value };
    slot.queued = job;
    this.#chain(key, slot, () => {
      slot.queued = undefined;
      return this.#store.put(key, { version: 1, value: job.value });
    });
  }

  /** Queues a delete of the key. */
  remove(key: string): void {
    const slot = this.#slot(key);
    slot.queued = undefined;
    this.#chain(key, slot, () => this.#store.delete(key));
  }

  /** Reads the key once its pending operations are done. */
  read(key: string): Promise<StoredSnapshot | undefined> {
    const slot = this.#slots.get(key);
    return slot === undefined ? this.#store.get(key) : slot.tail.then(() => this.#store.get(key));
  }

  /** Resolves once every queued operation has finished. */
  async flush(): Promise<void> {
    while (this.#slots.size > 0) await Promise.all([...this.#slots.values()].map((s) => s.tail));
  }

  #slot(key: string): Slot {
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = { tail: Promise.resolve(), queued: undefined };
      this.#slots.set(key, slot);
    }
    return slot;
  }

  #chain(key: string, slot: Slot, op: () => Promise<void>): void {
    const tail = slot.tail.then(op).catch((error: unknown) => this.#onError(key, error));
    slot.tail = tail;
    void tail.then(() => {
      if (slot.tail === tail) this.#slots.delete(key);
    });
  }
}
