import { gunzipSync } from 'node:zlib';

/** What `opa build -t wasm` produces, read from its bundle. */
export interface WasmBundle {
  /** The compiled policy (`/policy.wasm`). */
  wasm: Buffer;
  /** The bundle's base data document (`/data.json`), `{}` when absent. */
  data: unknown;
  /** Every file in the bundle by path (without the leading `/`). */
  files: Map<string, Buffer>;
}

/** Reads the regular files of a POSIX (ustar) tar archive. */
export function readTar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const prefix = field(345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const body = archive.subarray(offset + 512, offset + 512 + size);
    if (body.length !== size) throw new Error(`tar: ${name} is truncated`);
    longName = undefined;
    if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
    else if (type === '0' || type === '7') files.set(name.replace(/^\.?\//, ''), Buffer.from(body));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** Reads an `opa build -t wasm` bundle (`.tar.gz`). Throws when it has no `policy.wasm`. */
export function readWasmBundle(tarGz: Buffer): WasmBundle {
  const files = readTar(gunzipSync(tarGz));
  const wasm = files.get('policy.wasm');
  if (!wasm) throw new Error('the bundle has no /policy.wasm: was it built with -t wasm?');
  const dataFile = files.get('data.json');
  return { wasm, data: dataFile ? JSON.parse(dataFile.toString('utf8')) : {}, files };
}

/** The plan (`/plan.json`) of an `opa build -t plan` bundle: OPA's intermediate representation, as JSON. */
export function readPlanBundle(tarGz: Buffer): unknown {
  const plan = readTar(gunzipSync(tarGz)).get('plan.json');
  if (!plan) throw new Error('the bundle has no /plan.json: was it built with -t plan?');
  return JSON.parse(plan.toString('utf8'));
}
