import { Inject, Injectable } from '@nestjs/common';
import { Observable } from 'rxjs';
import { GalleyError } from '../errors';
import { ResourceReader } from '../store/resource.reader';
import type { ChangeRecord } from '../store/records';
import { ChangeFeed } from './change-feed';

/** One item of a watch: a change, or the marker that the replay is complete. */
export type WatchItem = { type: 'change'; change: ChangeRecord } | { type: 'synced'; version: number };

/**
 * Resumable watches over the change log: replay everything after `since` in version order,
 * then live changes from this replica's feed, without a gap or a duplicate at the seam.
 */
@Injectable()
export class WatchService {
  constructor(
    @Inject(ResourceReader) private readonly reader: ResourceReader,
    @Inject(ChangeFeed) private readonly feed: ChangeFeed,
  ) {}

  /**
   * Fails with HISTORY_EXPIRED when changes after `since` have been pruned (the client must
   * relist). `kinds` empty means every kind.
   */
  async watch(kinds: readonly string[], since: number): Promise<Observable<WatchItem>> {
    await this.feed.ready();
    const state = await this.reader.state();
    if (since < state.compacted) {
      throw new GalleyError(
        'HISTORY_EXPIRED',
        `relist: version ${since} is older than the retained history (oldest ${state.compacted}); call List and watch from its version`,
      );
    }
    const wanted = (change: ChangeRecord) => kinds.length === 0 || kinds.includes(change.kind);
    return new Observable<WatchItem>((subscriber) => {
      let last = since;
      let live = false;
      const buffered: ChangeRecord[] = [];
      const emit = (change: ChangeRecord) => {
        if (change.version <= last) return;
        last = change.version;
        if (wanted(change)) subscriber.next({ type: 'change', change });
      };
      // Subscribe before reading the log: whatever commits meanwhile is buffered, not lost.
      const subscription = this.feed.changes.subscribe({
        next: (change) => (live ? emit(change) : buffered.push(change)),
        complete: () => subscriber.complete(),
      });
      (async () => {
        for (;;) {
          const page = await this.reader.changesAfter(last, kinds);
          page.forEach(emit);
          if (page.length < 500 || subscriber.closed) break;
        }
        last = Math.max(last, state.current);
        subscriber.next({ type: 'synced', version: last });
        live = true;
        buffered.splice(0).forEach(emit);
      })().catch((error: unknown) => subscriber.error(error));
      return () => subscription.unsubscribe();
    });
  }
}
