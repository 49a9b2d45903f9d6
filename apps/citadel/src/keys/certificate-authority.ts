import type { SigningAuthority } from '#libs/pki';

/** What is loaded from PostgreSQL: the signing intermediate and every root in the trust bundle. */
export interface LoadedAuthorities {
  readonly signer: SigningAuthority;
  /** Row id of the signer in `citadel_authorities`, recorded on every issued certificate. */
  readonly signerId: string;
  /** Trust bundle: every root a valid leaf may chain to, oldest first. */
  readonly rootPems: readonly string[];
}

/**
 * The CA as the rest of Citadel sees it: who signs now, and which roots are trusted. Keys stay
 * inside `signer` (a KeyObject) and never leave this process. `replace` swaps the whole state
 * at once after a rotation, so a signature never mixes an old signer with a new bundle.
 */
export class CertificateAuthority {
  private readonly listeners = new Set<(state: LoadedAuthorities) => void>();

  constructor(private state: LoadedAuthorities) {}

  get signer(): SigningAuthority {
    return this.state.signer;
  }

  get signerId(): string {
    return this.state.signerId;
  }

  /** The trust bundle, PEM certificates concatenated. */
  trustBundlePem(): string {
    return this.state.rootPems.join('');
  }

  rootPems(): readonly string[] {
    return this.state.rootPems;
  }

  replace(state: LoadedAuthorities): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }

  /** Called after every `replace` (e.g. to push the new bundle to TLS and subscribers). */
  onChange(listener: (state: LoadedAuthorities) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
