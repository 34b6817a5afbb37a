package kibana

// lagship-7.17.ndjson and lagship-8.ndjson are generated from the
// definitions in this file, which are easier to read and edit than NDJSON
// with JSON nested in strings. Both formats come from the same definitions;
// where a format cannot store something, the definition says so. After a
// change here, run
//
//	go test ./kibana -run TestBundleUpToDate -update
//
// and commit the files. TestBundleUpToDate fails while they disagree.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the bundles and golden files from the test definitions")

// format is what the generator needs to know of an export format.
type format struct {
	name Format
	// core is the coreMigrationVersion of every object.
	core string
	// versions is the migration version each type is written for. 7.17:
	// a migration every 7.17.x release registers for the type, so 7.17 and
	// 8.x run only the migrations that come after. 8: the newest migration
	// the objects need (Lens "formBased" state and the 8.9 metric format),
	// which 8.9 and every later release know.
	versions map[string]string
	// typeMigrationVersion: the 8.x envelope (one version string) instead
	// of the 7.x migrationVersion map.
	typeMigrationVersion bool
	// datasource is the key of Lens' form-based datasource state.
	datasource string
	// panelVersion is the version of each dashboard panel: the release
	// that wrote it.
	panelVersion string
	// controls: dashboards store a control group (8.x; 7.17 cannot).
	controls bool
	// dateMetrics: Lens offers Maximum on date fields (8.x; 7.17 only on
	// numbers, so its last-seen table is an aggregation-based one).
	dateMetrics bool
	// columnParams are params every Lens column of an operation carries.
	// 8.x: what Lens' 8.2.0 migration sets on older objects, which objects
	// typed 8.9.0 never go through (without them a date histogram leaves
	// out empty buckets). 7.17 has none of these params: its date
	// histogram always includes empty buckets and keeps partial ones, its
	// Last value always reads top_hits, and the 8.2.0 migration writes
	// includeEmptyRows and showArrayValues (both true, 7.17's behaviour)
	// when 8.0-8.8 upgrade its objects.
	columnParams map[string]obj
}

var formats = []format{
	{
		name: Format717,
		core: "7.17.0",
		versions: map[string]string{
			"index-pattern": "7.11.0", // last 7.x index-pattern migration
			"lens":          "7.16.0", // last 7.x Lens migration
			"visualization": "7.14.0", // present in every 7.17.x
			"dashboard":     "7.14.0", // present in every 7.17.x
		},
		datasource:   "indexpattern",
		panelVersion: "7.17.0",
	},
	{
		name: Format8,
		core: "8.8.0", // the last core migration: every 8.8+ export says 8.8.0
		versions: map[string]string{
			"index-pattern": "8.0.0", // multi-namespace conversion, every 8.x
			"lens":          "8.9.0", // metric formatter migration
			"visualization": "8.0.0",
			"dashboard":     "8.9.0", // the Lens by-value migration of 8.9
		},
		typeMigrationVersion: true,
		datasource:           "formBased",
		panelVersion:         "8.9.0",
		controls:             true,
		dateMetrics:          true,
		columnParams: map[string]obj{
			// As Lens 8.x creates a date histogram.
			"date_histogram": {"includeEmptyRows": true, "dropPartials": false},
			// top_metrics: one value per document, as lagship writes them.
			"last_value": {"showArrayValues": false},
		},
	},
}

func (f format) file() string { return "lagship-" + string(f.name) + ".ndjson" }

// Saved object ids (IndexPatternID and DashboardID are exported).
const (
	totalLagID     = "lagship-total-lag-by-topic"
	maxLagID       = "lagship-max-partition-lag-by-topic"
	partitionLagID = "lagship-lag-per-partition"
	latestTableID  = "lagship-latest-lag-table"
	lastSeenID     = "lagship-last-seen-table"
	trendID        = "lagship-lag-trend"
	guideID        = "lagship-dashboard-guide"
	statusTableID  = "lagship-status-table"
	timeLagID      = "lagship-time-lag"
)

// Control ids of the 8.x dashboard's control group.
const (
	mirrorControlID = "lagship-control-mirror"
	topicControlID  = "lagship-control-topic"
)

// partitionFields is how many pN fields the per-partition chart plots: the
// ones mapping.json declares explicitly.
const partitionFields = 18

// seriesField is a runtime field of the data view: "<mirror> › <topic>".
// Charts split by it so that a topic carried by two mirrors is two series,
// never one. Documents without a mirror or a topic get no value.
const (
	seriesField  = "mirror_topic"
	seriesLabel  = "Mirror › topic"
	seriesScript = "if (doc['mirror'].size() > 0 && doc['topic'].size() > 0) " +
		"{ emit(doc['mirror'].value + ' › ' + doc['topic'].value); }"
)

// trendInterval is the time bucket of the lag trend: each point is the
// change of the lag since the bucket before.
const trendInterval = "15m"

type obj = map[string]any

func (f format) savedObject(id, typ string, attrs obj, refs []Reference) obj {
	if refs == nil {
		refs = []Reference{}
	}
	o := obj{
		"id":                   id,
		"type":                 typ,
		"attributes":           attrs,
		"references":           refs,
		"coreMigrationVersion": f.core,
	}
	if f.typeMigrationVersion {
		o["typeMigrationVersion"] = f.versions[typ]
	} else {
		o["migrationVersion"] = map[string]string{typ: f.versions[typ]}
	}
	return o
}

// jsonString encodes v compactly, without escaping <, > and & (Kibana does
// not escape them either, and the bundle stays readable).
func jsonString(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func (f format) indexPattern() obj {
	return f.savedObject(IndexPatternID, "index-pattern", obj{
		"title":         IndexPatternTitle,
		"timeFieldName": "@timestamp",
		// Kibana reads the field list from Elasticsearch when it loads a
		// data view; an empty list is what 7.17 exports for new views.
		"fields": "[]",
		"runtimeFieldMap": jsonString(obj{
			seriesField: obj{"type": "keyword", "script": obj{"source": seriesScript}},
		}),
	}, nil)
}

// Lens columns.

func dateColumn(interval string) obj {
	return obj{
		"label":         "@timestamp",
		"dataType":      "date",
		"operationType": "date_histogram",
		"sourceField":   "@timestamp",
		"isBucketed":    true,
		"scale":         "interval",
		"params":        obj{"interval": interval},
	}
}

func termsColumn(field, label string, size int, orderBy obj, direction string) obj {
	return obj{
		"label":         label,
		"customLabel":   true,
		"dataType":      "string",
		"operationType": "terms",
		"sourceField":   field,
		"isBucketed":    true,
		"scale":         "ordinal",
		"params": obj{
			"size":           size,
			"orderBy":        orderBy,
			"orderDirection": direction,
			"otherBucket":    false,
			"missingBucket":  false,
		},
	}
}

// seriesColumn is the breakdown by mirror and topic.
func seriesColumn(size int, orderBy obj) obj {
	return termsColumn(seriesField, seriesLabel, size, orderBy, "desc")
}

func byColumn(id string) obj { return obj{"type": "column", "columnId": id} }

func alphabetical() obj { return obj{"type": "alphabetical"} }

func maxColumn(field, label string) obj {
	return obj{
		"label":         label,
		"customLabel":   true,
		"dataType":      "number",
		"operationType": "max",
		"sourceField":   field,
		"isBucketed":    false,
		"scale":         "ratio",
	}
}

// lastValueColumn is the value of field in the newest document of its
// bucket. dataType is the Lens type of the field ("number" or "string").
func lastValueColumn(field, label, dataType string) obj {
	scale := "ratio"
	if dataType == "string" {
		scale = "ordinal"
	}
	return obj{
		"label":         label,
		"customLabel":   true,
		"dataType":      dataType,
		"operationType": "last_value",
		"sourceField":   field,
		"isBucketed":    false,
		"scale":         scale,
		"params":        obj{"sortField": "@timestamp"},
	}
}

// differencesColumn is the change of column ref from one date histogram
// bucket to the next.
func differencesColumn(ref, label string) obj {
	return obj{
		"label":         label,
		"customLabel":   true,
		"dataType":      "number",
		"operationType": "differences",
		"isBucketed":    false,
		"scale":         "ratio",
		"references":    []string{ref},
	}
}

// withFormat sets the number format of a metric column.
func withFormat(col obj, decimals int) obj {
	params, _ := col["params"].(obj)
	if params == nil {
		params = obj{}
	}
	params["format"] = obj{"id": "number", "params": obj{"decimals": decimals}}
	col["params"] = params
	return col
}

type column struct {
	id  string
	def obj
}

// lens builds a one-layer Lens object over the data view.
func (f format) lens(id, title, description, visType, layerID string, cols []column, vis obj) obj {
	columns := obj{}
	order := make([]string, 0, len(cols))
	for _, c := range cols {
		if extra := f.columnParams[fmt.Sprint(c.def["operationType"])]; extra != nil {
			params, _ := c.def["params"].(obj)
			if params == nil {
				params = obj{}
			}
			for k, v := range extra {
				params[k] = v
			}
			c.def["params"] = params
		}
		columns[c.id] = c.def
		order = append(order, c.id)
	}
	refs := []Reference{
		{Type: "index-pattern", ID: IndexPatternID, Name: "indexpattern-datasource-layer-" + layerID},
	}
	if !f.typeMigrationVersion {
		// 7.x also names the data view the editor opens with.
		refs = append([]Reference{{Type: "index-pattern", ID: IndexPatternID, Name: "indexpattern-datasource-current-indexpattern"}}, refs...)
	}
	return f.savedObject(id, "lens", obj{
		"title":             title,
		"description":       description,
		"visualizationType": visType,
		"state": obj{
			"datasourceStates": obj{
				f.datasource: obj{
					"layers": obj{
						layerID: obj{
							"columns":           columns,
							"columnOrder":       order,
							"incompleteColumns": obj{},
						},
					},
				},
			},
			"visualization": vis,
			"query":         obj{"query": "", "language": "kuery"},
			"filters":       []any{},
		},
	}, refs)
}

func xyState(layer obj) obj {
	return obj{
		"legend":                       obj{"isVisible": true, "position": "right"},
		"valueLabels":                  "hide",
		"fittingFunction":              "None",
		"preferredSeriesType":          "line",
		"yLeftExtent":                  obj{"mode": "full"},
		"axisTitlesVisibilitySettings": obj{"x": true, "yLeft": true, "yRight": true},
		"tickLabelsVisibilitySettings": obj{"x": true, "yLeft": true, "yRight": true},
		"gridlinesVisibilitySettings":  obj{"x": true, "yLeft": true, "yRight": true},
		"layers":                       []any{layer},
	}
}

func xyLayer(layerID, x, split string, accessors []string) obj {
	l := obj{
		"layerId":       layerID,
		"layerType":     "data",
		"seriesType":    "line",
		"position":      "top",
		"showGridlines": false,
		"xAccessor":     x,
		"accessors":     accessors,
	}
	if split != "" {
		l["splitAccessor"] = split
	}
	return l
}

const layer = "lagship-layer"

// lagBySeries is a line per mirror and topic of the largest value of field
// in each time bucket.
func (f format) lagBySeries(id, title, description, field, label string) obj {
	// The first bucket column is the outer aggregation: series are ranked
	// over the whole time range, then bucketed by time.
	cols := []column{
		{"series", seriesColumn(10, byColumn("lag"))},
		{"time", dateColumn("auto")},
		{"lag", maxColumn(field, label)},
	}
	return f.lens(id, title, description, "lnsXY", layer, cols,
		xyState(xyLayer(layer, "time", "series", []string{"lag"})))
}

func (f format) partitionLag() obj {
	cols := []column{
		// One mirror and topic: the one with the largest partition lag in
		// the time range, or the one the dashboard's filters select.
		{"series", seriesColumn(1, byColumn("max_lag"))},
		{"time", dateColumn("auto")},
		{"max_lag", maxColumn("max_lag", "Largest partition")},
	}
	accessors := []string{"max_lag"}
	for p := range partitionFields {
		fl := fmt.Sprintf("p%d", p)
		cols = append(cols, column{fl, maxColumn(fl, fmt.Sprintf("Partition %d", p))})
		accessors = append(accessors, fl)
	}
	pick := "type mirror : \"<name>\" and topic : \"<name>\" in the dashboard's query bar"
	if f.controls {
		pick = "pick a mirror and a topic in the controls above the dashboard"
	}
	description := "Lag of every partition of one topic of one mirror (partitions 0 to 17), with the " +
		"largest partition lag as an envelope. The chart shows the mirror and topic with the largest " +
		"partition lag in the time range; to choose one, " + pick + ", or click a series in another " +
		"panel's legend and choose Filter for value. To plot partitions beyond 17, edit the " +
		"chart and add Maximum of p18, p19, and so on."
	return f.lens(partitionLagID, "Consumer lag per partition (one mirror and topic)", description, "lnsXY", layer, cols,
		xyState(xyLayer(layer, "time", "series", accessors)))
}

func tableColumns(cols []column) []any {
	out := make([]any, 0, len(cols))
	for _, c := range cols {
		out = append(out, obj{"columnId": c.id})
	}
	return out
}

func (f format) latestTable() obj {
	cols := []column{
		{"mirror", termsColumn("mirror", "Mirror", 50, alphabetical(), "asc")},
		{"topic", termsColumn("topic", "Topic", 500, alphabetical(), "asc")},
		{"total_lag", lastValueColumn("total_lag", "Total lag", "number")},
		{"max_lag", lastValueColumn("max_lag", "Largest partition lag", "number")},
		{"partition_count", lastValueColumn("partition_count", "Partitions", "number")},
	}
	description := "The newest document of every mirror and topic in the time range. A topic whose " +
		"group has no committed offset yet shows its partitions with empty lags."
	if f.dateMetrics {
		last := maxColumn("@timestamp", "Last seen")
		last["dataType"] = "date"
		cols = append(cols, column{"last_seen", last})
		description += " Last seen is the time of the newest document: a topic that stopped " +
			"reporting stands out with an old one (sort by it)."
	}
	return f.lens(latestTableID, "Latest consumer lag per mirror and topic", description,
		"lnsDatatable", layer, cols, obj{
			"layerId":   layer,
			"layerType": "data",
			"columns":   tableColumns(cols),
			"sorting":   obj{"columnId": "total_lag", "direction": "desc"},
		})
}

// lastSeenTable is the time of the newest document of every mirror and
// topic for 7.17, whose Lens offers no Maximum (nor Last value) on dates: an
// aggregation-based table, whose Max aggregation takes date fields.
func (f format) lastSeenTable() obj {
	aggs := []any{
		obj{"id": "1", "enabled": true, "type": "max", "schema": "metric",
			"params": obj{"field": "@timestamp", "customLabel": "Last seen"}},
		obj{"id": "2", "enabled": true, "type": "terms", "schema": "bucket",
			"params": obj{"field": "mirror", "orderBy": "1", "order": "asc", "size": 50,
				"otherBucket": false, "missingBucket": false, "customLabel": "Mirror"}},
		obj{"id": "3", "enabled": true, "type": "terms", "schema": "bucket",
			"params": obj{"field": "topic", "orderBy": "1", "order": "asc", "size": 500,
				"otherBucket": false, "missingBucket": false, "customLabel": "Topic"}},
	}
	visState := obj{
		"title": "Last seen per mirror and topic",
		"type":  "table",
		"aggs":  aggs,
		"params": obj{
			"perPage": 20, "showPartialRows": false, "showMetricsAtAllLevels": false,
			"showTotal": false, "totalFunc": "sum", "percentageCol": "",
		},
	}
	return f.savedObject(lastSeenID, "visualization", obj{
		"title": "Last seen per mirror and topic",
		"description": "Time of the newest document of every mirror and topic, the oldest first: " +
			"a topic that stopped reporting stands out at the top.",
		"visState":    jsonString(visState),
		"uiStateJSON": "{}",
		"version":     1,
		"kibanaSavedObjectMeta": obj{
			"searchSourceJSON": jsonString(obj{
				"query": obj{"query": "", "language": "kuery"}, "filter": []any{},
				"indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
			}),
		},
	}, []Reference{{Type: "index-pattern", ID: IndexPatternID, Name: "kibanaSavedObjectMeta.searchSourceJSON.index"}})
}

// trend is the change of each series' total lag from one 15-minute bucket
// to the next: above zero the lag is rising, below zero falling.
func (f format) trend() obj {
	cols := []column{
		{"series", seriesColumn(10, byColumn("lag"))},
		{"time", dateColumn(trendInterval)},
		{"lag", maxColumn("total_lag", "Total lag")},
		{"trend", differencesColumn("lag", "Change of total lag")},
	}
	vis := xyState(xyLayer(layer, "time", "series", []string{"trend"}))
	vis["yTitle"] = "Change per 15 minutes (messages)"
	return f.lens(trendID, "Lag trend (change per 15 minutes)",
		"Change of the total lag of each mirror and topic since the 15 minutes before (Lens "+
			"Differences of the largest total_lag per 15-minute bucket), the 10 with the most lag. "+
			"Above zero the lag is rising, below zero it is falling; a line at zero with a large lag "+
			"means the mirror is stuck.",
		"lnsXY", layer, cols, vis)
}

// timeLag is a line per mirror and topic of the largest estimated time lag
// of the topic's partitions, in seconds.
func (f format) timeLag() obj {
	cols := []column{
		{"series", seriesColumn(10, byColumn("time_lag"))},
		{"time", dateColumn("auto")},
		{"time_lag", withFormat(maxColumn("max_time_lag", "Time lag (s)"), 1)},
	}
	vis := xyState(xyLayer(layer, "time", "series", []string{"time_lag"}))
	vis["yTitle"] = "Time lag (seconds)"
	return f.lens(timeLagID, "Time lag by mirror and topic",
		"Estimated time lag of each mirror and topic in seconds (max_time_lag, the largest over the "+
			"topic's partitions), the 10 with the largest time lag in the time range. Each point is "+
			"the largest value in its time bucket; documents without a time lag leave a gap.",
		"lnsXY", layer, cols, vis)
}

// statusTable is the newest status and time lag of every mirror and topic.
func (f format) statusTable() obj {
	cols := []column{
		{"mirror", termsColumn("mirror", "Mirror", 50, alphabetical(), "asc")},
		{"topic", termsColumn("topic", "Topic", 500, alphabetical(), "asc")},
		{"status", lastValueColumn("status", "Status", "string")},
		{"max_time_lag", withFormat(lastValueColumn("max_time_lag", "Time lag (s)", "number"), 1)},
	}
	// Kibana 7.17 colours table cells by value only in numeric metric
	// columns, so the status text stays uncoloured; the rows with the largest
	// time lag come first instead.
	return f.lens(statusTableID, "Status per mirror and topic",
		"Status and time lag of the newest document of every mirror and topic in the time range. "+
			"Status from best to worst: OK, WARN, ERR, REWIND, STALL, STOP; empty when the newest "+
			"document has no status. Sorted by time lag, largest first; click a column header to "+
			"sort by it.",
		"lnsDatatable", layer, cols, obj{
			"layerId":   layer,
			"layerType": "data",
			"columns":   tableColumns(cols),
			"sorting":   obj{"columnId": "max_time_lag", "direction": "desc"},
		})
}

func (f format) guideText() string {
	narrow := "* Narrow the dashboard with the query bar: `mirror : \"mm2-dc1-to-dc2\"`, `topic : \"orders\"`, " +
		"`cluster : \"dc1\"` or `method : \"mm2\"`. Clicking a legend entry and choosing *Filter for value* does the same."
	if f.controls {
		narrow = "* Pick mirrors and topics in the **Mirror** and **Topic** controls above; the query bar narrows further " +
			"(`cluster : \"dc1\"`, `method : \"mm2\"`). Clicking a legend entry and choosing *Filter for value* does the same."
	}
	lastSeen := "**Latest consumer lag** shows the newest values, **Last seen** the time of each topic's newest document"
	if f.dateMetrics {
		lastSeen = "**Latest consumer lag** shows the newest values and, in *Last seen*, the time of each topic's newest document"
	}
	return "**Kafka MirrorMaker consumer lag** from lagship (index pattern `consumer_lag*`).\n\n" +
		narrow + "\n" +
		"* Every line is one topic of one mirror (`mirror › topic`): the same topic in two mirrors is two lines.\n" +
		"* **Consumer lag per partition** shows one mirror and topic: the one with the largest partition lag, or the one you select.\n" +
		"* **Status per mirror and topic** shows the newest status, from best to worst OK, WARN, ERR, REWIND, STALL, STOP; an empty cell means the status is unknown.\n" +
		"* " + lastSeen + ": a topic that stopped reporting has an old one. A topic whose group has no committed offset yet has partitions but no lag.\n" +
		"* **Lag trend** is the change of the total lag per 15 minutes: above zero rising, below zero falling.\n" +
		"* Lag is in messages, time lag in seconds. A partition whose lag could not be measured is left out of its document, so its line has a gap rather than a zero."
}

func (f format) guide() obj {
	visState := obj{
		"title": "Consumer lag guide",
		"type":  "markdown",
		"aggs":  []any{},
		"params": obj{
			"markdown":          f.guideText(),
			"fontSize":          12,
			"openLinksInNewTab": false,
		},
	}
	return f.savedObject(guideID, "visualization", obj{
		"title":       "Consumer lag guide",
		"description": "",
		"visState":    jsonString(visState),
		"uiStateJSON": "{}",
		"version":     1,
		"kibanaSavedObjectMeta": obj{
			"searchSourceJSON": jsonString(obj{"query": obj{"query": "", "language": "kuery"}, "filter": []any{}}),
		},
	}, nil)
}

type panel struct {
	id, typ    string
	x, y, w, h int
}

// controlGroup is the 8.x dashboard's options lists for mirror and topic,
// chained: the topic list offers the topics of the selected mirrors.
func controlGroup() (obj, []Reference) {
	panels := obj{}
	var refs []Reference
	for i, c := range []struct{ id, field, title string }{
		{mirrorControlID, "mirror", "Mirror"},
		{topicControlID, "topic", "Topic"},
	} {
		panels[c.id] = obj{
			"order": i,
			"width": "medium",
			"grow":  true,
			"type":  "optionsListControl",
			"explicitInput": obj{
				"id":              c.id,
				"fieldName":       c.field,
				"title":           c.title,
				"selectedOptions": []any{},
				"exclude":         false,
				"existsSelected":  false,
				"enhancements":    obj{},
			},
		}
		refs = append(refs, Reference{Type: "index-pattern", ID: IndexPatternID, Name: "controlGroup_" + c.id + ":optionsListDataView"})
	}
	return obj{
		"controlStyle":   "oneLine",
		"chainingSystem": "HIERARCHICAL",
		"panelsJSON":     jsonString(panels),
		"ignoreParentSettingsJSON": jsonString(obj{
			"ignoreFilters": false, "ignoreQuery": false, "ignoreTimerange": false, "ignoreValidations": false,
		}),
	}, refs
}

func (f format) dashboard(panels []panel) obj {
	var list []any
	var refs []Reference
	for i, p := range panels {
		index := fmt.Sprint(i + 1)
		ref := fmt.Sprintf("panel_%d", i)
		list = append(list, obj{
			"version":          f.panelVersion,
			"type":             p.typ,
			"panelIndex":       index,
			"gridData":         obj{"x": p.x, "y": p.y, "w": p.w, "h": p.h, "i": index},
			"embeddableConfig": obj{"enhancements": obj{}},
			"panelRefName":     ref,
		})
		refs = append(refs, Reference{ID: p.id, Name: ref, Type: p.typ})
	}
	options := obj{"useMargins": true, "syncColors": false, "hidePanelTitles": false}
	if f.controls {
		// One cursor and tooltip across the time charts (8.x).
		options["syncCursor"] = true
		options["syncTooltips"] = true
	}
	attrs := obj{
		"title": "Kafka MirrorMaker consumer lag",
		"description": "Consumer lag of mirrored Kafka topics, measured by lagship: the latest status " +
			"and time lag per mirror and topic, time lag, total and largest partition lag per mirror " +
			"and topic, lag per partition, the latest lag values with the time each topic was last " +
			"seen, and the lag trend.",
		"panelsJSON":  jsonString(list),
		"optionsJSON": jsonString(options),
		"version":     1,
		"timeRestore": true,
		"timeFrom":    "now-24h",
		"timeTo":      "now",
		"refreshInterval": obj{
			"pause": false,
			"value": 60000,
		},
		"kibanaSavedObjectMeta": obj{
			"searchSourceJSON": jsonString(obj{"query": obj{"query": "", "language": "kuery"}, "filter": []any{}}),
		},
	}
	if f.controls {
		cg, cgRefs := controlGroup()
		attrs["controlGroupInput"] = cg
		refs = append(refs, cgRefs...)
	}
	return f.savedObject(DashboardID, "dashboard", attrs, refs)
}

// generate returns the bundle of format f.
func (f format) generate() []byte {
	objects := []obj{
		f.indexPattern(),
		f.statusTable(),
		f.timeLag(),
		f.lagBySeries(totalLagID, "Total consumer lag by mirror and topic",
			"Sum of the lag of all partitions of each mirror and topic (total_lag), the 10 with the "+
				"largest lag in the time range. Each point is the largest value in its time bucket.",
			"total_lag", "Total lag"),
		f.lagBySeries(maxLagID, "Largest partition lag by mirror and topic",
			"Lag of the most lagging partition of each mirror and topic (max_lag), the 10 with the "+
				"largest lag in the time range. A topic whose total lag grows while this stays flat is behind on all "+
				"partitions; a spike here alone points at one stuck partition.",
			"max_lag", "Largest partition lag"),
		f.partitionLag(),
		f.latestTable(),
		f.trend(),
	}
	panels := []panel{
		{statusTableID, "lens", 0, 0, 24, 15},
		{timeLagID, "lens", 24, 0, 24, 15},
		{guideID, "visualization", 0, 15, 48, 8},
		{totalLagID, "lens", 0, 23, 24, 15},
		{maxLagID, "lens", 24, 23, 24, 15},
		{partitionLagID, "lens", 0, 38, 48, 16},
	}
	if f.dateMetrics {
		panels = append(panels, panel{latestTableID, "lens", 0, 54, 48, 15})
	} else {
		objects = append(objects, f.lastSeenTable())
		panels = append(panels,
			panel{latestTableID, "lens", 0, 54, 32, 15},
			panel{lastSeenID, "visualization", 32, 54, 16, 15})
	}
	panels = append(panels, panel{trendID, "lens", 0, 69, 48, 15})
	objects = append(objects, f.guide(), f.dashboard(panels))

	var buf bytes.Buffer
	for _, o := range objects {
		buf.WriteString(jsonString(o))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func TestBundleUpToDate(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f.name), func(t *testing.T) {
			want := f.generate()
			if *update {
				if err := os.WriteFile(f.file(), want, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !bytes.Equal(Bundle(f.name), want) {
				t.Fatalf("%s differs from the definitions in gen_test.go; "+
					"run go test ./kibana -run TestBundleUpToDate -update", f.file())
			}
		})
	}
	if len(formats) != len(Formats) {
		t.Errorf("gen_test.go defines %d formats, the package %d", len(formats), len(Formats))
	}
}
