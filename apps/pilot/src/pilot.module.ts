import { Module } from '@nestjs/common';

/** Service discovery and per-proxy configuration over xDS. */
@Module({})
export class PilotModule {}
