// Package elasticsearch is lagship's sink: it ships pipeline.Docs to one
// Elasticsearch index with the bulk API (esutil.BulkIndexer of
// go-elasticsearch v8).
//
// # Index bootstrap
//
// EnsureIndex runs once at start: HEAD /<index>, and when the index does not
// exist, PUT /<index> with the lagship mapping (mappings/mapping.json). A
// resource_already_exists_exception from another instance racing it is
// fine. An existing index is never changed. When it still has the old
// script's mapping (topic: text, pN: integer) the sink logs a warning: a
// text field cannot be used in terms aggregations, so Kibana cannot split
// charts by topic, and integer partition fields refuse lags above
// 2147483647. InspectIndex reports that state and IndexState.FixRequests
// returns the two requests (add topic.keyword, then _update_by_query) an
// operator pastes into Kibana Dev Tools; `lagship check` prints them via
// Probe.
//
// # Writing
//
// Write queues each document as a "create" item whose _id is Doc.ID(), so a
// document sent twice is stored once. The body comes from Doc.AppendJSON
// into a pooled buffer: no reflection, no request per document. Buffers are
// flushed every FlushInterval, at FlushBytes, and by Close.
//
// Each item's outcome is counted (Stats):
//   - 201: indexed.
//   - 409 on create: already there (a re-send); counted as a duplicate, a
//     success.
//   - 429 or 5xx for one item: re-sent after a capped exponential backoff,
//     up to MaxRetries times (the bulk indexer does not retry items).
//   - any other 4xx (a value that does not fit the mapping, for instance):
//     rejected for good, logged with Elasticsearch's reason at most once a
//     minute per kind of error and field.
//
// A whole bulk request is retried by the client on transport errors, 429,
// 502, 503 and 504, with the same backoff, up to MaxRetries times.
//
// # Undelivered documents and the spool seam
//
// A document is undelivered when its request still failed after the
// client's retries (cluster down, 5xx), when its item kept getting 429 past
// MaxRetries, or when Close's context ended before it had an outcome. Such
// documents are never dropped silently: they are counted and handed in
// batches to Config.OnUndelivered, one call at a time. A disk spool plugs in
// there (UndeliveredTo adapts any Spool); replaying it is calling Write with
// the stored documents again, and their deterministic IDs make a replay of
// documents that did arrive harmless (409, counted as duplicates).
package elasticsearch
