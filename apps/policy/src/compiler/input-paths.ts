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

/** Runs of one `ScanStmt`'s body before the analysis gives up (each adds parts, or it has settled). */
const MAX_SCAN_PASSES = 16;

/**
 * The parts of the input `plan` can read, shortest first, none inside another; `null` when it
 * can read any of it (or the plan holds something this analysis does not know).
 */
export function inputPathsRead(plan: PolicyPlan): InputPath[] | null {
  const strings = (plan.static.strings ?? []).map((s) => s.value);
  const funcs = plan.funcs?.funcs ?? [];
  const userFuncs = new Set(funcs.map((f) => f.name));
  const read: InputPath[] = [];
  try {
    for (const p of plan.plans.plans) analyse(p.blocks, 0, strings, userFuncs, read);
    // A function's first parameter is the input (every call passes it: checked at each call).
    for (const f of funcs) analyse(f.blocks, f.params[0], strings, userFuncs, read);
  } catch (error) {
    if (error instanceof WholeInput) return null;
    throw error;
  }
  return minimal(read);
}

/** Which parts of the input each local may hold (by the parts' joined keys). */
type Held = Map<number, Map<string, InputPath>>;

/**
 * One function (or plan), in program order. A statement that writes a local replaces what it
 * held; after a nested block a local holds what it held before or anything the block put in it
 * (the block may have stopped anywhere), and a `ScanStmt`'s body runs again from what the last
 * run left until that adds nothing (what one iteration puts in a local, the next may read).
 */
function analyse(blocks: Block[], input: number, strings: string[], userFuncs: Set<string>, read: InputPath[]): void {
  const readWhole = (held: Held, local: number | undefined) => {
    if (local === undefined) return;
    for (const path of held.get(local)?.values() ?? []) {
      if (path.length === 0) throw new WholeInput();
      read.push(path);
    }
  };
  const statement = ({ type, stmt }: Statement, held: Held, ever: Held): void => {
    if (type === 'WithStmt' || type === 'CallDynamicStmt' || !KNOWN.has(type)) throw new WholeInput();
    let written: Map<string, InputPath> | undefined;
    if (type === 'DotStmt') {
      const source = localOf(stmt.source);
      const key = stmt.key as Operand;
      const from = source === undefined ? undefined : held.get(source);
      if (key.type === 'string_index') {
        const name = strings[key.value as number];
        if (from) written = new Map([...from].map(([k, p]) => [`${k}\u0000${name}`, [...p, name]]));
      } else {
        // A key that is not a constant: the whole part may be read.
        readWhole(held, source);
        readWhole(held, localOf(key));
      }
    } else if (type === 'AssignVarStmt') {
      const source = localOf(stmt.source);
      written = source === undefined ? undefined : held.get(source);
    } else if (type === 'CallStmt' && userFuncs.has(stmt.func as string)) {
      const [first, , ...rest] = stmt.args as Operand[];
      const passed = localOf(first);
      const paths = passed === undefined ? undefined : held.get(passed);
      // The callee takes its first argument as the input: it must be the input itself.
      if (!paths || paths.size !== 1 || !paths.has('')) throw new WholeInput();
      for (const operand of rest) readWhole(held, localOf(operand));
    } else if (type !== 'ResetLocalStmt') {
      for (const local of localsRead(type, stmt)) readWhole(held, local);
    }
    for (const field of type === 'ScanStmt' ? ['key', 'value'] : ['target', 'result']) {
      const local = stmt[field];
      if (typeof local !== 'number') continue;
      // Set once: a second assignment must equal the first (compared, so read whole, above).
      if (type === 'AssignVarOnceStmt') add(held, local, written);
      else if (written && written.size > 0) held.set(local, written);
      else held.delete(local);
      add(ever, local, written);
    }
    if (type === 'ScanStmt') {
      const start = copy(held);
      for (let runs = 0; ; runs++) {
        // A local looked into by itself on every iteration would never settle.
        if (runs === MAX_SCAN_PASSES) throw new WholeInput();
        const pass = copy(start);
        const changedIn = new Map() as Held;
        run((stmt.block as Block).stmts ?? [], pass, changedIn);
        if (!merge(start, changedIn)) break;
      }
      merge(held, start);
      merge(ever, start);
    } else {
      const nested = [...(stmt.block ? [stmt.block as Block] : []), ...((stmt.blocks as Block[] | undefined) ?? [])];
      for (const block of nested) {
        const changedIn = new Map() as Held;
        run(block.stmts ?? [], copy(held), changedIn);
        merge(held, changedIn);
        merge(ever, changedIn);
      }
    }
  };
  const run = (statements: Statement[], held: Held, ever: Held) => {
    for (const s of statements) statement(s, held, ever);
  };
  const held: Held = new Map([[input, new Map([['', []]])]]);
  for (const block of blocks) {
    const changedIn = new Map() as Held;
    run(block.stmts ?? [], copy(held), changedIn);
    merge(held, changedIn);
  }
}

function add(held: Held, local: number, paths: Map<string, InputPath> | undefined): boolean {
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

/** Shortest first, each once, none below another (a part read whole covers its insides). */
function minimal(paths: InputPath[]): InputPath[] {
  const sorted = [...paths].sort((a, b) => a.length - b.length || a.join('\u0000').localeCompare(b.join('\u0000')));
  const kept: InputPath[] = [];
  for (const path of sorted) {
    if (!kept.some((k) => k.length <= path.length && k.every((key, i) => path[i] === key))) kept.push(path);
  }
  return kept;
}
