import { invalidArgument } from './errors';

/**
 * Keyset pagination over rows listed newest first by (created_at, id). A page token is opaque to
 * clients: the position of the previous page's last row, base64url-encoded. Listing with
 * `(created_at, id) < (cursor)` and `LIMIT pageSize + 1` tells whether another page follows without
 * counting.
 */
export interface PageCursor {
  /** ISO timestamp of the previous page's last row. */
  createdAt: string;
  /** Its id (a UUID). */
  id: string;
}

export interface PageSizeLimits {
  /** Used when the request says 0 (proto3's "unset"). */
  defaultSize: number;
  /** Largest page a caller may ask for. */
  maxSize: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodePageToken(row: { created_at: Date; id: string }): string {
  return Buffer.from(`${row.created_at.toISOString()}|${row.id}`).toString('base64url');
}

/** The cursor of a token this service issued; INVALID_ARGUMENT for anything else. '' means the first page. */
export function decodePageToken(token: string): PageCursor | undefined {
  if (token === '') return undefined;
  const [createdAt, id, extra] = Buffer.from(token, 'base64url').toString('utf8').split('|');
  if (!createdAt || !id || extra !== undefined || Number.isNaN(Date.parse(createdAt)) || !UUID.test(id)) {
    throw invalidArgument('page_token is not a token this service issued', 'INVALID_PAGE_TOKEN');
  }
  return { createdAt, id };
}

/** The page size to use: the default for 0, INVALID_ARGUMENT outside 0..maxSize. */
export function pageSize(requested: number, limits: PageSizeLimits): number {
  if (!Number.isInteger(requested) || requested < 0 || requested > limits.maxSize) {
    throw invalidArgument(`page_size must be between 0 and ${limits.maxSize}`, 'INVALID_PAGE_SIZE');
  }
  return requested || limits.defaultSize;
}

/**
 * Cuts the `pageSize + 1` rows a keyset query returned into the page and the next page's token
 * ('' on the last page).
 */
export function toPage<Row extends { created_at: Date; id: string }>(rows: Row[], size: number): { items: Row[]; nextPageToken: string } {
  const items = rows.slice(0, size);
  const last = items.at(-1);
  return { items, nextPageToken: rows.length > size && last ? encodePageToken(last) : '' };
}
