/**
 * Where durable actors keep their persisted snapshots, so a restarted process resumes instead of
 * starting blank. An interface with an in-memory implementation; `FileSnapshotStore` persists to disk.
 */

/** A stored snapshot: the format version and the persisted value. */
export interface StoredSnapshot {
  /** The envelope version (currently 1). */
  readonly version: 1;
  /** The persisted value (JSON-able). */
  readonly value: unknown;
}

/** A key/value store of persisted snapshots. Implementations must be safe to call concurrently per key. */
export interface SnapshotStore {
  /** Reads a snapshot; `undefined` when none is stored. */
  get(key: string): Promise<StoredSnapshot | undefined>;
  /** Stores a snapshot, replacing any previous one. */
  put(key: string, snapshot: StoredSnapshot): Promise<void>;
  /** Deletes a snapshot (no error if absent). */
  delete(key: string): Promise<void>;
  /** Lists the stored keys. */
  keys(): Promise<string[]>;
}

/**
 * A snapshot store in memory. Values are deep-copied on the way in and out (`structuredClone`), so a
 * later mutation of the live state can never alter what was saved.
 *
 * @example
 * ```ts
 * const system = ActorSystem.start({ snapshotStore: new MemorySnapshotStore() });
 * ```
 */
export class MemorySnapshotStore implements SnapshotStore {
  readonly #data = new Map<string, StoredSnapshot>();

  async get(key: string): Promise<StoredSnapshot | undefined> {
    const value = this.#data.get(key);
    return value === undefined ? undefined : structuredClone(value);
  }

  async put(key: string, snapshot: StoredSnapshot): Promise<void> {
    this.#data.set(key, structuredClone(snapshot));
  }

  async delete(key: string): Promise<void> {
    this.#data.delete(key);
  }

  async keys(): Promise<string[]> {
    return [...this.#data.keys()];
  }
}
