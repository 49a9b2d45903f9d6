import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import {
  connect as connectNet,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, TLSSocket } from 'node:tls';
import type { Logger } from '#libs/logging';
import type { MeshConfigSource, PeerAuthenticationMode } from '../mesh/model';
import type { RequestReporter, ResponseFlag } from '../telemetry/types';
import { failureReply, relayResponse, requestBody } from './attempts';
import type { AuthorizationResult, InboundAuthorizer } from './authorization';
import { type Downstream, Http1Downstream, Http2Downstream } from './downstream';
import { ensureRequestId, forwardHeaders, splitAuthority, xfcc } from './headers';
import { tunnel } from './outbound';
import { closeListener, listenOn } from './listening';
import { type LocalWorkload, recordFor } from './records';
import { handOffHttp1, sniffHttp2Preface, sniffTls } from './sniff';
import { MESH_ALPN, type PeerIdentity, peerIdentity, type TlsMaterial } from './tls-material';
import { sendHttp1, sendHttp2, UpstreamFailure } from './upstream-call';
import type { UpstreamPools, UpstreamTarget } from './upstream-pools';

export interface InboundDeps {
  readonly mesh: MeshConfigSource;
  readonly tls: TlsMaterial;
  readonly pools: UpstreamPools;
  readonly reporter: RequestReporter;
  readonly local: LocalWorkload;
  readonly logger: Logger;
  /** Where the app listens. */
  readonly appHost: string;
  /** Service port → app port (PROXY_SERVICE_PORTS). */
  readonly servicePorts: ReadonlyMap<number, number>;
  /** In-proxy authorization; unset = every request that passed PeerAuthentication goes through. */
  readonly authorizer?: InboundAuthorizer;
}

/** What a connection arrived with: its verified peer (mTLS) and the service port its SNI named. */
interface ConnectionInfo {
  readonly peer?: PeerIdentity;
  readonly servicePort?: number;
  /** The downstream's IP address (IPv4-mapped IPv6 unwrapped), for `ipBlocks`. */
  readonly remoteIp?: string;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`: AuthorizationPolicy CIDRs name IPv4 addresses plainly. */
function plainIp(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Istio's SNI for a sidecar hop: `outbound_.<port>_.<subset>_.<host>`. */
const MESH_SNI = /^outbound_\.(\d+)_\./;

/** The service port an Istio-style SNI names. */
function sniPort(servername: string | false | null | undefined): number | undefined {
  const match = servername ? MESH_SNI.exec(servername) : null;
  return match ? Number(match[1]) : undefined;
}

/**
 * The inbound listener: terminates mTLS from other sidecars (client certificate required, from
 * our trust bundle, not revoked), or accepts plaintext where PeerAuthentication allows it
 * (detected on the first byte), and forwards to the local app with `x-forwarded-client-cert`.
 */
export class InboundListener {
  private readonly server: NetServer;
  private readonly tlsServer: TlsServer;
  private readonly http1: Server;
  private readonly http2 = createHttp2Server({ maxSessionMemory: 64 });
  private readonly connections = new WeakMap<object, ConnectionInfo>();
  private readonly tlsSockets = new Map<TLSSocket, string>();
  private readonly sockets = new Set<Socket>();
  private pendingSession?: ConnectionInfo;

  constructor(private readonly deps: InboundDeps) {
    this.http1 = createHttpServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, (req, res) =>
      this.onHttp1(req, res),
    );
    this.http1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http1.on('clientError', (_error: Error, socket: Duplex) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy();
    });
    this.http2.on('session', (session: Http2Session) => {
      if (this.pendingSession) this.connections.set(session, this.pendingSession);
    });
    this.http2.on('stream', (stream, headers, flags) => this.onHttp2(stream, headers, flags));
    this.server = createNetServer({ noDelay: true }, (socket) => this.onConnection(socket));
    // Never listens: sniffed TLS connections are handed to it, so it does the handshake.
    this.tlsServer = createTlsServer({
      requestCert: true,
      // Checked in onSecureConnection (fail closed), so the refusal can be logged with its reason.
      rejectUnauthorized: false,
      ALPNProtocols: MESH_ALPN,
      SNICallback: (_name, callback) => callback(null, this.deps.tls.serverContext()),
    });
    if (deps.tls.ready) this.tlsServer.setSecureContext(deps.tls.serverOptions());
    deps.tls.onChange(() => this.tlsServer.setSecureContext(deps.tls.serverOptions()));
    this.tlsServer.on('secureConnection', (tlsSocket: TLSSocket) => this.onSecureConnection(tlsSocket));
    this.tlsServer.on('tlsClientError', (error: Error & { code?: string }, tlsSocket: TLSSocket) => {
      this.deps.logger.debug({ code: error.code, err: error.message }, 'inbound TLS handshake refused');
      tlsSocket.destroy();
    });
    deps.tls.onRevocation((serials) => this.closeRevoked(serials));
  }

  listen(port: number, host: string): Promise<number> {
    return listenOn(this.server, port, host);
  }

  close(): Promise<void> {
    return closeListener(this.server, this.http1, this.sockets);
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    sniffTls(socket, (isTls) => {
      if (isTls) this.acceptTls(socket);
      else this.acceptPlaintext(socket);
    });
  }

  private acceptTls(socket: Socket): void {
    if (!this.deps.tls.ready) {
      socket.destroy();
      return;
    }
    this.tlsServer.emit('connection', socket);
  }

  /** A handshake completed with a client certificate from our trust bundle. */
  private onSecureConnection(tlsSocket: TLSSocket): void {
    if (!tlsSocket.authorized) {
      this.deps.logger.info(
        { remote: tlsSocket.remoteAddress, reason: String(tlsSocket.authorizationError) },
        'inbound connection refused: the client certificate does not verify against the trust bundle',
      );
      tlsSocket.destroy();
      return;
    }
    const peer = peerIdentity(tlsSocket);
    const servicePort = sniPort(tlsSocket.servername);
    const mode = this.modeFor(this.appPortFor(servicePort));
    if (!peer || this.deps.tls.isRevoked(peer.serial) || mode === 'DISABLE') {
      this.deps.logger.info(
        { peer: peer?.spiffeId, serial: peer?.serial, mode },
        peer ? 'inbound connection refused: revoked certificate or mTLS disabled' : 'inbound peer has no SPIFFE ID',
      );
      tlsSocket.destroy();
      return;
    }
    this.tlsSockets.set(tlsSocket, peer.serial);
    tlsSocket.once('close', () => this.tlsSockets.delete(tlsSocket));
    this.dispatch(tlsSocket, tlsSocket.alpnProtocol === 'h2', { peer, servicePort });
  }

  private acceptPlaintext(socket: Socket): void {
    if (this.allStrict()) {
      this.deps.logger.debug({ remote: socket.remoteAddress }, 'plaintext refused: PeerAuthentication is STRICT');
      socket.destroy();
      return;
    }
    sniffHttp2Preface(socket, (isHttp2) => this.dispatch(socket, isHttp2, {}));
  }

  private dispatch(socket: Socket, isHttp2: boolean, connection: ConnectionInfo): void {
    const info = { ...connection, remoteIp: plainIp(socket.remoteAddress) };
    if (isHttp2) {
      this.pendingSession = info;
      try {
        this.http2.emit('connection', socket);
      } finally {
        this.pendingSession = undefined;
      }
    } else {
      this.connections.set(socket, info);
      if (socket instanceof TLSSocket) this.http1.emit('connection', socket);
      else handOffHttp1(this.http1, socket);
    }
  }

  private onHttp1(req: IncomingMessage, res: ServerResponse): void {
    const info = this.connections.get(req.socket) ?? {};
    const path = req.url ?? '/';
    void this.handle(new Http1Downstream(req, res, req.headers.host ?? '', path), info);
  }

  private onHttp2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    const info = this.connections.get(stream.session as Http2Session) ?? {};
    void this.handle(new Http2Downstream(stream, headers, (flags & 0x1) !== 0), info);
  }

  private async handle(down: Downstream, info: ConnectionInfo): Promise<void> {
    const started = performance.now();
    const startTime = new Date();
    const flags: ResponseFlag[] = [];
    let status = 0;
    const headers = forwardHeaders(down.headers, { keepTe: down.protocol === 'HTTP/2' });
    delete headers['x-forwarded-client-cert'];
    const self = this.deps.tls.spiffeId;
    if (info.peer && self) headers['x-forwarded-client-cert'] = xfcc(self, info.peer);
    headers['x-forwarded-proto'] = info.peer ? 'https' : 'http';
    const requestId = ensureRequestId(headers);
    const appPort = this.appPortFor(info.servicePort ?? splitAuthority(down.authority).port);
    down.onDone(() => {
      if (status === 0) flags.push('DC');
      this.deps.reporter.report(
        recordFor('destination', down, this.deps.local, {
          startTime,
          durationMs: performance.now() - started,
          status,
          flags,
          requestId,
          upstreamHost: appPort ? `${this.deps.appHost}:${appPort}` : undefined,
          upstreamCluster: appPort ? `inbound|${appPort}||` : undefined,
          sourcePrincipal: info.peer?.spiffeId ?? 'unknown',
          destinationPrincipal: this.deps.local.spiffeId() ?? 'unknown',
          destinationService: this.deps.local.serviceHost ?? 'unknown',
          connectionSecurityPolicy: info.peer ? 'mutual_tls' : 'none',
        }),
      );
    });
    const reply = (code: number, message: string, flag: ResponseFlag) => {
      status = code;
      flags.push(flag);
      down.localReply(code, message);
    };
    if (!info.peer && this.modeFor(appPort) === 'STRICT') {
      reply(403, 'plaintext refused: PeerAuthentication is STRICT for this port', 'UAEX');
      return;
    }
    if (appPort === undefined) {
      reply(503, 'this workload serves no port for that request', 'NR');
      return;
    }
    if (this.deps.authorizer) {
      // The in-process authorizer answers synchronously: no microtask hop for it.
      const asked = this.authorize(down, info, appPort);
      const verdict = asked instanceof Promise ? await asked : asked;
      if (!verdict.allowed) {
        status = verdict.status ?? 403;
        flags.push('UAEX');
        down.localReply(status, verdict.body ?? 'RBAC: access denied', verdict.headers);
        return;
      }
      if (verdict.headers) Object.assign(headers, verdict.headers);
    }
    const target: UpstreamTarget = { address: this.deps.appHost, port: appPort, maxConnections: 1024 };
    const request = {
      method: down.method,
      path: down.path,
      authority: down.authority,
      scheme: 'http' as const,
      headers,
      body: await requestBody(down, false),
    };
    const options = { connectTimeoutMs: 5_000, timeoutMs: 0, tls: false, onCancel: (c: () => void) => down.onAbort(c) };
    try {
      const response =
        down.protocol === 'HTTP/2'
          ? await sendHttp2(this.deps.pools.session(target), request, options)
          : await sendHttp1(this.deps.pools.agent(target), target, request, options);
      status = response.status;
      await relayResponse(down, response);
    } catch (error) {
      const failure = error instanceof UpstreamFailure ? error : new UpstreamFailure('reset', String(error));
      if (failure.kind === 'cancelled') {
        flags.push('DC');
        return;
      }
      const { status: code, message, flag } = failureReply(failure, false);
      reply(code, message, flag);
    }
  }

  /** Asks the authorizer; an error is a denial (fail closed). Synchronous when the authorizer is. */
  private authorize(
    down: Downstream,
    info: ConnectionInfo,
    appPort: number,
  ): AuthorizationResult | Promise<AuthorizationResult> {
    try {
      const verdict = this.deps.authorizer!.authorize({
        method: down.method,
        path: down.path,
        host: down.authority,
        headers: down.headers,
        protocol: down.protocol,
        sourcePrincipal: info.peer?.spiffeId,
        sourceAddress: info.remoteIp,
        destinationPrincipal: this.deps.tls.spiffeId,
        destinationPort: appPort,
      });
      return verdict instanceof Promise ? verdict.catch((error: unknown) => this.authorizationFailed(error)) : verdict;
    } catch (error) {
      return this.authorizationFailed(error);
    }
  }

  private authorizationFailed(error: unknown): AuthorizationResult {
    this.deps.logger.warn({ err: error }, 'authorization failed; denying (fail closed)');
    return { allowed: false, status: 403, reason: 'authorization error' };
  }

  /** WebSocket and other upgrades: forwarded to the app with XFCC, then bytes both ways. */
  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const info = this.connections.get(req.socket) ?? {};
    const appPort = this.appPortFor(info.servicePort ?? splitAuthority(req.headers.host ?? '').port);
    if (appPort === undefined || (!info.peer && this.modeFor(appPort) === 'STRICT')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const headers = forwardHeaders(req.headers, { keepUpgrade: true });
    delete headers['x-forwarded-client-cert'];
    const self = this.deps.tls.spiffeId;
    if (info.peer && self) headers['x-forwarded-client-cert'] = xfcc(self, info.peer);
    headers.host = req.headers.host;
    ensureRequestId(headers);
    tunnel(
      socket,
      connectNet({ host: this.deps.appHost, port: appPort }),
      `${req.method} ${req.url} HTTP/1.1`,
      headers,
      head,
    );
  }

  /** The app port a request is for: by the SNI's (or Host's) service port, or the only one. */
  private appPortFor(servicePort: number | undefined): number | undefined {
    const ports = this.deps.servicePorts;
    if (servicePort !== undefined) {
      const app = ports.get(servicePort);
      if (app !== undefined) return app;
      if ([...ports.values()].includes(servicePort)) return servicePort;
    }
    return ports.size === 1 ? ports.values().next().value : undefined;
  }

  /** The PeerAuthentication mode for an app port (port-level first, then the workload's). */
  private modeFor(appPort: number | undefined): PeerAuthenticationMode {
    const inbound = this.deps.mesh.current()?.inbound;
    if (!inbound) return 'STRICT'; // no config yet: fail closed
    return (appPort !== undefined ? inbound.portModes.get(appPort) : undefined) ?? inbound.defaultMode;
  }

  /** No port accepts plaintext: refuse it before reading a request. */
  private allStrict(): boolean {
    const inbound = this.deps.mesh.current()?.inbound;
    if (!inbound) return true;
    const ports = [...this.deps.servicePorts.values()];
    if (ports.length === 0) return inbound.defaultMode === 'STRICT';
    return ports.every((port) => (inbound.portModes.get(port) ?? inbound.defaultMode) === 'STRICT');
  }

  private closeRevoked(serials: readonly string[]): void {
    const revoked = new Set(serials);
    for (const [socket, serial] of this.tlsSockets) {
      if (revoked.has(serial)) {
        this.deps.logger.info({ serial }, 'closing an inbound connection: the peer certificate was revoked');
        socket.destroy();
      }
    }
  }
}
