import {
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  credentials,
  type Interceptor,
  loadPackageDefinition,
  Metadata,
  type ServiceError,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '#libs/grpc';
import {
  CITADEL_EVENTS_PACKAGE,
  type CitadelEvent,
  ISTIO_CA_PACKAGE,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from '#libs/proto';
import { ProxyError } from './errors';

/** Where Citadel is and how its serving certificate is checked. */
export interface CitadelEndpoint {
  /** `host:port` of Citadel's gRPC (TLS) port. */
  readonly address: string;
  /** The name Citadel's serving certificate must carry (`grpc.ssl_target_name_override`). */
  readonly serverName: string;
  /** Client interceptors on every call (tracing, tests). */
  readonly interceptors?: readonly Interceptor[];
}

/** The TLS material of one connection: the roots that verify Citadel, and our certificate for mTLS. */
export interface CitadelTls {
  readonly rootsPem: readonly string[];
  /** Present for mTLS: the current workload key (PKCS#8 PEM) and chain (leaf first). */
  readonly client?: { readonly keyPem: string; readonly chainPem: string };
}

/** One CreateCertificate call. */
export interface CertificateCall {
  readonly csrPem: string;
  readonly validitySeconds: number;
  /** Sent as `authorization: Bearer <token>` (first contact); absent for a renewal over mTLS. */
  readonly joinToken?: string;
  readonly deadlineMs: number;
  /** Aborting cancels the call. */
  readonly signal?: AbortSignal;
}

/** An open CitadelEvents/Subscribe stream; `close()` cancels it and closes its channel. */
export interface CitadelEventStream {
  readonly stream: ClientReadableStream<CitadelEvent>;
  close(): void;
}

interface CertificateServiceClient extends Client {
  CreateCertificate(
    request: IstioCertificateRequest,
    metadata: Metadata,
    options: CallOptions,
    callback: (error: ServiceError | null, response?: IstioCertificateResponse) => void,
  ): ClientUnaryCall;
}

interface CitadelEventsClient extends Client {
  Subscribe(request: Record<string, never>): ClientReadableStream<CitadelEvent>;
}

type ClientConstructor<T> = new (address: string, credentials: ChannelCredentials, options: ClientOptions) => T;

interface Constructors {
  certificates: ClientConstructor<CertificateServiceClient>;
  events: ClientConstructor<CitadelEventsClient>;
}

let constructors: Constructors | undefined;

/** The generated client classes, loaded from libs/proto once. */
function clientConstructors(): Constructors {
  if (!constructors) {
    const ca = loadPackageDefinition(loadSync(ISTIO_CA_PACKAGE.protoPath, PROTO_LOADER_OPTIONS)) as unknown as {
      istio: { v1: { auth: { IstioCertificateService: ClientConstructor<CertificateServiceClient> } } };
    };
    const events = loadPackageDefinition(
      loadSync(CITADEL_EVENTS_PACKAGE.protoPath, PROTO_LOADER_OPTIONS),
    ) as unknown as {
      bowline: { citadel: { v1: { CitadelEvents: ClientConstructor<CitadelEventsClient> } } };
    };
    constructors = {
      certificates: ca.istio.v1.auth.IstioCertificateService,
      events: events.bowline.citadel.v1.CitadelEvents,
    };
  }
  return constructors;
}

/** TLS channel credentials: Citadel verified against `rootsPem`; our certificate presented when given. */
function channelCredentials(tls: CitadelTls): ChannelCredentials {
  const roots = Buffer.from(tls.rootsPem.join(''));
  if (!tls.client) return credentials.createSsl(roots);
  return credentials.createSsl(roots, Buffer.from(tls.client.keyPem), Buffer.from(tls.client.chainPem));
}

/**
 * Channel options. Each connection gets its own subchannel pool: credentials change with every
 * renewal, and closing one client must never tear down another's connection.
 */
function clientOptions(endpoint: CitadelEndpoint): ClientOptions {
  return {
    'grpc.ssl_target_name_override': endpoint.serverName,
    'grpc.use_local_subchannel_pool': 1,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    interceptors: [...(endpoint.interceptors ?? [])],
  };
}

/**
 * `istio.v1.auth.IstioCertificateService/CreateCertificate` on a channel of its own (closed
 * afterwards). Resolves with the response's `cert_chain` (leaf first, root last).
 *
 * @throws ProxyError `CITADEL_UNAVAILABLE` (unreachable, deadline, cancelled) or
 *   `CERTIFICATE_REFUSED` (Citadel answered with an error); the ServiceError is the `cause`.
 */
export function requestCertificate(
  endpoint: CitadelEndpoint,
  tls: CitadelTls,
  call: CertificateCall,
): Promise<string[]> {
  const client = new (clientConstructors().certificates)(
    endpoint.address,
    channelCredentials(tls),
    clientOptions(endpoint),
  );
  const metadata = new Metadata();
  if (call.joinToken !== undefined) metadata.set('authorization', `Bearer ${call.joinToken}`);
  const request: IstioCertificateRequest = {
    csr: call.csrPem,
    validity_duration: String(call.validitySeconds),
  };
  return new Promise<string[]>((resolve, reject) => {
    const pending = client.CreateCertificate(
      request,
      metadata,
      { deadline: Date.now() + call.deadlineMs },
      (error, response) => {
        call.signal?.removeEventListener('abort', cancel);
        client.close();
        if (error) reject(citadelError(error));
        else resolve(response?.cert_chain ?? []);
      },
    );
    const cancel = () => pending.cancel();
    if (call.signal?.aborted) cancel();
    else call.signal?.addEventListener('abort', cancel, { once: true });
  });
}

/** Opens `bowline.citadel.v1.CitadelEvents/Subscribe` over mTLS (Citadel requires the client certificate). */
export function openEventStream(endpoint: CitadelEndpoint, tls: CitadelTls): CitadelEventStream {
  const client = new (clientConstructors().events)(endpoint.address, channelCredentials(tls), clientOptions(endpoint));
  const stream = client.Subscribe({});
  return {
    stream,
    close: () => {
      stream.cancel();
      client.close();
    },
  };
}

/** The gRPC status behind a ProxyError from this module (or a raw ServiceError), if any. */
export function grpcStatusOf(error: unknown): GrpcStatus | undefined {
  const candidate = error instanceof ProxyError ? error.cause : error;
  const code = (candidate as Partial<ServiceError> | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

const UNREACHABLE = new Set<number>([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.CANCELLED]);

function citadelError(error: ServiceError): ProxyError {
  const name = GrpcStatus[error.code] ?? String(error.code);
  const details = error.details || error.message;
  if (UNREACHABLE.has(error.code)) {
    return new ProxyError('CITADEL_UNAVAILABLE', `Citadel is unreachable (${name}): ${details}`, { cause: error });
  }
  return new ProxyError('CERTIFICATE_REFUSED', `Citadel refused the certificate request (${name}): ${details}`, {
    cause: error,
  });
}
