import { Controller, Get, Headers, Inject, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RequireRole } from '#libs/auth';
import { parseDuration } from '#libs/config';
import { BowlineError, Kinds } from '#libs/errors';
import { parseWorkloadLabels } from '#libs/policy-runtime';
import { policyNameProblem } from '../policies/policy-request';
import type { AuthzBundle } from './bundle-format';
import { type BundleRequest, BundlesService } from './bundles.service';

/** Longest long poll a proxy may ask for. */
export const MAX_WAIT_MS = 60_000;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Bundles for proxies, which evaluate in process (no call per request). A proxy polls
 * `GET /v1/bundles/authz?namespace=<ns>[&labels=<k=v,...>][&policy=<name>][&wait=30s]` with
 * `If-None-Match: "<revision>"`: 304 while nothing changed (after up to `wait`), 200 with the new
 * bundle otherwise (with `labels`, holding only the policies that select the workload).
 * Read with a viewer API token (an operator mints one per proxy fleet: `POST /v1/tokens`).
 */
@ApiTags('bundles')
@ApiBearerAuth()
@Controller('v1/bundles')
export class BundlesController {
  constructor(@Inject(BundlesService) private readonly bundles: BundlesService) {}

  @Get('authz')
  @RequireRole('viewer')
  @ApiOperation({
    summary:
      "The authorization bundle a proxy enforces (format bowline.authz-bundle/v3): the Istio AuthorizationPolicy module generated for the namespace's policies, and the active revision of `policy` if named; both as base64 wasm",
  })
  @ApiQuery({ name: 'namespace', required: true, description: "The proxy's workload namespace" })
  @ApiQuery({
    name: 'labels',
    required: false,
    description:
      "The proxy's workload labels, `key=value` pairs separated by commas (`app=server,version=v1`; empty: no labels). " +
      'The module then holds only the policies whose selector matches them; without it, every policy of the namespace',
  })
  @ApiQuery({ name: 'policy', required: false, description: 'A Rego policy whose active revision is included' })
  @ApiQuery({
    name: 'wait',
    required: false,
    description: `Long poll: hold a 304 up to this long (e.g. 30s; at most 60s)`,
  })
  @ApiHeader({ name: 'If-None-Match', required: false, description: 'The revision (ETag) the proxy has' })
  @ApiResponse({ status: 200, description: 'The bundle; ETag is its revision' })
  @ApiResponse({ status: 304, description: 'The bundle is still the If-None-Match revision' })
  @ApiResponse({ status: 404, description: 'No such policy' })
  @ApiResponse({ status: 409, description: 'The policy has no active revision' })
  @ApiResponse({ status: 503, description: 'Not ready: the Istio module has not compiled, or no set from Galley yet' })
  async authz(
    @Query() query: Record<string, unknown>,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<AuthzBundle | undefined> {
    const { request, waitMs } = parseBundleQuery(query);
    const known = parseEtag(ifNoneMatch);
    const bundle =
      known === undefined
        ? await this.bundles.bundle(request)
        : await this.bundles.bundleWhenChanged(request, known, waitMs);
    response.setHeader('cache-control', 'no-store');
    if (bundle === null) {
      response.setHeader('etag', `"${known}"`);
      response.status(304);
      return undefined;
    }
    response.setHeader('etag', `"${bundle.revision}"`);
    return bundle;
  }

  @Get('status')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Whether bundles can be served: module compiled, Galley synced, long polls waiting' })
  status() {
    return this.bundles.status;
  }
}

/** `namespace`, `labels`, `policy` and `wait` from the query string; every problem names its parameter. */
export function parseBundleQuery(query: Record<string, unknown>): { request: BundleRequest; waitMs: number } {
  const problems: { path: string; message: string }[] = [];
  for (const key of Object.keys(query)) {
    if (!['namespace', 'labels', 'policy', 'wait'].includes(key))
      problems.push({ path: key, message: 'unknown parameter' });
  }
  const { namespace, labels, policy, wait } = query;
  if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
    problems.push({ path: 'namespace', message: 'required: a namespace name (DNS-1123 label)' });
  }
  let workloadLabels: Record<string, string> | undefined;
  if (labels !== undefined) {
    try {
      if (typeof labels !== 'string') throw new Error('give it once, as key=value pairs separated by commas');
      workloadLabels = parseWorkloadLabels(labels);
    } catch (error) {
      problems.push({ path: 'labels', message: (error as Error).message });
    }
  }
  if (policy !== undefined && policyNameProblem(policy)) {
    problems.push({ path: 'policy', message: policyNameProblem(policy)! });
  }
  let waitMs = 0;
  if (wait !== undefined) {
    try {
      waitMs = parseDuration(String(wait));
      if (waitMs > MAX_WAIT_MS) problems.push({ path: 'wait', message: 'at most 60s' });
    } catch {
      problems.push({ path: 'wait', message: 'must be a duration such as 500ms or 30s' });
    }
  }
  if (problems.length > 0) {
    const summary = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    throw new BowlineError(Kinds.INVALID_ARGUMENT, `invalid bundle request: ${summary}`, problems);
  }
  return {
    request: {
      namespace: namespace as string,
      ...(workloadLabels !== undefined ? { labels: workloadLabels } : {}),
      ...(policy !== undefined ? { policy: policy as string } : {}),
    },
    waitMs,
  };
}

/** `"abc"` or `W/"abc"` → `abc`; anything else (absent, `*`, a list) → undefined (answer in full). */
function parseEtag(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^\s*(?:W\/)?"([0-9a-f]{1,64})"\s*$/.exec(header);
  return match?.[1];
}
