import { Injectable, type NestMiddleware } from '@nestjs/common';
import express, { type NextFunction, type Request, type Response } from 'express';

/** Content types read as a YAML stream (JSON bodies go through Nest's JSON parser). */
export const YAML_CONTENT_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'text/plain'];

/** The largest apply body accepted. */
export const APPLY_BODY_LIMIT = '2mb';

const parseText = express.text({ type: YAML_CONTENT_TYPES, limit: APPLY_BODY_LIMIT });

/** Reads YAML request bodies as text for the apply routes (Express parses only JSON by default). */
@Injectable()
export class YamlBodyMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    parseText(request, response, next);
  }
}
