import type { Provider } from '@nestjs/common';
import { SERVICE_CONFIG } from '#libs/host';
import type { PolicyConfig } from '../config';
import { InputMasker } from './masking';

export { InputMasker };

/** The masker for stored decision logs: secret headers plus POLICY_DECISION_LOG_MASK. */
export const DECISION_MASKER = Symbol('DECISION_MASKER');

export const maskerProvider: Provider = {
  provide: DECISION_MASKER,
  inject: [SERVICE_CONFIG],
  useFactory: (config: PolicyConfig) => new InputMasker(config.decisionLogMask ?? []),
};
