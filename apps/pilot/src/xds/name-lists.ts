/**
 * One array per distinct list of subscribed names, shared by every stream that subscribes to it.
 * A thousand proxies asking for the same 150 clusters then hold one list instead of a thousand
 * copies of it (and of its names), and the config generator keys their shared answer by that one
 * array. A list no stream holds any more is dropped with its last holder.
 */
export class NameLists {
  private readonly lists = new Map<string, WeakRef<readonly string[]>>();
  private readonly forget = new FinalizationRegistry<string>((key) => {
    if (!this.lists.get(key)?.deref()) this.lists.delete(key);
  });

  /** The shared array with the same names, in the same order, as `names` (which becomes it when new). */
  intern(names: readonly string[]): readonly string[] {
    const key = JSON.stringify(names);
    const shared = this.lists.get(key)?.deref();
    if (shared) return shared;
    this.lists.set(key, new WeakRef(names));
    this.forget.register(names, key);
    return names;
  }

  /** How many distinct lists are held (for tests). */
  get size(): number {
    return this.lists.size;
  }
}
