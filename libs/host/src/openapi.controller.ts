import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags, type OpenAPIObject } from '@nestjs/swagger';
import { RequireRole } from '#libs/auth';

/** Holds the document built once the application's routes are known. */
export class OpenApiDocument {
  document?: OpenAPIObject;
}

@ApiTags('meta')
@ApiBearerAuth()
@Controller()
export class OpenApiController {
  constructor(@Inject(OpenApiDocument) private readonly holder: OpenApiDocument) {}

  @Get('openapi.json')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'This service’s OpenAPI 3 document' })
  openapi(): OpenAPIObject | undefined {
    return this.holder.document;
  }
}
