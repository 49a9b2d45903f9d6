import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import { ISTIO_CA_PACKAGE, type IstioCertificateRequest, type IstioCertificateResponse } from '#libs/proto';
import { type CpuPerCertificate, type CpuSnapshot, cpuPerCertificate } from './cpu';

type CreateCertificate = (
  request: IstioCertificateRequest,
  metadata: Metadata,
  callback: (error: ServiceError | null, response?: IstioCertificateResponse) => void,
) => void;
type CaClient = Client & { CreateCertificate: CreateCertificate };
type CaClientConstructor = new (
  address: string,
  creds: ReturnType<typeof credentials.createSsl>,
  options: Record<string, unknown>,
) => CaClient;

export interface LoadParams {
  /** Citadel's gRPC address, host:port. */
  address: string;
  /** PEM roots to trust (Citadel's trust bundle). */
  trustBundlePem: string;
  /** One join token per client, each with enough uses for its share plus the warm-up. */
  joinTokens: string[];
  csrPool: string[];
  requests: number;
  /** Requests per client before the clock starts (TLS handshake, JIT). */
  warmupPerClient: number;
  /** Reads the CPU counters at the start and the end of the timed phase. */
  cpu?: () => Promise<CpuSnapshot>;
}

export interface LoadResult {
  concurrency: number;
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** process.hrtime.bigint() at the start and end of the timed phase (CLOCK_MONOTONIC, ns). */
  windowNs: [bigint, bigint];
  /** CPU per issued certificate during the timed phase, when `cpu` was given. */
  cpu?: CpuPerCertificate;
}

/**
 * Drives CreateCertificate with one client (own TLS channel, own join token) per element of
 * `joinTokens`, each sending its next request as soon as the previous one answers, until
 * `requests` have been sent in total. Latency is end to end: gRPC over TLS, authentication
 * (join-token redemption), signing, verification and the inventory insert.
 */
export async function runLoad(params: LoadParams): Promise<LoadResult> {
  const definition = loadSync(ISTIO_CA_PACKAGE.protoPath, PROTO_LOADER_OPTIONS);
  const Service = (loadPackageDefinition(definition) as any).istio.v1.auth
    .IstioCertificateService as CaClientConstructor;
  const creds = credentials.createSsl(Buffer.from(params.trustBundlePem));
  const clients = params.joinTokens.map(
    () =>
      new Service(params.address, creds, {
        'grpc.ssl_target_name_override': 'citadel',
        // One TCP+TLS connection per client, as separate workloads have (grpc-js would share one).
        'grpc.use_local_subchannel_pool': 1,
      }),
  );
  let csrIndex = 0;
  const call = (client: CaClient, token: string): Promise<void> => {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    const csr = params.csrPool[csrIndex++ % params.csrPool.length];
    return new Promise((resolve, reject) =>
      client.CreateCertificate({ csr, validity_duration: '3600' }, metadata, (error, response) =>
        error ? reject(error) : response?.cert_chain.length === 3 ? resolve() : reject(new Error('short chain')),
      ),
    );
  };
  try {
    await Promise.all(
      clients.map(async (client, i) => {
        for (let w = 0; w < params.warmupPerClient; w++) await call(client, params.joinTokens[i]);
      }),
    );
    const latenciesMs: number[] = [];
    let sent = 0;
    let errors = 0;
    let firstError: string | undefined;
    const cpuBefore = await params.cpu?.();
    const start = process.hrtime.bigint();
    await Promise.all(
      clients.map(async (client, i) => {
        while (sent < params.requests) {
          sent++;
          const t0 = process.hrtime.bigint();
          try {
            await call(client, params.joinTokens[i]);
            latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
          } catch (error) {
            errors++;
            firstError ??= error instanceof Error ? error.message : String(error);
          }
        }
      }),
    );
    const end = process.hrtime.bigint();
    const cpuAfter = await params.cpu?.();
    const seconds = Number(end - start) / 1e9;
    latenciesMs.sort((a, b) => a - b);
    return {
      concurrency: clients.length,
      requests: params.requests,
      errors,
      firstError,
      seconds,
      perSecond: latenciesMs.length / seconds,
      p50Ms: percentile(latenciesMs, 0.5),
      p99Ms: percentile(latenciesMs, 0.99),
      windowNs: [start, end],
      cpu: cpuBefore && cpuAfter ? cpuPerCertificate(cpuBefore, cpuAfter, latenciesMs.length, seconds) : undefined,
    };
  } finally {
    for (const client of clients) client.close();
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}
