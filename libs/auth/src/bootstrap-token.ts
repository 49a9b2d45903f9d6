import { Logger } from '@nestjs/common';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type DataSource, IsNull } from 'typeorm';
import { ApiToken } from './api-token.entity';
import { displayPrefix, generateToken, hashToken } from './token-secret';

export interface BootstrapTokenParams {
  /** BOWLINE_ADMIN_TOKEN: registered as an admin token when not known yet. */
  configuredToken?: string;
  /** Where a generated token is written when none is configured and no admin token exists. */
  outputPath: string;
}

/** Advisory lock key so that services starting together create one bootstrap token, not five. */
const BOOTSTRAP_LOCK = 0x62776c01;

/**
 * Makes sure an admin can log in on first start. With a configured token, its hash is
 * registered; otherwise, when no usable admin token exists, one is generated and written to
 * a 0600 file. The token itself is never logged, only the file's path.
 */
export async function ensureBootstrapToken(dataSource: DataSource, params: BootstrapTokenParams): Promise<void> {
  const logger = new Logger('AdminBootstrap');
  await dataSource.transaction(async (manager) => {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK]);
    const tokens = manager.getRepository(ApiToken);
    if (params.configuredToken) {
      const tokenHash = hashToken(params.configuredToken);
      if (await tokens.exists({ where: { tokenHash } })) return;
      await tokens.save(
        tokens.create({
          name: 'bootstrap (BOWLINE_ADMIN_TOKEN)',
          role: 'admin',
          tokenHash,
          tokenPrefix: displayPrefix(params.configuredToken),
        }),
      );
      logger.log('registered the admin token from BOWLINE_ADMIN_TOKEN');
      return;
    }
    const admins = await tokens.find({ where: { role: 'admin', revokedAt: IsNull() } });
    if (admins.some((t) => !t.expiresAt || t.expiresAt.getTime() > Date.now())) return;
    const token = generateToken();
    const path = resolve(params.outputPath);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, `${token}\n`, { mode: 0o600 });
    await chmod(path, 0o600);
    await tokens.save(
      tokens.create({
        name: 'bootstrap (generated)',
        role: 'admin',
        tokenHash: hashToken(token),
        tokenPrefix: displayPrefix(token),
      }),
    );
    logger.log({ msg: 'generated a bootstrap admin token; read it from the file', path });
  });
}
