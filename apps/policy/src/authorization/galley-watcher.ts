import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { GalleyFollower, type GalleyFollowerStatus } from '#libs/galley-client';
import { CLOCK, type Clock, SERVICE_CONFIG } from '#libs/host';
import { fromStruct, type GalleyResource } from '#libs/proto';
import type { PolicyConfig } from '../config';
import { AuthorizationMetrics } from './authorization.metrics';
import type { AuthorizationPolicyResource } from './normalise';
import { AuthorizationPolicySet } from './policy-set';

const KIND = 'AuthorizationPolicy';

/** The watch as the status endpoint reports it. */
export type GalleyWatchStatus = GalleyFollowerStatus;

/**
 * Follows Galley's AuthorizationPolicies into the AuthorizationPolicySet with the shared
 * GalleyFollower; while Galley is away the set keeps its last content.
 */
@Injectable()
export class GalleyAuthorizationWatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly follower: GalleyFollower;

  constructor(
    @Inject(SERVICE_CONFIG) config: PolicyConfig,
    @Inject(AuthorizationPolicySet) set: AuthorizationPolicySet,
    @Inject(CLOCK) clock: Clock,
    @Inject(AuthorizationMetrics) metrics: AuthorizationMetrics,
  ) {
    this.follower = new GalleyFollower(
      { address: config.galleyAddress, kinds: [KIND], name: 'GalleyAuthzWatch', now: () => clock.now() },
      {
        snapshot: (resources, version) => set.replace(resources.map(toPolicy), version),
        upsert: (resource, version) => set.upsert(toPolicy(resource), version),
        delete: (resource, version) => set.delete(resource.namespace, resource.name, version),
        synced: (version) => set.advance(version),
        connection: (connected) => metrics.galleyConnected(connected),
      },
    );
  }

  get status(): GalleyWatchStatus {
    return this.follower.status;
  }

  onApplicationBootstrap(): void {
    this.follower.start();
  }

  onModuleDestroy(): void {
    this.follower.stop();
  }
}

function toPolicy(resource: GalleyResource): AuthorizationPolicyResource {
  const object = fromStruct(resource.object);
  const metadata = (object.metadata ?? {}) as { annotations?: Record<string, unknown> };
  const annotations = Object.fromEntries(
    Object.entries(metadata.annotations ?? {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
  const spec = object.spec;
  return {
    namespace: resource.namespace,
    name: resource.name,
    annotations,
    spec: typeof spec === 'object' && spec !== null && !Array.isArray(spec) ? (spec as Record<string, unknown>) : {},
    resourceVersion: Number(resource.resource_version),
  };
}
