import type { PolicyRevision } from './policy-revision.entity';
import type { Policy } from './policy.entity';

/** A policy as the API shows it. */
export interface PolicyView {
  name: string;
  description: string | null;
  activeRevision: number | null;
  latestRevision: number;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A revision without its sources (listings). */
export interface RevisionSummary {
  revision: number;
  status: PolicyRevision['status'];
  entrypoints: string[];
  wasmSha256: string;
  capabilitiesSha256: string;
  opaVersion: string;
  /** The parts of `input` the decision can depend on (`null`: any part); proxies keep decisions by them. */
  inputPaths: string[][] | null;
  createdBy: string | null;
  createdAt: string;
  activatedAt: string | null;
}

/** A revision with its sources, tests and data (never the wasm itself, only its digest). */
export interface RevisionView extends RevisionSummary {
  modules: Record<string, string>;
  tests: Record<string, string>;
  data: Record<string, unknown>;
}

export function policyView(policy: Policy): PolicyView {
  return {
    name: policy.name,
    description: policy.description,
    activeRevision: policy.activeRevision,
    latestRevision: policy.latestRevision,
    createdBy: policy.createdBy,
    createdAt: policy.createdAt.toISOString(),
    updatedAt: policy.updatedAt.toISOString(),
  };
}

export function revisionSummary(revision: PolicyRevision): RevisionSummary {
  return {
    revision: revision.revision,
    status: revision.status,
    entrypoints: revision.entrypoints,
    wasmSha256: revision.wasmSha256,
    capabilitiesSha256: revision.capabilitiesSha256,
    opaVersion: revision.opaVersion,
    inputPaths: revision.inputPaths,
    createdBy: revision.createdBy,
    createdAt: revision.createdAt.toISOString(),
    activatedAt: revision.activatedAt?.toISOString() ?? null,
  };
}

export function revisionView(revision: PolicyRevision): RevisionView {
  return { ...revisionSummary(revision), modules: revision.modules, tests: revision.tests, data: revision.data };
}
