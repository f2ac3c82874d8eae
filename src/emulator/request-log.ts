export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
}

/** Bounded, so a million-user paging run cannot grow it without limit. */
export class RequestLog {
  private entries: LoggedRequest[] = [];
  constructor(private readonly max = 100_000) {}

  add(e: LoggedRequest): void {
    if (this.entries.length >= this.max) this.entries.splice(0, this.max / 10);
    this.entries.push(e);
  }
  list(): LoggedRequest[] {
    return this.entries.slice();
  }
  clear(): void {
    this.entries = [];
  }
}
