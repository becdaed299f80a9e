/**
 * A snapshot store on disk: one JSON file per key in a directory, written atomically (to a temporary
 * file, then renamed), so a crash mid-write leaves the previous snapshot intact.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InvalidArgumentError } from "./errors.js";
import type { SnapshotStore, StoredSnapshot } from "./SnapshotStore.js";

const SUFFIX = ".snapshot.json";

/**
 * Stores snapshots as files. Keys are encoded into file names (any string is a valid key).
 *
 * @example
 * ```ts
 * const system = ActorSystem.start({ snapshotStore: new FileSnapshotStore(".normandy/snapshots") });
 * ```
 */
export class FileSnapshotStore implements SnapshotStore {
  /** The directory holding the snapshot files. */
  readonly directory: string;
  #ready: Promise<unknown> | undefined;
  #seq = 0;

  /** @param directory - where to keep the files (created on first write). */
  constructor(directory: string) {
    this.directory = directory;
  }

  async get(key: string): Promise<StoredSnapshot | undefined> {
    let text: string;
    try {
      text = await readFile(this.#path(key), "utf8");
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const parsed = JSON.parse(text) as StoredSnapshot;
    if (parsed.version !== 1)
      throw new InvalidArgumentError(`snapshot ${key} has unknown version ${String(parsed.version)}`);
    return parsed;
  }

  async put(key: string, snapshot: StoredSnapshot): Promise<void> {
    this.#ready ??= mkdir(this.directory, { recursive: true });
    await this.#ready;
    const path = this.#path(key);
    const temp = `${path}.${process.pid}.${++this.#seq}.tmp`;
    await writeFile(temp, JSON.stringify(snapshot));
    await rename(temp, path);
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  async keys(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    return names.filter((n) => n.endsWith(SUFFIX)).map((n) => decodeURIComponent(n.slice(0, -SUFFIX.length)));
  }

  #path(key: string): string {
    return join(this.directory, encodeURIComponent(key) + SUFFIX);
  }
}

function isMissing(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ENOENT";
}
