import { Inject, Injectable } from '@nestjs/common';
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge, METRICS_REGISTRY } from '#libs/metrics';

/** How a decision came about, as a metric label. */
export type DecidedBy = 'deny_policy' | 'allow_policy' | 'no_allow_policy' | 'no_allow_match' | 'error';

/**
 * Istio authorization metrics on /metrics: decisions by outcome, the Galley watch, the set in
 * use (its version, its policies and its unsupported findings).
 */
@Injectable()
export class AuthorizationMetrics {
  private readonly decisions: Counter<'action' | 'decided_by'>;
  private readonly galley: Gauge;
  private readonly version: Gauge;
  private readonly policies: Gauge;
  private readonly findings: Gauge;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.decisions = counter(registry, {
      name: 'bowline_policy_authorization_decisions_total',
      help: 'Istio AuthorizationPolicy decisions, by action (ALLOW, DENY) and what decided.',
      labelNames: ['action', 'decided_by'],
    });
    this.galley = gauge(registry, {
      name: 'bowline_policy_authorization_galley_connected',
      help: '1 while the AuthorizationPolicy watch on Galley is open, else 0 (the last set stays in use).',
    });
    this.version = gauge(registry, {
      name: 'bowline_policy_authorization_set_version',
      help: 'The Galley resource version of the AuthorizationPolicy set in use.',
    });
    this.policies = gauge(registry, {
      name: 'bowline_policy_authorization_policies',
      help: 'AuthorizationPolicies in use.',
    });
    this.findings = gauge(registry, {
      name: 'bowline_policy_authorization_unsupported_findings',
      help: 'Unsupported fields, keys or actions in the set in use (each fails closed or is reported).',
    });
  }

  decided(action: string, decidedBy: DecidedBy): void {
    this.decisions.inc({ action, decided_by: decidedBy });
  }

  galleyConnected(connected: boolean): void {
    this.galley.set(connected ? 1 : 0);
  }

  setInUse(version: number, policies: number, findings: number): void {
    this.version.set(version);
    this.policies.set(policies);
    this.findings.set(findings);
  }
}
