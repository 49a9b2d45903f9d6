import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';
import { ApplyService } from '../apply/apply.service';
import { GalleyError } from '../errors';
import { fromJson, parseYamlStream } from '../resources/documents';
import { type Kind, type ResourceKey } from '../resources/kinds';
import { ResourceReader } from '../store/resource.reader';
import { ResourceStore } from '../store/resource.store';
import { parseFlag, parseKey, parseKindParam, parseListQuery, parseVersionParam } from './request-parsing';
import { YAML_CONTENT_TYPES } from './yaml-body.middleware';

/**
 * Config resources over REST, like `kubectl`: apply (create or update, all or nothing), get,
 * list, delete and per-resource history. Writes need `operator`, reads `viewer`.
 */
@ApiTags('resources')
@ApiBearerAuth()
@Controller('v1')
export class ResourcesController {
  constructor(
    @Inject(ApplyService) private readonly applier: ApplyService,
    @Inject(ResourceReader) private readonly reader: ResourceReader,
    @Inject(ResourceStore) private readonly store: ResourceStore,
  ) {}

  @Post(['resources\\:apply', 'apply'])
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary:
      'Apply resources (multi-document YAML, or JSON: an object, an array or a List): all are validated, then all stored or none',
  })
  @ApiConsumes('application/yaml', 'application/json')
  @ApiBody({ schema: { type: 'string', description: 'YAML stream (--- separated) or JSON' } })
  @ApiQuery({ name: 'dryRun', required: false, type: Boolean })
  @ApiResponse({
    status: 200,
    description: 'Per document: created, configured or unchanged; warnings for unknown fields',
  })
  @ApiResponse({ status: 400, description: '`errors` names each problem: document, kind, namespace, name, path' })
  @ApiResponse({ status: 409, description: 'A document carries a stale metadata.resourceVersion' })
  async apply(
    @Body() body: unknown,
    @Headers('content-type') contentType: string | undefined,
    @Query() query: unknown,
  ) {
    const dryRun = parseFlag(query, 'dryRun');
    const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
    let parsed;
    if (YAML_CONTENT_TYPES.includes(type) && typeof body === 'string') parsed = parseYamlStream(body);
    else if (type === 'application/json' || type.endsWith('+json'))
      parsed = { documents: fromJson(body), problems: [] };
    else {
      throw new GalleyError(
        'UNSUPPORTED_MEDIA_TYPE',
        `send the resources as application/yaml (or text/yaml) or application/json, not "${type || 'no content type'}"`,
      );
    }
    return this.applier.apply(parsed, { source: 'api', dryRun });
  }

  @Get('resources')
  @RequireRole('viewer')
  @ApiOperation({
    summary: 'List resources as a List (filters: kind, namespace, labelSelector such as app=reviews,tier!=db)',
  })
  @ApiQuery({ name: 'kind', required: false, type: String })
  @ApiQuery({ name: 'namespace', required: false, type: String })
  @ApiQuery({ name: 'labelSelector', required: false, type: String })
  async listAll(@Query() query: unknown) {
    return this.list(query);
  }

  @Get('resources/:kind')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List the resources of one kind' })
  async listKind(@Param('kind') kind: string, @Query() query: unknown) {
    return this.list(query, parseKindParam(kind));
  }

  @Get('resources/:kind/:namespace')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List the resources of one kind in one namespace' })
  async listNamespace(@Param('kind') kind: string, @Param('namespace') namespace: string, @Query() query: unknown) {
    return this.list(query, parseKindParam(kind), namespace);
  }

  @Get('resources/:kind/:namespace/:name')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'One resource, as applied, with metadata.resourceVersion' })
  async get(@Param('kind') kind: string, @Param('namespace') namespace: string, @Param('name') name: string) {
    const key = parseKey(kind, namespace, name);
    const resource = await this.reader.get(key);
    if (!resource) throw notFound(key);
    return resource.object;
  }

  @Delete('resources/:kind/:namespace/:name')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Delete a resource (optional precondition ?resourceVersion=)' })
  @ApiQuery({ name: 'resourceVersion', required: false, type: String })
  async delete(
    @Param('kind') kind: string,
    @Param('namespace') namespace: string,
    @Param('name') name: string,
    @Query() query: unknown,
  ) {
    const change = await this.store.delete(
      parseKey(kind, namespace, name),
      parseVersionParam(query, 'resourceVersion'),
    );
    return {
      kind: change.kind,
      namespace: change.namespace,
      name: change.name,
      operation: 'deleted',
      version: change.version,
    };
  }

  @Get('resources/:kind/:namespace/:name/history')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'The retained versions of one resource, oldest first (deletions included)' })
  async history(@Param('kind') kind: string, @Param('namespace') namespace: string, @Param('name') name: string) {
    const key = parseKey(kind, namespace, name);
    const [changes, state] = await Promise.all([this.reader.history(key), this.reader.state()]);
    if (changes.length === 0) throw notFound(key);
    return {
      ...key,
      compactedVersion: state.compacted,
      items: changes.map((c) => ({
        version: c.version,
        operation: c.operation,
        source: c.source,
        changedAt: c.changedAt.toISOString(),
        object: c.object,
      })),
    };
  }

  private async list(query: unknown, kind?: Kind, namespace?: string) {
    const filter = parseListQuery(query, kind, namespace);
    const [resources, state] = await Promise.all([this.reader.list(filter), this.reader.state()]);
    return {
      apiVersion: 'v1',
      kind: 'List',
      metadata: { resourceVersion: String(state.current) },
      items: resources.map((r) => r.object),
    };
  }
}

function notFound(key: ResourceKey): GalleyError {
  return new GalleyError('RESOURCE_NOT_FOUND', `${key.kind} ${key.namespace}/${key.name} does not exist`);
}
