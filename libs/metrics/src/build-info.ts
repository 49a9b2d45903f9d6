import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Registry } from 'prom-client';
import { gauge } from './declare';

/**
 * Sets `bowline_build_info{service, version} 1`, the conventional way to expose what is
 * running (join on it in queries rather than adding labels to every series).
 */
export function recordBuildInfo(registry: Registry, service: string, version = bowlineVersion()): void {
  gauge(registry, {
    name: 'bowline_build_info',
    help: 'Always 1; labelled with the service name and the Bowline version it runs.',
    labelNames: ['service', 'version'],
  }).set({ service, version }, 1);
}

/** The version in Bowline's package.json (found upwards from this file), or "unknown". */
export function bowlineVersion(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'bowline') return parsed.version ?? 'unknown';
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}
