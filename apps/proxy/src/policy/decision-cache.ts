/**
 * Decisions of one bundle's Istio module, by key (PolicyAuthorizer keeps each under the request
 * fields its module input comes from, `requestKey`, and under the outcomes of the tests the
 * module applies to those values, `matcherKey`). The module is a pure function of its input
 * (generated Rego reads only `input`: no clock, no data, no randomness), and requests with the
 * same key of either kind get the same decision, so a kept decision is exactly what evaluating
 * again would give; requests that differ only where no policy looks share an entry.
 *
 * A key is kept on its second sighting: a doorkeeper table of key hashes remembers the first.
 * Requests seen once (a path with an id in it, say) then cost a hash, never an entry that the
 * garbage collector must promote and later sweep. At most `capacity` entries are kept,
 * the oldest dropped first. Each bundle has its own cache, so a bundle swap leaves every kept
 * decision behind.
 */
export class DecisionCache<V> {
  private readonly entries = new Map<string, V>();
  /** Keys in insertion order, as a ring: the slot to fill next holds the oldest key. */
  private readonly ring: (string | undefined)[];
  private next = 0;
  /** Hash of a key seen once, per slot (hash modulo the table size); 0 is empty. */
  private readonly doorkeeper: Int32Array;

  constructor(
    readonly capacity: number,
    /** The longest key (characters) kept. */
    private readonly maxKeyLength = 2048,
  ) {
    this.ring = new Array<string | undefined>(capacity);
    this.doorkeeper = new Int32Array(capacity > 0 ? Math.max(1024, capacity * 2) : 1);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  /** Keeps `value` for `key` when `key` was offered before (and is short enough). */
  offer(key: string, value: V): void {
    if (this.capacity === 0 || key.length > this.maxKeyLength || !this.seenBefore(key)) return;
    const oldest = this.ring[this.next];
    if (oldest !== undefined) this.entries.delete(oldest);
    this.ring[this.next] = key;
    this.next = (this.next + 1) % this.capacity;
    this.entries.set(key, value);
  }

  /** Whether `key`'s hash sits in its doorkeeper slot; records it there otherwise. */
  private seenBefore(key: string): boolean {
    let hash = 0x811c9dc5; // FNV-1a over UTF-16 units
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
    hash |= 1; // never 0, the empty slot
    const slot = (hash >>> 0) % this.doorkeeper.length;
    if (this.doorkeeper[slot] === hash) return true;
    this.doorkeeper[slot] = hash;
    return false;
  }
}
