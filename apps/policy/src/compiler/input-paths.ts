/**
 * Which parts of `input` a compiled policy can read, found in OPA's intermediate representation
 * (`opa build -t plan`, the plan the wasm module is compiled from): a proxy then keys a kept
 * decision by those parts alone (Mixer's check cache keyed by referenced attributes), instead of
 * by a document that carries the request's time and id.
 *
 * Sound by construction, not by pattern: a local holding a part of the input may only be looked
 * into with a constant key (`DotStmt`) or copied (`AssignVarStmt`); any other use of it (compared,
 * iterated, counted, passed to a built-in, returned, put in a result) reads that part whole. A
 * `with` on the input, a dynamic call, a statement not known here, or the whole input read
 * gives `null`: the policy may read anything.
 */

import type { InputPath } from '#libs/policy-runtime';

interface Operand {
  type: string;
  value: unknown;
}

interface Statement {
  type: string;
  stmt: Record<string, unknown>;
}

interface Block {
  stmts: Statement[];
}

interface PlanFunc {
  name: string;
  params: number[];
  blocks: Block[];
}

/** The parts of `opa build -t plan`'s `plan.json` read here. */
export interface PolicyPlan {
  static: { strings?: { value: string }[] };
  plans: { plans: { name: string; blocks: Block[] }[] };
  funcs?: { funcs?: PlanFunc[] | null } | null;
}

/** Fields of any statement that hold no local: positions, names, nested blocks. */
const NOT_LOCALS = new Set(['file', 'col', 'row', 'end_col', 'end_row', 'func', 'block', 'blocks']);
/** Fields that name the local a statement writes. */
const WRITTEN = new Set(['target', 'result']);
/** Fields of some statements that hold a constant (a number, a string index), not a local. */
const CONSTANTS: Record<string, readonly string[]> = {
  AssignIntStmt: ['value'],
  MakeNumberIntStmt: ['value'],
  MakeNumberRefStmt: ['Index', 'index'],
  BreakStmt: ['index'],
};

/** Statements whose number fields are all locals read, or written (a written one is harmlessly counted as read). */
const KNOWN = new Set([
  'ArrayAppendStmt',
  'AssignIntStmt',
  'AssignVarOnceStmt',
  'BlockStmt',
  'BreakStmt',
  'CallStmt',
  'DotStmt',
  'EqualStmt',
  'IsArrayStmt',
  'IsDefinedStmt',
  'IsObjectStmt',
  'IsSetStmt',
  'IsUndefinedStmt',
  'LenStmt',
  'MakeArrayStmt',
  'MakeNullStmt',
  'MakeNumberIntStmt',
  'MakeNumberRefStmt',
  'MakeObjectStmt',
  'MakeSetStmt',
  'NopStmt',
  'NotEqualStmt',
  'NotStmt',
  'ObjectInsertOnceStmt',
  'ObjectInsertStmt',
  'ObjectMergeStmt',
  'ResetLocalStmt',
  'ResultSetAddStmt',
  'ReturnLocalStmt',
  'ScanStmt',
  'SetAddStmt',
  'AssignVarStmt',
]);

class WholeInput extends Error {}

/** Runs over every function before the analysis gives up (each finds functions returning more, or it has settled). */
const MAX_SUMMARY_RUNS = 32;
/** Runs of one `ScanStmt`'s body before the analysis gives up (each adds parts, or it has settled). */
const MAX_SCAN_PASSES = 16;

/**
 * The parts of the input `plan` can read, shortest first, none inside another; `null` when it
 * can read any of it (or the plan holds something this analysis does not know).
 */
export function inputPathsRead(plan: PolicyPlan): InputPath[] | null {
  const strings = (plan.static.strings ?? []).map((s) => s.value);
  const funcs = plan.funcs?.funcs ?? [];
  const returns: Returns = new Map(funcs.map((f) => [f.name, new Map()]));
  try {
    // What each function returns flows to its callers: analyse every function again until no
    // function is found to return more (each run can only add), then the last run's reads hold.
    for (let runs = 0; ; runs++) {
      if (runs === MAX_SUMMARY_RUNS) throw new WholeInput();
      const context: Context = { strings, returns, read: [], exists: [], grew: false };
      for (const p of plan.plans.plans) analyse(p.blocks, 0, undefined, context);
      // A function's first parameter is the input (every call passes it: checked at each call).
      for (const f of funcs) analyse(f.blocks, f.params[0], f.name, context);
      if (!context.grew) return withExisting(minimal(context.read), context.exists);
    }
  } catch (error) {
    if (error instanceof WholeInput) return null;
    throw error;
  }
}

/** The parts of the input each function may return (by the parts' joined keys). */
type Returns = Map<string, Map<string, InputPath>>;

interface Context {
  strings: string[];
  returns: Returns;
  /** The parts read whole, by this run. */
  read: InputPath[];
  /** The parts whose existence is tested (every lookup, `IsDefinedStmt`, `IsUndefinedStmt`), by this run. */
  exists: InputPath[];
  /** Whether this run found a function returning more than the last run knew. */
  grew: boolean;
}

/** Which parts of the input each local may hold (by the parts' joined keys). */
type Held = Map<number, Map<string, InputPath>>;

/**
 * One function (or plan), walked in program order. A statement that writes a local replaces
 * what it held; after a nested block a local holds what it held before or anything the block
 * put in it (the block may have stopped anywhere), and a `ScanStmt`'s body runs again from what
 * the last run left until that adds nothing (what one iteration puts in a local, the next may
 * read).
 */
function analyse(blocks: Block[], input: number, self: string | undefined, context: Context): void {
  const walk = new FunctionWalk(context, self, onceTargets(blocks));
  const held: Held = new Map([[input, new Map([['', []]])]]);
  for (const block of blocks) merge(held, walk.block(block, copy(held)));
}

class FunctionWalk {
  constructor(
    private readonly context: Context,
    /** The function walked (its returns are recorded); undefined for a plan. */
    private readonly self: string | undefined,
    /** How many `AssignVarOnceStmt`s write each local. */
    private readonly once: ReadonlyMap<number, number>,
  ) {}

  /** Walks `block` from `held` (updated in place); returns everything any local held in it. */
  block(block: Block, held: Held): Held {
    const ever: Held = new Map();
    for (const s of block.stmts ?? []) this.statement(s, held, ever);
    return ever;
  }

  private statement({ type, stmt }: Statement, held: Held, ever: Held): void {
    if (type === 'WithStmt' || type === 'CallDynamicStmt' || !KNOWN.has(type)) throw new WholeInput();
    const written = this.reads(type, stmt, held);
    for (const field of type === 'ScanStmt' ? ['key', 'value'] : ['target', 'result']) {
      const local = stmt[field];
      if (typeof local !== 'number') continue;
      // Set once: kept with what it held (a second assignment, if any, was compared: read whole).
      if (type === 'AssignVarOnceStmt') add(held, local, written);
      else if (written && written.size > 0) held.set(local, new Map(written));
      else held.delete(local);
      add(ever, local, written);
    }
    if (type === 'ScanStmt') this.scan(stmt.block as Block, held, ever);
    else
      for (const block of [...(stmt.block ? [stmt.block as Block] : []), ...((stmt.blocks as Block[]) ?? [])]) {
        const changed = this.block(block, copy(held));
        merge(held, changed);
        merge(ever, changed);
      }
  }

  /** What `stmt` reads (recorded), and the parts the local it writes will hold. */
  private reads(type: string, stmt: Record<string, unknown>, held: Held): Map<string, InputPath> | undefined {
    const source = localOf(stmt.source);
    const from = source === undefined ? undefined : held.get(source);
    switch (type) {
      case 'DotStmt':
        return this.lookup(from, stmt.key as Operand, held);
      case 'AssignVarStmt':
        return from;
      case 'ReturnLocalStmt':
        if (this.self === undefined) break;
        if (add(this.context.returns, this.self, from)) this.context.grew = true;
        return undefined;
      case 'AssignVarOnceStmt':
        // Set in one place, from one part: run again (in a loop) it can only meet the same part.
        if (this.once.get(stmt.target as number) === 1 && (from?.size ?? 0) <= 1) return from;
        break;
      case 'IsDefinedStmt':
      case 'IsUndefinedStmt':
        for (const path of from?.values() ?? []) this.context.exists.push(path);
        return undefined;
      case 'ResetLocalStmt':
        return undefined;
      case 'CallStmt':
        if (this.context.returns.has(stmt.func as string)) return this.call(stmt, held);
        break;
    }
    for (const local of localsRead(type, stmt)) this.readWhole(held, local);
    return undefined;
  }

  /** A lookup in a part by a constant key keeps it partial (and tests that the key exists); any other key reads it whole. */
  private lookup(
    from: Map<string, InputPath> | undefined,
    key: Operand,
    held: Held,
  ): Map<string, InputPath> | undefined {
    if (key.type !== 'string_index') {
      for (const path of from?.values() ?? []) this.read(path);
      this.readWhole(held, localOf(key));
      return undefined;
    }
    if (!from) return undefined;
    const name = this.context.strings[key.value as number];
    const written = new Map([...from].map(([k, p]) => [`${k}\u0000${name}`, [...p, name]]));
    // The lookup itself tests that the part exists (it breaks out of the block when not).
    for (const path of written.values()) this.context.exists.push(path);
    return written;
  }

  /** A call of another function of the plan: it gets the input itself; its result holds what it may return. */
  private call(stmt: Record<string, unknown>, held: Held): Map<string, InputPath> | undefined {
    const [first, , ...rest] = stmt.args as Operand[];
    const passed = localOf(first);
    const paths = passed === undefined ? undefined : held.get(passed);
    if (!paths || paths.size !== 1 || !paths.has('')) throw new WholeInput();
    for (const operand of rest) this.readWhole(held, localOf(operand));
    return this.context.returns.get(stmt.func as string);
  }

  private scan(body: Block, held: Held, ever: Held): void {
    const start = copy(held);
    for (let runs = 0; ; runs++) {
      // A local looked into by itself on every iteration would never settle.
      if (runs === MAX_SCAN_PASSES) throw new WholeInput();
      if (!merge(start, this.block(body, copy(start)))) break;
    }
    merge(held, start);
    merge(ever, start);
  }

  private readWhole(held: Held, local: number | undefined): void {
    if (local === undefined) return;
    for (const path of held.get(local)?.values() ?? []) this.read(path);
  }

  private read(path: InputPath): void {
    if (path.length === 0) throw new WholeInput();
    this.context.read.push(path);
  }
}

/** How many `AssignVarOnceStmt`s write each local, nested blocks included. */
function onceTargets(blocks: Block[], counts = new Map<number, number>()): Map<number, number> {
  for (const block of blocks)
    for (const { type, stmt } of block.stmts ?? []) {
      if (type === 'AssignVarOnceStmt') counts.set(stmt.target as number, (counts.get(stmt.target as number) ?? 0) + 1);
      if (stmt.block) onceTargets([stmt.block as Block], counts);
      if (Array.isArray(stmt.blocks)) onceTargets(stmt.blocks as Block[], counts);
    }
  return counts;
}

function add<K>(held: Map<K, Map<string, InputPath>>, local: K, paths: Map<string, InputPath> | undefined): boolean {
  if (!paths || paths.size === 0) return false;
  let mine = held.get(local);
  let added = false;
  for (const [key, path] of paths) {
    mine ??= new Map();
    if (!mine.has(key)) {
      mine.set(key, path);
      added = true;
    }
  }
  if (mine) held.set(local, mine);
  return added;
}

/** Adds everything `from` holds to `into`; whether that added anything. */
function merge(into: Held, from: Held): boolean {
  let added = false;
  for (const [local, paths] of from) added = add(into, local, paths) || added;
  return added;
}

function copy(held: Held): Held {
  return new Map([...held].map(([local, paths]) => [local, new Map(paths)]));
}

function localOf(operand: unknown): number | undefined {
  if (typeof operand === 'number') return operand;
  if (operand && typeof operand === 'object' && (operand as Operand).type === 'local')
    return (operand as Operand).value as number;
  return undefined;
}

/** The locals a statement reads (plain numbers and local operands, in any field that can hold one it does not write). */
function localsRead(type: string, stmt: Record<string, unknown>): number[] {
  const locals: number[] = [];
  for (const [field, value] of Object.entries(stmt)) {
    if (NOT_LOCALS.has(field) || WRITTEN.has(field) || CONSTANTS[type]?.includes(field)) continue;
    if (type === 'ScanStmt' && (field === 'key' || field === 'value')) continue;
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      const local = localOf(item);
      if (local !== undefined) locals.push(local);
    }
  }
  return locals;
}

/**
 * `read`, plus each part whose existence is tested that the cut-down input would not otherwise
 * keep. A part is kept (when the input has it) if it is read, inside a part read, or on the way
 * to one: only a part tested alone is added, whole.
 */
function withExisting(read: InputPath[], tested: InputPath[]): InputPath[] {
  const exists = [...new Map(tested.map((path) => [path.join('\u0000'), path])).values()];
  // Keeping a part keeps the parts on the way to it: only the deepest parts tested need a look.
  const deepest = exists.filter((path) => !exists.some((other) => other.length > path.length && isPrefix(path, other)));
  const missing = deepest.filter((path) => !read.some((r) => isPrefix(r, path) || isPrefix(path, r)));
  if (missing.some((path) => path.length === 0)) throw new WholeInput();
  return missing.length === 0 ? read : minimal([...read, ...missing]);
}

/** Shortest first, each once, none below another (a part read whole covers its insides). */
function minimal(paths: InputPath[]): InputPath[] {
  const sorted = [...paths].sort((a, b) => a.length - b.length || a.join('\u0000').localeCompare(b.join('\u0000')));
  const kept: InputPath[] = [];
  for (const path of sorted) {
    if (!kept.some((k) => isPrefix(k, path))) kept.push(path);
  }
  return kept;
}

/** Whether `a` is `b` or a part on the way to it. */
function isPrefix(a: InputPath, b: InputPath): boolean {
  return a.length <= b.length && a.every((key, i) => b[i] === key);
}
