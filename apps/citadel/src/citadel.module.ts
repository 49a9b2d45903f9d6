import { Module } from '@nestjs/common';

/** Mesh CA: SPIFFE workload certificates, join tokens, rotation, revocation, trust bundles. */
@Module({})
export class CitadelModule {}
