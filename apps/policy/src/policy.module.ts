import { Module } from '@nestjs/common';

/** Rego policies compiled to WebAssembly, ext_authz Check, decision logs. */
@Module({})
export class PolicyModule {}
