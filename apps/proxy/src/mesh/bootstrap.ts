import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MeshConfigError } from './errors';
import type { MeshConfig } from './model';
import { Field } from './proto-reader';
import { assembleMeshConfig, type TranslatedCluster, type TranslatedListener } from './translate';
import { clusterFrom } from './translate-cluster';
import { listenerFrom } from './translate-listener';

/**
 * Reads a static bootstrap file (JSON for `.json`, YAML otherwise) in Envoy's bootstrap shape and
 * translates its `static_resources` into a `MeshConfig`. Throws `MeshConfigError` (kind
 * `Bootstrap`, named by the file) for a file that does not parse or content the proxy cannot use.
 */
export function loadBootstrapFile(path: string): MeshConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new MeshConfigError('Bootstrap', path, '', `cannot read the file: ${(error as Error).message}`);
  }
  return bootstrapMeshConfig(parseBootstrap(text, extname(path) === '.json' ? 'json' : 'yaml', path), path, text);
}

/** Parses bootstrap text; `source` names it in errors. */
export function parseBootstrap(text: string, format: 'json' | 'yaml', source = 'bootstrap'): unknown {
  try {
    return format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new MeshConfigError(
      'Bootstrap',
      source,
      '',
      `not valid ${format.toUpperCase()}: ${(error as Error).message}`,
    );
  }
}

/**
 * The `MeshConfig` of a parsed bootstrap document (Envoy's `Bootstrap` with proto field names):
 * `static_resources.listeners` (API listeners with an inline `route_config` or `rds`, and
 * `virtualInbound`) and `static_resources.clusters` (STATIC / STRICT_DNS / LOGICAL_DNS with an
 * inline `load_assignment`; EDS clusters get their endpoints from Pilot). Typed fields are
 * written in Envoy's JSON form: `{"@type": "type.googleapis.com/...", ...fields}`. Every version
 * is `bootstrap-<digest of the content>`.
 */
export function bootstrapMeshConfig(document: unknown, source = 'bootstrap', text?: string): MeshConfig {
  const root = Field.root(document ?? {}, 'Bootstrap', source);
  const resources = root.get('static_resources');
  const listenerFields = resources.get('listeners').list();
  const clusterFields = resources.get('clusters').list();
  const listeners: TranslatedListener[] = listenerFields.map(listenerFrom);
  const clusters: TranslatedCluster[] = clusterFields.map(clusterFrom);
  rejectDuplicates(listenerFields, listeners.map(nameOf));
  rejectDuplicates(
    clusterFields,
    clusters.map((c) => c.cluster.name),
  );
  const version = `bootstrap-${createHash('sha256')
    .update(text ?? JSON.stringify(document ?? null))
    .digest('hex')
    .slice(0, 12)}`;
  return assembleMeshConfig({
    versions: { listeners: version, routes: version, clusters: version, endpoints: version },
    listeners,
    routes: [],
    clusters,
    assignments: new Map(),
    raw: {
      listeners: listenerFields.map((f) => f.value),
      clusters: clusterFields.map((f) => f.value),
    },
  });
}

function nameOf(listener: TranslatedListener): string {
  return listener.kind === 'outbound' ? listener.listener.name : 'virtualInbound';
}

function rejectDuplicates(fields: readonly Field[], names: readonly string[]): void {
  const seen = new Set<string>();
  names.forEach((name, index) => {
    if (seen.has(name)) fields[index].get('name').fail(`duplicate name ${name}`);
    seen.add(name);
  });
}
