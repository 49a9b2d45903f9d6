import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { map, type Observable } from 'rxjs';
import {
  GalleyOperation,
  type GalleyListRequest,
  type GalleyListResponse,
  type GalleyResource,
  type GalleyWatchEvent,
  type GalleyWatchRequest,
} from '#libs/proto';
import { GalleyError } from '../errors';
import { isKind, KINDS } from '../resources/kinds';
import { ResourceReader } from '../store/resource.reader';
import type { ChangeRecord, StoredResource } from '../store/records';
import { toStruct } from '#libs/proto';
import { WatchService } from './watch.service';

/** `bowline.galley.v1.ConfigWatch`: the gRPC facade over the change log (Watch) and snapshots (List). */
@Controller()
export class ConfigWatchGrpc {
  constructor(
    @Inject(WatchService) private readonly watches: WatchService,
    @Inject(ResourceReader) private readonly reader: ResourceReader,
  ) {}

  @GrpcMethod('ConfigWatch', 'Watch')
  async watch(request: GalleyWatchRequest): Promise<Observable<GalleyWatchEvent>> {
    const kinds = parseKinds(request.kinds);
    const since = Number(request.since_version ?? 0);
    if (!Number.isSafeInteger(since) || since < 0) {
      throw new GalleyError('RESOURCE_INVALID', 'since_version must be 0 or a version Galley returned');
    }
    const items = await this.watches.watch(kinds, since);
    return items.pipe(
      map((item) =>
        item.type === 'synced'
          ? { version: String(item.version), operation: GalleyOperation.SYNCED, resource: null }
          : toEvent(item.change),
      ),
    );
  }

  @GrpcMethod('ConfigWatch', 'List')
  async list(request: GalleyListRequest): Promise<GalleyListResponse> {
    const snapshot = await this.reader.snapshot(parseKinds(request.kinds));
    return { version: String(snapshot.version), resources: snapshot.resources.map(fromStored) };
  }
}

function parseKinds(kinds: readonly string[] | undefined): string[] {
  const list = [...(kinds ?? [])];
  const unknown = list.filter((kind) => !isKind(kind));
  if (unknown.length > 0) {
    throw new GalleyError(
      'RESOURCE_INVALID',
      `unknown kind ${unknown.map((k) => JSON.stringify(k)).join(', ')}: expected ${Object.keys(KINDS).join(', ')}`,
    );
  }
  return list;
}

function toEvent(change: ChangeRecord): GalleyWatchEvent {
  return {
    version: String(change.version),
    operation: GalleyOperation[change.operation],
    resource: wire(change, change.version, change.source, change.object),
  };
}

function fromStored(resource: StoredResource): GalleyResource {
  return wire(resource, resource.resourceVersion, resource.source, resource.object);
}

function wire(
  key: { kind: string; namespace: string; name: string },
  version: number,
  source: string,
  object: Record<string, unknown>,
): GalleyResource {
  return {
    api_version: String(object.apiVersion ?? ''),
    kind: key.kind,
    namespace: key.namespace,
    name: key.name,
    resource_version: String(version),
    source,
    object: toStruct(object),
  };
}
