import { Module } from '@nestjs/common';

/** Config ingestion: Istio-shaped resources, validated, versioned and streamed. */
@Module({})
export class GalleyModule {}
