import type { IdentitySource } from '../identity/types';
import type { MeshConfigSource } from '../mesh/model';

/** /ready's answer when the proxy can serve mesh traffic. */
export interface Ready {
  readonly ready: true;
  readonly identity: { readonly spiffeId: string; readonly notAfter: string };
  readonly config: {
    readonly source: string;
    readonly connected: boolean;
    readonly versions: Readonly<Record<string, string>>;
  };
}

/** /ready's answer otherwise, naming each missing piece. */
export interface NotReady {
  readonly ready: false;
  readonly reasons: readonly string[];
}

/**
 * Ready once the proxy has a workload certificate (it can do mTLS) and a mesh configuration
 * (it can route): from Pilot, or from the bootstrap file. A later Pilot disconnection keeps
 * the last config and so does not make the proxy unready. `pending` names what else the app
 * still waits for (e.g. the first authorization bundle).
 */
export function readiness(
  identity: IdentitySource,
  mesh: MeshConfigSource,
  pending: readonly string[] = [],
): Ready | NotReady {
  const snapshot = identity.current();
  const config = mesh.current();
  const status = mesh.status();
  if (snapshot && config && pending.length === 0) {
    return {
      ready: true,
      identity: {
        spiffeId: snapshot.certificate.spiffeId,
        notAfter: snapshot.certificate.notAfter.toISOString(),
      },
      config: { source: status.source, connected: status.connected, versions: { ...config.versions } },
    };
  }
  const reasons: string[] = [];
  if (!snapshot) reasons.push('no workload certificate yet');
  if (!config) reasons.push(missingConfigReason(status));
  reasons.push(...pending);
  return { ready: false, reasons };
}

function missingConfigReason(status: ReturnType<MeshConfigSource['status']>): string {
  const where =
    status.source === 'none'
      ? 'no config source'
      : `${status.source} ${status.connected ? 'connected' : 'not connected'}`;
  return `no mesh configuration yet (${where}${status.lastError ? `; last error: ${status.lastError}` : ''})`;
}
