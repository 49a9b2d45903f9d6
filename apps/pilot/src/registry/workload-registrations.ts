import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import type { PilotConfig } from '../config';

/** What a proxy tells about its workload when its xDS stream opens (node id and metadata). */
export interface WorkloadRegistration {
  readonly nodeId: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly address: string;
  /** The service it serves (BOWLINE_SERVICE), as written; resolved against `namespace`. */
  readonly service?: string;
  /** Service port → workload port (BOWLINE_PORTS). */
  readonly ports: ReadonlyMap<number, number>;
  /** Protocol of the ports it declares: `HTTP` behind a sidecar, `GRPC` for a proxyless gRPC server. */
  readonly protocol?: string;
}

/** A registration with its health, as the registry and the admin API see it. */
export interface RegisteredWorkload extends WorkloadRegistration {
  readonly healthy: boolean;
  readonly connections: number;
  /** When its last stream dropped (unset while connected). */
  readonly disconnectedAt?: Date;
}

interface Entry {
  registration: WorkloadRegistration;
  connections: Set<string>;
  healthy: boolean;
  disconnectedAt?: Date;
  timer?: NodeJS.Timeout;
}

/** How long an unhealthy registration stays visible (in /v1/registry) before it is forgotten. */
const FORGET_AFTER_MS = 3_600_000;

/**
 * Workloads that register when their proxy's xDS stream opens. A workload stays a healthy
 * endpoint while at least one of its streams is open and for PILOT_DISCONNECT_GRACE after the
 * last one drops (a proxy restarting or reconnecting to another replica); then it is unhealthy
 * and leaves the endpoints its peers receive. It is forgotten an hour later.
 */
@Injectable()
export class WorkloadRegistrations implements OnModuleDestroy {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<() => void>();

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: PilotConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): RegisteredWorkload[] {
    return [...this.entries.values()]
      .map((entry) => ({
        ...entry.registration,
        healthy: entry.healthy,
        connections: entry.connections.size,
        disconnectedAt: entry.disconnectedAt,
      }))
      .sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }

  /** A stream of this workload opened (or re-announced itself with new metadata). */
  connect(connectionId: string, registration: WorkloadRegistration): void {
    const entry = this.entries.get(registration.nodeId);
    if (entry) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      const changed =
        !entry.healthy ||
        JSON.stringify(serializable(entry.registration)) !== JSON.stringify(serializable(registration));
      entry.registration = registration;
      entry.connections.add(connectionId);
      entry.healthy = true;
      entry.disconnectedAt = undefined;
      if (changed) this.emit();
      return;
    }
    this.entries.set(registration.nodeId, { registration, connections: new Set([connectionId]), healthy: true });
    this.emit();
  }

  /** A stream closed; after the grace period without a new one the workload turns unhealthy. */
  disconnect(connectionId: string, nodeId: string): void {
    const entry = this.entries.get(nodeId);
    if (!entry || !entry.connections.delete(connectionId) || entry.connections.size > 0) return;
    entry.disconnectedAt = this.clock.now();
    entry.timer = setTimeout(() => this.expire(nodeId), this.config.disconnectGrace);
    entry.timer.unref();
  }

  onModuleDestroy(): void {
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
  }

  private expire(nodeId: string): void {
    const entry = this.entries.get(nodeId);
    if (!entry || entry.connections.size > 0) return;
    if (entry.healthy) {
      entry.healthy = false;
      entry.timer = setTimeout(() => this.forget(nodeId), FORGET_AFTER_MS);
      entry.timer.unref();
      this.emit();
    }
  }

  private forget(nodeId: string): void {
    const entry = this.entries.get(nodeId);
    if (entry && entry.connections.size === 0 && !entry.healthy) this.entries.delete(nodeId);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

function serializable(registration: WorkloadRegistration): unknown {
  return { ...registration, ports: [...registration.ports.entries()] };
}
