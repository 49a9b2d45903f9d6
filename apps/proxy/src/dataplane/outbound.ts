import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import {
  connect as connectNet,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '#libs/logging';
import type { Cluster, Endpoint, MeshConfig, MeshConfigSource, Route } from '../mesh/model';
import type { RequestReporter, ResponseFlag } from '../telemetry/types';
import { failureReply, relayResponse, requestBody, shouldRetry } from './attempts';
import { type Downstream, Http1Downstream, Http2Downstream } from './downstream';
import { ensureRequestId, forwardHeaders, OUTBOUND_DROP, requestTarget, splitAuthority } from './headers';
import { closeListener, listenOn } from './listening';
import { type LocalWorkload, recordFor } from './records';
import type { Balancer, OutboundRouting } from './routing';
import { handOffHttp1, sniffHttp2Preface } from './sniff';
import { type OutgoingRequest, sendHttp1, sendHttp2, UpstreamFailure, type UpstreamResponse } from './upstream-call';
import type { UpstreamPools, UpstreamTarget } from './upstream-pools';

export interface OutboundDeps {
  readonly mesh: MeshConfigSource;
  readonly routing: OutboundRouting;
  readonly balancer: Balancer;
  readonly pools: UpstreamPools;
  readonly reporter: RequestReporter;
  readonly local: LocalWorkload;
  readonly logger: Logger;
}

interface Exchange {
  readonly down: Downstream;
  readonly started: number;
  readonly startTime: Date;
  flags: ResponseFlag[];
  status: number;
  route?: Route;
  clusterName?: string;
  upstreamHost?: string;
  destinationService: string;
  destinationPrincipal: string;
  requestId?: string;
}

/**
 * The outbound listener: the local app sends plain HTTP/1.1 (origin- or absolute-form) or h2c
 * here; each request is routed by its authority through Pilot's routes to an endpoint of the
 * destination service, over mTLS when the endpoint has a sidecar, with the route's retries,
 * timeout and faults and the cluster's load balancing, limits and outlier detection.
 */
export class OutboundListener {
  private readonly server: NetServer;
  private readonly http1: Server;
  private readonly http2 = createHttp2Server({ maxSessionMemory: 64 });
  private readonly sockets = new Set<Socket>();

  constructor(private readonly deps: OutboundDeps) {
    this.http1 = createHttpServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, (req, res) =>
      this.onHttp1(req, res),
    );
    this.http1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http1.on('clientError', (error: Error & { code?: string }, socket: Duplex) =>
      this.onClientError(error, socket),
    );
    this.http2.on('stream', (stream, headers, flags) => this.onHttp2(stream, headers, flags));
    this.server = createNetServer({ noDelay: true }, (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      sniffHttp2Preface(socket, (isHttp2) =>
        isHttp2 ? this.http2.emit('connection', socket) : handOffHttp1(this.http1, socket),
      );
    });
  }

  listen(port: number, host: string): Promise<number> {
    return listenOn(this.server, port, host);
  }

  close(): Promise<void> {
    return closeListener(this.server, this.http1, this.sockets);
  }

  private onHttp1(req: IncomingMessage, res: ServerResponse): void {
    const target = requestTarget(req.url ?? '/', req.headers.host);
    if (!target) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('a request needs a Host header or an absolute URL\n');
      return;
    }
    void this.handle(new Http1Downstream(req, res, target.authority, target.path));
  }

  private onHttp2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    void this.handle(new Http2Downstream(stream, headers, (flags & 0x1) !== 0));
  }

  /** A malformed request (bad framing, Content-Length with Transfer-Encoding, ...): 400, then close. */
  private onClientError(error: Error & { code?: string }, socket: Duplex): void {
    this.deps.logger.debug({ code: error.code }, 'refused a malformed request');
    if (socket.writable && !(error.code === 'ECONNRESET')) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    } else socket.destroy();
  }

  private async handle(down: Downstream): Promise<void> {
    const config = this.deps.mesh.current();
    const exchange: Exchange = {
      down,
      started: performance.now(),
      startTime: new Date(),
      flags: [],
      status: 0,
      destinationService: splitAuthority(down.authority).host,
      destinationPrincipal: 'unknown',
    };
    down.onDone(() => this.report(exchange));
    try {
      await this.route(exchange, config);
    } catch (error) {
      this.deps.logger.error({ err: error }, 'outbound request failed unexpectedly');
      this.reply(exchange, 500, 'internal proxy error', 'DPE');
    }
  }

  private async route(exchange: Exchange, config: MeshConfig | undefined): Promise<void> {
    const { down } = exchange;
    const resolved = config && this.deps.routing.resolve(config, down.authority);
    if (!config || !resolved) {
      this.reply(exchange, 404, `no route for ${down.authority}`, 'NR');
      return;
    }
    exchange.destinationService = resolved.listener.host;
    const route = this.deps.routing.selectRoute(resolved.virtualHost, down);
    if (!route) {
      this.reply(exchange, 404, `no route matched ${down.method} ${down.path} on ${down.authority}`, 'NR');
      return;
    }
    exchange.route = route;
    if (await this.injectFault(exchange, route)) return;
    const clusterName = this.deps.routing.pickCluster(route);
    exchange.clusterName = clusterName;
    const cluster = config.clusters.get(clusterName);
    if (!cluster) {
      this.reply(exchange, 503, `no cluster ${clusterName}`, 'UH');
      return;
    }
    await this.forward(exchange, config, route, cluster);
  }

  /** Fault injection: a delay before forwarding, or an abort instead of it. True when aborted. */
  private async injectFault(exchange: Exchange, route: Route): Promise<boolean> {
    const fault = route.fault;
    if (!fault) return false;
    if (fault.delay && Math.random() * 100 < fault.delay.percent) {
      exchange.flags.push('DI');
      await new Promise((resolve) => setTimeout(resolve, fault.delay!.fixedDelayMs));
    }
    if (fault.abort && Math.random() * 100 < fault.abort.percent) {
      const { grpcStatus } = fault.abort;
      if (grpcStatus !== undefined && exchange.down.grpc) {
        exchange.status = 200;
        exchange.flags.push('FI');
        exchange.down.grpcReply(grpcStatus, 'fault filter abort');
      } else this.reply(exchange, fault.abort.httpStatus, 'fault filter abort', 'FI');
      return true;
    }
    return false;
  }

  private async forward(exchange: Exchange, config: MeshConfig, route: Route, cluster: Cluster): Promise<void> {
    const { down } = exchange;
    const headers = forwardHeaders(down.headers, { keepTe: down.protocol === 'HTTP/2', drop: OUTBOUND_DROP });
    exchange.requestId = ensureRequestId(headers);
    headers['x-forwarded-proto'] ??= 'http';
    const retry = route.retry;
    const body = await requestBody(down, (retry?.numRetries ?? 0) > 0);
    const maxAttempts = 1 + (body.kind === 'stream' ? 0 : (retry?.numRetries ?? 0));
    const request: OutgoingRequest = {
      method: down.method,
      path: this.deps.routing.rewritePath(route, down.path),
      authority: route.hostRewrite ?? down.authority,
      scheme: 'http',
      headers,
      body,
    };
    const deadline = route.timeoutMs > 0 ? exchange.started + route.timeoutMs : Infinity;
    let previous: Endpoint | undefined;
    for (let attempt = 1; ; attempt++) {
      const endpoint = this.deps.balancer.pick(config, cluster.name, previous);
      if (!endpoint) {
        this.reply(exchange, 503, 'no healthy upstream', attempt > 1 ? 'URX' : 'UH');
        return;
      }
      if (this.deps.balancer.active(cluster.name) >= cluster.limits.maxRequests) {
        this.reply(exchange, 503, 'upstream overflow: the cluster is at max_requests', 'UO');
        return;
      }
      const target = upstreamTarget(cluster, endpoint);
      const http2 = exchange.down.protocol === 'HTTP/2' || cluster.http2;
      if (!http2 && this.pendingOverflow(cluster, target)) {
        this.reply(exchange, 503, 'upstream overflow: the connection pool is at max_pending_requests', 'UO');
        return;
      }
      previous = endpoint;
      exchange.upstreamHost = `${endpoint.address}:${endpoint.port}`;
      const remaining = deadline - performance.now();
      const perTry = retry?.perTryTimeoutMs ?? 0;
      const timeoutMs = Math.max(1, Math.min(perTry > 0 ? perTry : Infinity, remaining));
      const last = attempt >= maxAttempts;
      const outcome = await this.attempt(exchange, cluster, endpoint, target, http2, request, timeoutMs);
      if (outcome instanceof UpstreamFailure) {
        const overall = outcome.kind === 'timeout' && performance.now() >= deadline;
        if (!last && !overall && retry && shouldRetry(retry.retryOn, { failure: outcome.kind })) continue;
        const reply = failureReply(outcome, attempt > 1);
        if (outcome.kind === 'cancelled') exchange.flags.push('DC');
        else this.reply(exchange, reply.status, reply.message, reply.flag);
        return;
      }
      const grpcStatus = headerText(outcome.headers['grpc-status']);
      if (
        !last &&
        retry &&
        shouldRetry(retry.retryOn, { status: outcome.status, grpcStatus }, retry.retriableStatusCodes)
      ) {
        outcome.abort();
        continue;
      }
      exchange.status = outcome.status;
      if (attempt > 1 && outcome.status >= 500) exchange.flags.push('URX');
      await relayResponse(down, outcome);
      return;
    }
  }

  /**
   * HTTP/1.1: the requests already waiting for a connection to this endpoint are at
   * max_pending_requests. (Requests only wait once the cluster has max_connections in flight,
   * so the pool is not looked at before that.)
   */
  private pendingOverflow(cluster: Cluster, target: UpstreamTarget): boolean {
    return (
      this.deps.balancer.active(cluster.name) >= cluster.limits.maxConnections &&
      this.deps.pools.queued(target) >= cluster.limits.maxPendingRequests
    );
  }

  private async attempt(
    exchange: Exchange,
    cluster: Cluster,
    endpoint: Endpoint,
    target: UpstreamTarget,
    useHttp2: boolean,
    request: OutgoingRequest,
    timeoutMs: number,
  ): Promise<UpstreamResponse | UpstreamFailure> {
    if (target.tls) exchange.destinationPrincipal = target.tls.expectedSans[0] ?? 'unknown';
    const options = {
      connectTimeoutMs: cluster.connectTimeoutMs,
      timeoutMs: Number.isFinite(timeoutMs) ? timeoutMs : 0,
      tls: target.tls !== undefined,
      onCancel: (cancel: () => void) => exchange.down.onAbort(cancel),
    };
    this.deps.balancer.begin(cluster.name, endpoint);
    try {
      const response = useHttp2
        ? await sendHttp2(this.deps.pools.session(target), request, options)
        : await sendHttp1(this.deps.pools.agent(target), target, request, options);
      this.deps.balancer.end(cluster.name, endpoint, { status: response.status });
      return response;
    } catch (error) {
      const failure = error instanceof UpstreamFailure ? error : new UpstreamFailure('reset', String(error));
      this.deps.balancer.end(cluster.name, endpoint, {
        connectFailure: failure.kind === 'connect',
        reset: failure.kind === 'reset' || failure.kind === 'refused-stream',
      });
      this.deps.logger.debug(
        { upstream: `${target.address}:${target.port}`, kind: failure.kind, err: failure.message },
        'upstream attempt failed',
      );
      return failure;
    }
  }

  /** WebSocket (or any HTTP/1.1 Upgrade): routed like a request, then bytes both ways. */
  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const config = this.deps.mesh.current();
    const target = requestTarget(req.url ?? '/', req.headers.host);
    const resolved = config && target && this.deps.routing.resolve(config, target.authority);
    const route =
      resolved &&
      target &&
      this.deps.routing.selectRoute(resolved.virtualHost, {
        ...target,
        method: req.method ?? 'GET',
        headers: req.headers,
      });
    const clusterName = route && this.deps.routing.pickCluster(route);
    const cluster = clusterName ? config!.clusters.get(clusterName) : undefined;
    const endpoint = cluster && this.deps.balancer.pick(config!, cluster.name);
    if (!target || !route || !cluster || !endpoint) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const tls = endpoint.mtls && cluster.tls ? cluster.tls : undefined;
    const headers = forwardHeaders(req.headers, { keepUpgrade: true, drop: OUTBOUND_DROP });
    ensureRequestId(headers);
    headers.host = route.hostRewrite ?? target.authority;
    const upstream = tls
      ? this.deps.pools.tunnel({ address: endpoint.address, port: endpoint.port, tls, maxConnections: 1 })
      : connectNet({ host: endpoint.address, port: endpoint.port });
    tunnel(
      socket,
      upstream,
      `${req.method} ${this.deps.routing.rewritePath(route, target.path)} HTTP/1.1`,
      headers,
      head,
    );
  }

  private reply(exchange: Exchange, status: number, message: string, flag: ResponseFlag): void {
    exchange.status = status;
    exchange.flags.push(flag);
    exchange.down.localReply(status, message);
  }

  private report(exchange: Exchange): void {
    const { down } = exchange;
    if (exchange.status === 0) exchange.flags.push('DC');
    this.deps.reporter.report(
      recordFor('source', down, this.deps.local, {
        startTime: exchange.startTime,
        durationMs: performance.now() - exchange.started,
        status: exchange.status,
        flags: exchange.flags,
        requestId: exchange.requestId,
        upstreamHost: exchange.upstreamHost,
        upstreamCluster: exchange.clusterName,
        routeName: exchange.route?.name,
        sourcePrincipal: this.deps.local.spiffeId() ?? 'unknown',
        destinationPrincipal: exchange.destinationPrincipal,
        destinationService: exchange.destinationService,
        connectionSecurityPolicy: 'unknown',
      }),
    );
  }
}

/** Writes a request head to `upstream`, then copies bytes both ways until either side closes. */
export function tunnel(
  downstream: Duplex,
  upstream: Duplex,
  requestLine: string,
  headers: Record<string, unknown>,
  head: Buffer,
): void {
  const lines = [requestLine];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) lines.push(`${name}: ${String(v)}`);
  }
  upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (head.length > 0) upstream.write(head);
  upstream.pipe(downstream);
  downstream.pipe(upstream);
  const close = () => {
    downstream.destroy();
    upstream.destroy();
  };
  upstream.once('error', () => {
    if (downstream.writable) downstream.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n');
    close();
  });
  downstream.once('error', close);
  upstream.once('close', close);
  downstream.once('close', close);
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Where an attempt on `endpoint` goes: mTLS when the endpoint has a sidecar and the cluster says how. */
function upstreamTarget(cluster: Cluster, endpoint: Endpoint): UpstreamTarget {
  return {
    address: endpoint.address,
    port: endpoint.port,
    tls: endpoint.mtls && cluster.tls ? cluster.tls : undefined,
    maxConnections: cluster.limits.maxConnections,
  };
}
