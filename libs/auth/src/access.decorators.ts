import { SetMetadata } from '@nestjs/common';
import type { Role } from './roles';

export const REQUIRED_ROLE = 'bowline:required-role';
export const PUBLIC_ROUTE = 'bowline:public-route';

/** The least role that may call this handler. Handlers without it require `admin`. */
export const RequireRole = (role: Role) => SetMetadata(REQUIRED_ROLE, role);

/** No authentication at all: only liveness and readiness probes use this. */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
