import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { BowlineError } from '#libs/errors';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import { ApplyService } from '../apply/apply.service';
import type { GalleyConfig } from '../config';
import type { DocumentProblem } from '../errors';
import { parseYamlStream } from '../resources/documents';
import { keyString } from '../resources/kinds';
import { ResourceReader } from '../store/resource.reader';

const DEBOUNCE_MS = 250;
const FILE_PATTERN = /\.(ya?ml|json)$/i;
export const FILE_SOURCE_PREFIX = 'file:';

/** What the directory source knows about one file (this replica's view). */
export interface FileStatus {
  file: string;
  /** `applied`: its content is active; `error`: its last content was refused (the previous one stays active). */
  status: 'applied' | 'error';
  /** The resources the file currently provides (`Kind/namespace/name`). */
  resources: string[];
  lastAppliedAt?: string;
  lastAppliedVersion?: number;
  error?: string;
  errors?: DocumentProblem[];
  checkedAt: string;
}

/**
 * Applies the files of GALLEY_CONFIG_DIR (`*.yaml`, `*.yml`, `*.json`, recursively) on change:
 * fs.watch with a debounce, plus a periodic full rescan. Each file owns the resources it
 * declares (source `file:<relative path>`): a new version of the file replaces them, a deleted
 * file deletes them. A file that fails validation is reported and its last good content stays.
 */
@Injectable()
export class DirectorySource implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('DirectorySource');
  private readonly statuses = new Map<string, FileStatus>();
  private readonly hashes = new Map<string, string>();
  private watcher?: FSWatcher;
  private rescan?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private scanning: Promise<void> = Promise.resolve();
  private lastScanAt?: string;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: GalleyConfig,
    @Inject(ApplyService) private readonly applier: ApplyService,
    @Inject(ResourceReader) private readonly reader: ResourceReader,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  get directory(): string | undefined {
    return this.config.configDir ? resolve(this.config.configDir) : undefined;
  }

  onApplicationBootstrap(): void {
    const directory = this.directory;
    if (!directory) return;
    try {
      this.watcher = watch(directory, { persistent: false, recursive: true }, () => this.schedule());
      this.watcher.on('error', (error) =>
        this.logger.warn({ msg: 'watching the config directory failed', reason: String(error) }),
      );
    } catch (error) {
      this.logger.warn({
        msg: 'cannot watch the config directory; relying on rescans',
        directory,
        reason: String(error),
      });
    }
    this.rescan = setInterval(() => void this.scan(), this.config.configDirRescan);
    this.rescan.unref();
    void this.scan();
  }

  onModuleDestroy(): void {
    this.watcher?.close();
    clearInterval(this.rescan);
    clearTimeout(this.debounce);
  }

  /** Per-file status, for `GET /v1/sources`. */
  status(): { directory: string | null; lastScanAt: string | null; files: FileStatus[] } {
    const files = [...this.statuses.values()].sort((a, b) => a.file.localeCompare(b.file));
    return { directory: this.directory ?? null, lastScanAt: this.lastScanAt ?? null, files };
  }

  private schedule(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.scan(), DEBOUNCE_MS);
    this.debounce.unref();
  }

  /** One full pass over the directory; passes never overlap. */
  scan(): Promise<void> {
    this.scanning = this.scanning.then(() =>
      this.scanOnce().catch((error: unknown) =>
        this.logger.warn({ msg: 'config directory scan failed; retrying at the next rescan', reason: String(error) }),
      ),
    );
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const directory = this.directory;
    if (!directory) return;
    const entries = await readdir(directory, { recursive: true, withFileTypes: true });
    const files = entries
      .filter((entry) => entry.isFile() && FILE_PATTERN.test(entry.name) && !entry.name.startsWith('.'))
      .map((entry) => relative(directory, join(entry.parentPath ?? entry.path, entry.name)))
      .sort();
    for (const file of files) await this.applyFile(directory, file);
    const present = new Set(files);
    const owned = await this.reader.sources(FILE_SOURCE_PREFIX);
    const gone = new Set([...owned.map((source) => source.slice(FILE_SOURCE_PREFIX.length)), ...this.statuses.keys()]);
    for (const file of gone) if (!present.has(file)) await this.removeFile(file);
    this.lastScanAt = this.clock.now().toISOString();
  }

  private async applyFile(directory: string, file: string): Promise<void> {
    const text = await readFile(join(directory, file), 'utf8').catch(() => undefined);
    if (text === undefined) return;
    const hash = createHash('sha256').update(text).digest('hex');
    if (this.hashes.get(file) === hash) return;
    const previous = this.statuses.get(file);
    const checkedAt = this.clock.now().toISOString();
    try {
      const report = await this.applier.apply(parseYamlStream(text, file), {
        source: FILE_SOURCE_PREFIX + file,
        ignoreVersions: true,
        prune: true,
      });
      const changed = report.results.filter((r) => r.operation !== 'unchanged').length + report.deleted.length;
      this.statuses.set(file, {
        file,
        status: 'applied',
        resources: report.results.map(keyString),
        lastAppliedAt: checkedAt,
        lastAppliedVersion: report.version,
        checkedAt,
      });
      this.hashes.set(file, hash);
      if (changed > 0) this.logger.log({ msg: 'applied config file', file, changed, version: report.version });
    } catch (error) {
      if (!(error instanceof BowlineError) || error.kind.httpStatus >= 500) throw error;
      this.hashes.set(file, hash);
      this.statuses.set(file, {
        file,
        status: 'error',
        resources: previous?.resources ?? [],
        lastAppliedAt: previous?.lastAppliedAt,
        lastAppliedVersion: previous?.lastAppliedVersion,
        error: error.message,
        errors: error.errors as DocumentProblem[],
        checkedAt,
      });
      this.logger.warn({ msg: 'config file refused; its last good version stays active', file, reason: error.message });
    }
  }

  private async removeFile(file: string): Promise<void> {
    const report = await this.applier.apply(
      { documents: [], problems: [] },
      { source: FILE_SOURCE_PREFIX + file, ignoreVersions: true, prune: true },
    );
    this.statuses.delete(file);
    this.hashes.delete(file);
    if (report.deleted.length > 0) {
      this.logger.log({ msg: 'config file deleted; removed its resources', file, deleted: report.deleted.length });
    }
  }
}
