import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { SERVICE_CONFIG } from '#libs/host';
import {
  capabilitiesHash,
  HOST_BUILTINS,
  type OpaCapabilities,
  type InputPath,
  readPlanBundle,
  readWasmBundle,
  restrictCapabilities,
} from '#libs/policy-runtime';
import type { PolicyConfig } from '../config';
import { PolicyError, type RegoProblem } from '../errors';
import type { CompiledPolicy, CompileRequest, PolicyCompiler, TestReport, TestRequest } from './policy-compiler';
import { inputPathsRead, type PolicyPlan } from './input-paths';
import { parseTestReport, problemsFromJson, problemsFromText } from './opa-output';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const MODULES_DIR = 'modules';
const TESTS_DIR = 'tests';

/**
 * The OPA CLI as the policy compiler. Every run happens in a fresh temporary directory that
 * is removed afterwards, with arguments passed as an array (never through a shell), a
 * timeout (POLICY_COMPILE_TIMEOUT), and an environment holding only PATH.
 */
@Injectable()
export class OpaCliCompiler implements PolicyCompiler {
  private readonly logger = new Logger('OpaCompiler');
  private capabilities?: Promise<{ text: string; sha256: string; opaVersion: string }>;

  constructor(@Inject(SERVICE_CONFIG) private readonly config: PolicyConfig) {}

  async compile(request: CompileRequest): Promise<CompiledPolicy> {
    const { text, sha256, opaVersion } = await this.loadCapabilities();
    return this.inScratch(async (dir) => {
      await writeFile(join(dir, 'capabilities.json'), text);
      await writeModules(dir, MODULES_DIR, request.modules);
      const check = await this.run(
        ['check', '--format', 'json', '--capabilities', 'capabilities.json', MODULES_DIR],
        dir,
      );
      if (check.code !== 0) throw compileError(problemsFromJson(check.stdout || check.stderr, MODULES_DIR));
      const entrypointArgs = request.entrypoints.flatMap((e) => ['-e', e]);
      const build = (target: 'wasm' | 'plan', optimize: boolean) =>
        this.run(
          [
            'build',
            '-t',
            target,
            ...entrypointArgs,
            ...(optimize ? ['-O=1'] : []),
            '--capabilities',
            'capabilities.json',
            '-o',
            `${target}.tar.gz`,
            MODULES_DIR,
          ],
          dir,
        );
      let optimized = request.optimize === true;
      let built = await build('wasm', optimized);
      if (built.code !== 0 && optimized) {
        // OPA 1.22's wasm planner can fail on a partially evaluated module (a panic for some
        // shapes) that builds as written: the optimisation is worth a retry, not a failure.
        this.logger.warn({ msg: 'opa build -O=1 failed; building without optimisation', reason: firstLine(built) });
        optimized = false;
        built = await build('wasm', false);
      }
      if (built.code !== 0) throw compileError(problemsFromText(built.stderr || built.stdout, MODULES_DIR));
      const bundle = readWasmBundle(await readFile(join(dir, 'wasm.tar.gz')));
      const compiled = { wasm: bundle.wasm, capabilitiesSha256: sha256, opaVersion };
      if (!request.inputPaths) return compiled;
      return { ...compiled, inputPaths: await this.inputPaths(dir, () => build('plan', optimized)) };
    });
  }

  /**
   * The parts of the input the module just built can read, from the plan it was compiled from
   * (the same sources, entrypoints and optimisation). Never fails the compile: without a plan
   * the answer is `null` (any part), which costs only the proxies' decision cache.
   */
  private async inputPaths(dir: string, plan: () => Promise<RunResult>): Promise<InputPath[] | null> {
    try {
      const built = await plan();
      if (built.code !== 0) throw new Error(firstLine(built));
      return inputPathsRead(readPlanBundle(await readFile(join(dir, 'plan.tar.gz'))) as PolicyPlan);
    } catch (error) {
      this.logger.warn({ msg: 'opa build -t plan failed; the input is read whole', reason: String(error) });
      return null;
    }
  }

  async test(request: TestRequest): Promise<TestReport> {
    return this.inScratch(async (dir) => {
      await writeModules(dir, MODULES_DIR, request.modules);
      await writeModules(dir, TESTS_DIR, request.tests);
      await writeFile(join(dir, 'data.json'), JSON.stringify(request.data));
      const result = await this.run(['test', '--format', 'json', MODULES_DIR, TESTS_DIR, 'data.json'], dir);
      const report = parseTestReport(result.stdout, [MODULES_DIR, TESTS_DIR]);
      if (report) return report;
      throw compileError(problemsFromText(result.stderr || result.stdout, MODULES_DIR, TESTS_DIR));
    });
  }

  /** `opa capabilities --current`, reduced to what libs/policy-runtime can evaluate; computed once. */
  private loadCapabilities(): Promise<{ text: string; sha256: string; opaVersion: string }> {
    this.capabilities ??= (async () => {
      const cwd = tmpdir();
      const [current, version] = await Promise.all([
        this.run(['capabilities', '--current'], cwd),
        this.run(['version'], cwd),
      ]);
      if (current.code !== 0) throw new Error(`opa capabilities failed: ${current.stderr}`);
      const restricted = restrictCapabilities(JSON.parse(current.stdout) as OpaCapabilities, HOST_BUILTINS);
      const text = JSON.stringify(restricted, null, 2);
      const opaVersion = /Version:\s*(\S+)/.exec(version.stdout)?.[1] ?? 'unknown';
      this.logger.log({ msg: 'OPA capabilities ready', opaVersion, builtins: restricted.builtins.length });
      return { text, sha256: capabilitiesHash(text), opaVersion };
    })().catch((error: unknown) => {
      this.capabilities = undefined;
      throw new PolicyError('COMPILER_UNAVAILABLE', 'the OPA CLI could not be run; the cause is in the server log', {
        cause: error,
      });
    });
    return this.capabilities;
  }

  private async inScratch<T>(work: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'bowline-opa-'));
    try {
      return await work(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private run(args: string[], cwd: string): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      execFile(
        this.config.opaPath.startsWith('/') ? this.config.opaPath : join(process.cwd(), this.config.opaPath),
        args,
        {
          cwd,
          timeout: this.config.compileTimeout,
          killSignal: 'SIGKILL',
          maxBuffer: 16 << 20,
          env: { PATH: process.env.PATH ?? '', HOME: cwd },
        },
        (error, stdout, stderr) => {
          if (error && (error.killed || error.signal)) {
            const seconds = this.config.compileTimeout / 1000;
            reject(new PolicyError('COMPILER_UNAVAILABLE', `opa ${args[0]} did not finish within ${seconds}s`));
            return;
          }
          if (error && typeof error.code !== 'number') {
            reject(
              new PolicyError('COMPILER_UNAVAILABLE', `cannot run the OPA CLI: ${error.message}`, { cause: error }),
            );
            return;
          }
          resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
        },
      );
    });
  }
}

async function writeModules(dir: string, sub: string, modules: Record<string, string>): Promise<void> {
  await mkdir(join(dir, sub));
  // File names were validated (a plain name ending in .rego), so they cannot leave the directory.
  await Promise.all(Object.entries(modules).map(([name, source]) => writeFile(join(dir, sub, name), source)));
}

function compileError(problems: RegoProblem[]): PolicyError {
  const first = problems[0];
  const where = first?.file ? `${first.file}:${first.row ?? '?'}:${first.col ?? '?'}: ` : '';
  const summary = first ? `${where}${first.code}: ${first.message}` : 'OPA rejected the policy';
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new PolicyError('POLICY_COMPILE', `the policy does not compile: ${summary}${more}`, { errors: problems });
}

/** The first line of what a failed CLI run printed, for a log line. */
function firstLine(result: { stdout: string; stderr: string }): string {
  return (result.stderr || result.stdout).split('\n', 1)[0].slice(0, 300);
}
