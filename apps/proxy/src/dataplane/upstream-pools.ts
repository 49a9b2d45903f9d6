import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { type ClientHttp2Session, connect as connectHttp2 } from 'node:http2';
import { connect as connectTls, type PeerCertificate, type TLSSocket } from 'node:tls';
import { MESH_ALPN, spiffeIdOf, type TlsMaterial, trustDomainOf } from './tls-material';

/** Where one upstream request goes: an endpoint, and how to secure the hop. */
export interface UpstreamTarget {
  readonly address: string;
  readonly port: number;
  /** Set for an endpoint with a sidecar: mTLS with this SNI, the server must be one of `expectedSans`. */
  readonly tls?: { readonly sni: string; readonly expectedSans: readonly string[] };
  readonly maxConnections: number;
}

interface RetiredPool {
  agents: Map<string, HttpAgent>;
  sessions: Map<string, ClientHttp2Session>;
}

/** How long an idle HTTP/1.1 upstream connection is kept. */
const IDLE_TIMEOUT_MS = 60_000;

/**
 * Upstream connection pools: HTTP/1.1 keep-alive agents and HTTP/2 sessions per endpoint (and
 * per TLS generation). A new certificate or trust bundle retires the pools: new requests get
 * fresh connections with the new identity while requests in flight finish on the old ones, which
 * close once idle. Revoked peers lose their pooled connections at once.
 */
export class UpstreamPools {
  private agents = new Map<string, HttpAgent>();
  private sessions = new Map<string, ClientHttp2Session>();
  private readonly serials = new WeakMap<object, string>();
  private readonly sessionSockets = new WeakMap<ClientHttp2Session, TLSSocket>();

  constructor(private readonly tls: TlsMaterial) {
    tls.onChange(() => this.retire());
    tls.onRevocation((serials) => this.dropRevoked(serials));
  }

  /** The keep-alive agent for `target` (created on first use). */
  agent(target: UpstreamTarget): HttpAgent {
    const key = poolKey(target);
    let agent = this.agents.get(key);
    if (!agent) {
      agent = target.tls ? this.tlsAgent(target) : plainAgent(target);
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** HTTP/1.1 requests waiting for a connection to `target` (its pool is at max_connections). */
  queued(target: UpstreamTarget): number {
    const agent = this.agents.get(poolKey(target));
    let count = 0;
    if (agent) for (const waiting of Object.values(agent.requests)) count += waiting?.length ?? 0;
    return count;
  }

  /** An HTTP/2 session to `target` (h2 over mTLS for a sidecar, h2c prior knowledge otherwise). */
  session(target: UpstreamTarget): ClientHttp2Session {
    const key = poolKey(target);
    const existing = this.sessions.get(key);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    let tlsSocket: TLSSocket | undefined;
    const session = target.tls
      ? connectHttp2(`https://${hostForUrl(target.address)}:${target.port}`, {
          createConnection: () => (tlsSocket = this.connectTls(target, ['h2'])),
        })
      : connectHttp2(`http://${hostForUrl(target.address)}:${target.port}`);
    if (tlsSocket) this.sessionSockets.set(session, tlsSocket);
    const forget = () => {
      if (this.sessions.get(key) === session) this.sessions.delete(key);
    };
    session.on('close', forget);
    session.on('goaway', forget);
    session.on('error', forget);
    session.unref();
    this.sessions.set(key, session);
    return session;
  }

  /** A fresh mTLS connection (ALPN http/1.1) for a tunnel such as a WebSocket; not pooled. */
  tunnel(target: UpstreamTarget): TLSSocket {
    return this.connectTls(target, ['http/1.1']);
  }

  /** Drops pooled connections whose server certificate has one of `serials`. */
  dropRevoked(serials: readonly string[]): void {
    const revoked = new Set(serials);
    for (const agent of this.agents.values()) {
      for (const list of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) {
        for (const socket of list ?? []) {
          const serial = this.serials.get(socket);
          if (serial && revoked.has(serial)) socket.destroy();
        }
      }
    }
    for (const [key, session] of this.sessions) {
      const socket = this.sessionSockets.get(session);
      const serial = socket && this.serials.get(socket);
      if (serial && revoked.has(serial)) {
        this.sessions.delete(key);
        session.destroy();
      }
    }
  }

  /** Closes every pool (shutdown). */
  close(): void {
    this.retire();
  }

  private retire(): void {
    const old: RetiredPool = { agents: this.agents, sessions: this.sessions };
    this.agents = new Map();
    this.sessions = new Map();
    for (const agent of old.agents.values()) {
      // Idle connections go now, busy ones as soon as they are free.
      for (const list of Object.values(agent.freeSockets)) for (const socket of list ?? []) socket.destroy();
      agent.on('free', (socket: { destroy(): void }) => socket.destroy());
    }
    for (const session of old.sessions.values()) session.close();
  }

  private tlsAgent(target: UpstreamTarget): HttpAgent {
    const agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: target.maxConnections,
      timeout: IDLE_TIMEOUT_MS,
      scheduling: 'lifo',
    });
    // Every connection uses the current workload identity and checks the peer's SPIFFE ID.
    agent.createConnection = (_options, callback) => {
      const socket = this.connectTls(target, ['http/1.1']);
      if (callback) {
        socket.once('secureConnect', () => callback(null, socket));
        socket.once('error', (error) => callback(error, socket));
      }
      return socket;
    };
    return agent;
  }

  private connectTls(target: UpstreamTarget, alpn: string[]): TLSSocket {
    const tls = target.tls!;
    const socket = connectTls({
      host: target.address,
      port: target.port,
      secureContext: this.tls.clientContext(),
      servername: tls.sni,
      ALPNProtocols: alpn.length ? alpn : MESH_ALPN,
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => this.checkServer(cert, tls.expectedSans),
    });
    // Without it, Nagle holds a request's last segment until the peer's delayed ACK (~15 ms here).
    socket.setNoDelay(true);
    socket.once('secureConnect', () => {
      const serial = socket.getPeerCertificate()?.serialNumber?.toUpperCase();
      if (serial) this.serials.set(socket, serial);
    });
    return socket;
  }

  /** The server must present a SPIFFE ID the destination may run as, from a certificate not revoked. */
  private checkServer(cert: PeerCertificate, expected: readonly string[]): Error | undefined {
    const spiffeId = spiffeIdOf(cert);
    if (!spiffeId) return new UpstreamIdentityError('the server certificate has no SPIFFE ID');
    if (this.tls.isRevoked(cert.serialNumber.toUpperCase())) {
      return new UpstreamIdentityError(`the server certificate ${cert.serialNumber} is revoked`);
    }
    if (expected.length > 0 ? !expected.includes(spiffeId) : trustDomainOf(spiffeId) !== this.ownTrustDomain()) {
      return new UpstreamIdentityError(
        `the server is ${spiffeId}, not ${expected.length ? expected.join(' or ') : 'of our trust domain'}`,
      );
    }
    return undefined;
  }

  private ownTrustDomain(): string | undefined {
    const self = this.tls.spiffeId;
    return self ? trustDomainOf(self) : undefined;
  }
}

/** The upstream presented an identity it may not have (or a revoked certificate). */
export class UpstreamIdentityError extends Error {
  override readonly name = 'UpstreamIdentityError';
}

function plainAgent(target: UpstreamTarget): HttpAgent {
  return new HttpAgent({
    keepAlive: true,
    maxSockets: target.maxConnections,
    timeout: IDLE_TIMEOUT_MS,
    scheduling: 'lifo',
  });
}

function poolKey(target: UpstreamTarget): string {
  return `${target.address}|${target.port}|${target.tls?.sni ?? ''}|${target.tls?.expectedSans.join(',') ?? ''}`;
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
