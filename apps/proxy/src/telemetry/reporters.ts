import type { RequestRecord, RequestReporter, TcpRecord, TcpReporter } from './types';

/** Anything the data plane may report to: requests, TCP connection events, or both. */
export type AnyReporter = RequestReporter | TcpReporter | (RequestReporter & TcpReporter);

/**
 * Fans each record out to several reporters (the Istio metrics and the access log, say): a
 * request record to those with `report`, a TCP record to those with `reportTcp`. A reporter
 * that throws neither fails the request nor keeps the record from the others; `onError` hears of it.
 */
export class Reporters implements RequestReporter, TcpReporter {
  private readonly requests: readonly RequestReporter[];
  private readonly tcp: readonly TcpReporter[];

  constructor(
    reporters: readonly AnyReporter[],
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {
    this.requests = reporters.filter(isRequestReporter);
    this.tcp = reporters.filter(isTcpReporter);
  }

  report(record: RequestRecord): void {
    for (const reporter of this.requests) {
      try {
        reporter.report(record);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  reportTcp(record: TcpRecord): void {
    for (const reporter of this.tcp) {
      try {
        reporter.reportTcp(record);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}

function isRequestReporter(reporter: AnyReporter): reporter is RequestReporter {
  return typeof (reporter as Partial<RequestReporter>).report === 'function';
}

function isTcpReporter(reporter: AnyReporter): reporter is TcpReporter {
  return typeof (reporter as Partial<TcpReporter>).reportTcp === 'function';
}
