import type { RegoProblem } from '../errors';
import type { TestReport, TestResult } from './policy-compiler';

/** Where a file the caller submitted sits in the request body, e.g. `modules["authz.rego"]`. */
function locate(path: string, dirs: string[]): { file: string; field: string } {
  const normalised = path.replace(/\\/g, '/');
  for (const dir of dirs) {
    const at = normalised.lastIndexOf(`${dir}/`);
    if (at >= 0) {
      const file = normalised.slice(at + dir.length + 1);
      return { file, field: `${dir}[${JSON.stringify(file)}]` };
    }
  }
  return { file: normalised, field: normalised };
}

interface OpaJsonError {
  code?: string;
  message?: string;
  location?: { file?: string; row?: number; col?: number };
}

/** Problems from `opa check --format json` (`{"errors": [{code, message, location}]}`). */
export function problemsFromJson(output: string, ...dirs: string[]): RegoProblem[] {
  let parsed: { errors?: OpaJsonError[] } | undefined;
  try {
    parsed = JSON.parse(output) as { errors?: OpaJsonError[] };
  } catch {
    return problemsFromText(output, ...dirs);
  }
  const errors = parsed?.errors ?? [];
  if (errors.length === 0) return problemsFromText(output, ...dirs);
  return errors.map((error) => {
    const where = error.location?.file ? locate(error.location.file, dirs) : undefined;
    return {
      path: where?.field ?? 'modules',
      message: error.message ?? 'error',
      code: error.code ?? 'rego_error',
      ...(where ? { file: where.file } : {}),
      ...(error.location?.row !== undefined ? { row: error.location.row } : {}),
      ...(error.location?.col !== undefined ? { col: error.location.col } : {}),
    };
  });
}

const TEXT_PROBLEM = /(?:(\S+\.rego):(\d+)(?::(\d+))?: )?(rego_[a-z_]+|wasm_[a-z_]+|[a-z]+_error): (.+)/g;

/** Problems from the CLI's text errors (`error: 1 error occurred: file.rego:2: rego_unsafe_var_error: ...`). */
export function problemsFromText(output: string, ...dirs: string[]): RegoProblem[] {
  const problems: RegoProblem[] = [];
  for (const line of output.split('\n')) {
    for (const m of line.matchAll(TEXT_PROBLEM)) {
      const where = m[1] ? locate(m[1], dirs) : undefined;
      problems.push({
        path: where?.field ?? 'entrypoints',
        message: m[5].trim(),
        code: m[4],
        ...(where ? { file: where.file, row: Number(m[2]) } : {}),
        ...(m[3] ? { col: Number(m[3]) } : {}),
      });
    }
  }
  if (problems.length > 0) return problems;
  const message = output.replace(/^error:\s*/, '').trim() || 'OPA rejected the policy';
  return [{ path: 'modules', message, code: 'opa_error' }];
}

interface OpaTestJson {
  location?: { file?: string; row?: number };
  package?: string;
  name?: string;
  fail?: boolean;
  skip?: boolean;
  error?: { message?: string; code?: string };
  duration?: number;
}

/** `opa test --format json` output as a report; undefined when the output is not a test report. */
export function parseTestReport(output: string, dirs: string[]): TestReport | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(output);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const results: TestResult[] = (parsed as OpaTestJson[]).map((test) => {
    const outcome: TestResult['outcome'] = test.error ? 'error' : test.skip ? 'skip' : test.fail ? 'fail' : 'pass';
    const file = test.location?.file ? locate(test.location.file, dirs).file : undefined;
    return {
      package: (test.package ?? '').replace(/^data\./, ''),
      name: test.name ?? '',
      ...(file ? { file } : {}),
      ...(test.location?.row !== undefined ? { row: test.location.row } : {}),
      outcome,
      ...(test.error?.message ? { message: test.error.message } : {}),
      ...(test.duration !== undefined ? { durationNs: test.duration } : {}),
    };
  });
  return {
    passed: results.filter((r) => r.outcome === 'pass').length,
    failed: results.filter((r) => r.outcome === 'fail' || r.outcome === 'error').length,
    results,
  };
}
