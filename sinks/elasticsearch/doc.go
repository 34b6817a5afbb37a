// Package elasticsearch is the Elasticsearch destination: it writes batches
// of documents to one index with the bulk API and says, per document, what
// became of it; sinks/delivery wraps it with the queue, the spool, replay
// and backoff that every destination shares.
//
// # Client
//
// Requests go through github.com/elastic/elastic-transport-go (node
// rotation, retries of transport errors, 429, 502, 503 and 504 with a capped
// backoff, gzip) and the request types of go-elasticsearch's esapi package.
// The root go-elasticsearch package and its esutil bulk indexer are not
// used: esutil imports the root package, which links the typed API (over 850
// generated packages); BENCHMARKS.md gives the build time and binary size
// this saves. Writing one batch is one _bulk request built here, so live
// documents and replayed ones take the same path.
//
// # Index bootstrap (Prepare)
//
// Prepare checks that the server is Elasticsearch 8 or later (GET /: a
// server that answers something else is named in the error), installs a
// composable index template for the index name with the lagship mapping
// (mappings/mapping.json), so that an index deleted while lagship runs is
// re-created with the right mapping by Elasticsearch's auto-create rather
// than with a dynamic one, and creates the index when it does not exist. A
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
// # Data streams (DataStream, Retention, TSDS)
//
// With DataStream the index name is a data stream's: Prepare reads what
// exists (GET _data_stream, GET _index_template, GET _ilm/policy) and sends
// only what differs, so a second start sends GET requests only. The
// template matches the stream's name exactly, with data_stream, the
// mapping and priority 200; retention is the data stream lifecycle on 8.14
// and later and an ILM policy before; TSDS adds index.mode time_series, the
// dimensions (mirror, cluster, group, topic, method) and the gauge metrics.
// An existing plain index of that name, a TSDS on a cluster before 8.7 and
// a TSDS setting the existing stream does not have are refused before
// anything is written, with the way out in the error. In a TSDS documents
// go without _id (Elasticsearch derives it from the dimensions and
// @timestamp, so a re-sent document still answers 409), and a document
// whose @timestamp is older than the stream's oldest backing index accepts
// is refused for good, counted (OutsideTimeBounds) and explained in the
// log. datastream.go has the details.
//
// # Writing
//
// Write sends each record as a "create" item whose _id is the document's
// deterministic ID, so a document sent twice is stored once. Outcomes:
//   - 201: delivered.
//   - 409 on create: already there (a re-send); a duplicate, a success.
//   - 429 or 5xx for one item: retry (the delivery layer spools it).
//   - 404 index_not_found: the index vanished and auto-create is off: the
//     delivery layer prepares again and resends.
//   - any other 4xx (a value that does not fit the mapping): refused for
//     good, with Elasticsearch's reason.
//
// A whole request answered 400, 413 or another 4xx except 401, 403, 408 and
// 429 is refused for its content (delivery.RefusedError): the delivery layer
// splits it to find the document at fault. Everything else that fails a
// whole request (no answer, timeout, 5xx, an answer that is not a bulk
// response) is transient.
package elasticsearch
