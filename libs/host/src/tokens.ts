/** The service's frozen configuration object (inject with `@Inject(SERVICE_CONFIG)`). */
export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');

/** The time source; tests replace it to move time without sleeping. */
export interface Clock {
  now(): Date;
}
export const CLOCK = Symbol('CLOCK');
export const SYSTEM_CLOCK: Clock = Object.freeze({ now: () => new Date() });
