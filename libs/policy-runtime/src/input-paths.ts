/**
 * The parts of an input document a policy reads (found when it was compiled: Policy's
 * `inputPathsRead`), and the document cut down to them: what a decision can depend on, so the
 * key a proxy keeps it by.
 */

/** One part of the input, as keys from `input` (`["attributes", "source", "principal"]`). */
export type InputPath = readonly string[];

/** The parts as a tree of keys; `true` where a part is read whole. */
export type InputTree = ReadonlyMap<string, InputTree> | true;

/** The tree of `paths` (an empty path is the whole input: `true`). */
export function inputTree(paths: readonly InputPath[]): InputTree {
  type Node = Map<string, Node | true>;
  const root: Node = new Map();
  for (const path of paths) {
    if (path.length === 0) return true;
    let node = root;
    for (let i = 0; i < path.length; i++) {
      const next = node.get(path[i]);
      if (next === true) break;
      if (i === path.length - 1) {
        node.set(path[i], true);
        break;
      }
      const child: Node = next ?? new Map();
      node.set(path[i], child);
      node = child;
    }
  }
  return root;
}

/**
 * `value` with only the parts in `tree`: an object keeps the keys the tree names (those it has),
 * each cut down in turn; anything else (an array, a string, ...) is kept whole, since a policy
 * looking into it by a key finds the same there as in the original.
 */
export function pruneInput(value: unknown, tree: InputTree): unknown {
  if (tree === true || value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of tree) {
    if (Object.prototype.hasOwnProperty.call(source, key) && source[key] !== undefined)
      out[key] = pruneInput(source[key], sub);
  }
  return out;
}
