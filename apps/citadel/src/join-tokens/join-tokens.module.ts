import { Module } from '@nestjs/common';
import { JoinTokensController } from './join-tokens.controller';
import { JoinTokensService } from './join-tokens.service';

/** Join tokens: the admin API to mint, list and revoke them, and the service that redeems them. */
@Module({
  controllers: [JoinTokensController],
  providers: [JoinTokensService],
  exports: [JoinTokensService],
})
export class JoinTokensModule {}
