import { ApiToken } from '#libs/auth';
import { CaAuthority } from '../apps/citadel/src/keys/ca-authority.entity';
import { IssuedCertificate } from '../apps/citadel/src/inventory/issued-certificate.entity';
import { JoinToken } from '../apps/citadel/src/join-tokens/join-token.entity';
import { ApiTokens1764000000000 } from './1764000000000-api-tokens';
import { Citadel1764100000000 } from './1764100000000-citadel';
import { CitadelRotation1764150000000 } from './1764150000000-citadel-rotation';
import { Rotation } from '../apps/citadel/src/rotation/rotation.entity';
import { Galley1764200000000 } from './1764200000000-galley';
import { GalleyResource } from '../apps/galley/src/store/resource.entity';
import { GalleyChange, GalleyState } from '../apps/galley/src/store/resource-change.entity';
import { Policy1764300000000 } from './1764300000000-policy';
import { Policy } from '../apps/policy/src/policies/policy.entity';
import { PolicyRevision } from '../apps/policy/src/policies/policy-revision.entity';
import { DecisionLogs1764500000000 } from './1764500000000-decision-logs';
import { DecisionLog } from '../apps/policy/src/decision-logs/decision-log.entity';
import { PolicyInputPaths1764600000000 } from './1764600000000-policy-input-paths';

/** Every migration, oldest first. A new migration is added here as well as to this folder. */
export const MIGRATIONS = [
  ApiTokens1764000000000,
  Citadel1764100000000,
  CitadelRotation1764150000000,
  Galley1764200000000,
  Policy1764300000000,
  DecisionLogs1764500000000,
  PolicyInputPaths1764600000000,
];

/** Every entity of every app: after all MIGRATIONS, the schema must match these exactly. */
export const ENTITIES = [
  ApiToken,
  CaAuthority,
  JoinToken,
  IssuedCertificate,
  Rotation,
  GalleyResource,
  GalleyChange,
  GalleyState,
  Policy,
  PolicyRevision,
  DecisionLog,
];
