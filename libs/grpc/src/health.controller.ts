import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod, RpcException } from '@nestjs/microservices';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { distinctUntilChanged, from, interval, map, type Observable, startWith, switchMap } from 'rxjs';

/** Whether the service can do its job; implemented by each service's readiness check. */
export interface ReadinessProbe {
  isReady(): Promise<boolean>;
}
export const READINESS_PROBE = Symbol('READINESS_PROBE');

/** Fully qualified names of the gRPC services this process hosts (for health by name). */
export const HEALTH_SERVICE_NAMES = Symbol('HEALTH_SERVICE_NAMES');

/** grpc.health.v1 serving statuses, as the proto numbers them. */
const SERVING = 1;
const NOT_SERVING = 2;
const SERVICE_UNKNOWN = 3;

const WATCH_INTERVAL_MS = 2_000;

/**
 * The standard `grpc.health.v1.Health` service. The overall status ("" service name) and the
 * status of every service this server hosts follow readiness: SERVING only while the
 * database answers and the schema is current.
 */
@Controller()
export class HealthController {
  constructor(
    @Inject(READINESS_PROBE) private readonly probe: ReadinessProbe,
    @Inject(HEALTH_SERVICE_NAMES) private readonly services: readonly string[],
  ) {}

  @GrpcMethod('Health', 'Check')
  async check(request: { service?: string }): Promise<{ status: number }> {
    const name = request.service ?? '';
    if (!this.knows(name)) {
      throw new RpcException({ code: GrpcStatus.NOT_FOUND, message: `unknown service "${name}"` });
    }
    return { status: await this.status() };
  }

  @GrpcMethod('Health', 'Watch')
  watch(request: { service?: string }): Observable<{ status: number }> {
    const name = request.service ?? '';
    return interval(WATCH_INTERVAL_MS).pipe(
      startWith(0),
      switchMap(() => from(this.knows(name) ? this.status() : Promise.resolve(SERVICE_UNKNOWN))),
      distinctUntilChanged(),
      map((status) => ({ status })),
    );
  }

  @GrpcMethod('Health', 'List')
  async list(): Promise<{ statuses: Record<string, { status: number }> }> {
    const status = await this.status();
    return { statuses: Object.fromEntries(['', ...this.services].map((name) => [name, { status }])) };
  }

  private knows(name: string): boolean {
    return name === '' || this.services.includes(name);
  }

  private async status(): Promise<number> {
    return (await this.probe.isReady().catch(() => false)) ? SERVING : NOT_SERVING;
  }
}
