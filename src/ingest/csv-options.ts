/**
 * How every controls CSV is parsed (ingestion, its parser thread, and the upload check): RFC 4180,
 * CRLF or LF records, an optional UTF-8 BOM; nothing relaxed except the column count, which
 * validateRecord checks per row so a short or long row is a row error with its line instead of a
 * fatal parse error. A module of its own so the parser thread loads only csv-parse.
 */
import type { Options } from 'csv-parse';

export const CONTROLS_CSV_OPTIONS: Readonly<Options> = Object.freeze({ bom: true, relax_column_count: true, record_delimiter: ['\r\n', '\n'] });
