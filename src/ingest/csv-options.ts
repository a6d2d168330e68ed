/**
 * How every controls CSV is parsed (ingestion, its parser thread, and the upload check): RFC 4180,
 * CRLF or LF records, an optional UTF-8 BOM; nothing relaxed except the column count, which
 * validateRecord checks per row so a short or long row is a row error with its line instead of a
 * fatal parse error. A module of its own so the parser thread loads only csv-parse.
 */
import type { Options } from 'csv-parse';

/** The longest field a control may have; longer ones are row errors (README, Controls CSV). */
export const MAX_FIELD_CHARS = 100_000;

/**
 * The longest record the parser buffers. A record over it (one huge field) stops the parse with
 * its line before it is held in memory: ten such fields of 45 MB took 2.8 GB when unbounded.
 */
export const MAX_RECORD_CHARS = 2_000_000;

export const CONTROLS_CSV_OPTIONS: Readonly<Options> = Object.freeze({ bom: true, relax_column_count: true, record_delimiter: ['\r\n', '\n'], max_record_size: MAX_RECORD_CHARS });
