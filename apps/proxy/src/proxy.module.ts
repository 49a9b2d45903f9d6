import { Module } from '@nestjs/common';

/** Sidecar / ingress / egress data plane: mTLS and authorization on every hop. */
@Module({})
export class ProxyModule {}
