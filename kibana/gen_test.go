package kibana

// lagship.ndjson is generated from the definitions in this file, which are
// easier to read and edit than NDJSON with JSON nested in strings. After a
// change here, run
//
//	go test ./kibana -run TestBundleUpToDate -update
//
// and commit both files. TestBundleUpToDate fails while they disagree.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite lagship.ndjson and golden files from the test definitions")

// Versions the bundle is written for. Each migrationVersion is a migration
// that every 7.17.x release registers for the type, so 7.17 and 8.x accept
// the objects and run only the migrations that come after.
const (
	coreVersion         = "7.17.0"
	indexPatternVersion = "7.11.0" // last 7.x index-pattern migration
	lensVersion         = "7.16.0" // last 7.x Lens migration
	visVersion          = "7.14.0" // visualization migration present in every 7.17.x
	dashboardVersion    = "7.14.0" // dashboard migration present in every 7.17.x
)

// Saved object ids (IndexPatternID and DashboardID are exported).
const (
	totalLagID     = "lagship-total-lag-by-topic"
	maxLagID       = "lagship-max-partition-lag-by-topic"
	partitionLagID = "lagship-lag-per-partition"
	latestTableID  = "lagship-latest-lag-table"
	guideID        = "lagship-dashboard-guide"
	statusTableID  = "lagship-status-table"
	timeLagID      = "lagship-time-lag"
)

// partitionFields is how many pN fields the per-partition chart plots: the
// ones mapping.json declares explicitly.
const partitionFields = 18

type obj = map[string]any

func savedObject(id, typ string, attrs obj, refs []Reference, migration string) obj {
	if refs == nil {
		refs = []Reference{}
	}
	return obj{
		"id":                   id,
		"type":                 typ,
		"attributes":           attrs,
		"references":           refs,
		"migrationVersion":     map[string]string{typ: migration},
		"coreMigrationVersion": coreVersion,
	}
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

func indexPattern() obj {
	return savedObject(IndexPatternID, "index-pattern", obj{
		"title":         IndexPatternTitle,
		"timeFieldName": "@timestamp",
		// Kibana reads the field list from Elasticsearch when it loads a
		// data view; an empty list is what 7.17 exports for new views.
		"fields": "[]",
	}, nil, indexPatternVersion)
}

// Lens columns.

func dateColumn() obj {
	return obj{
		"label":         "@timestamp",
		"dataType":      "date",
		"operationType": "date_histogram",
		"sourceField":   "@timestamp",
		"isBucketed":    true,
		"scale":         "interval",
		"params":        obj{"interval": "auto"},
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
// bucket. dataType is the Lens type of the field ("number" or "string"):
// Kibana 7.17 offers Last value on string, number, boolean and ip fields
// only, not on dates.
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
func lens(id, title, description, visType, layerID string, cols []column, vis obj) obj {
	columns := obj{}
	order := make([]string, 0, len(cols))
	for _, c := range cols {
		columns[c.id] = c.def
		order = append(order, c.id)
	}
	return savedObject(id, "lens", obj{
		"title":             title,
		"description":       description,
		"visualizationType": visType,
		"state": obj{
			"datasourceStates": obj{
				"indexpattern": obj{
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
	}, []Reference{
		{Type: "index-pattern", ID: IndexPatternID, Name: "indexpattern-datasource-current-indexpattern"},
		{Type: "index-pattern", ID: IndexPatternID, Name: "indexpattern-datasource-layer-" + layerID},
	}, lensVersion)
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

// lagByTopic is a line per topic of the largest value of field in each
// time bucket.
func lagByTopic(id, title, description, field, label string) obj {
	const layer = "lagship-layer"
	// The first bucket column is the outer aggregation: topics are ranked
	// over the whole time range, then bucketed by time.
	cols := []column{
		{"topic", termsColumn("topic", "Topic", 10, byColumn("lag"), "desc")},
		{"time", dateColumn()},
		{"lag", maxColumn(field, label)},
	}
	return lens(id, title, description, "lnsXY", layer, cols,
		xyState(xyLayer(layer, "time", "topic", []string{"lag"})))
}

func partitionLag() obj {
	const layer = "lagship-layer"
	cols := []column{
		// One topic: the one with the largest partition lag in the time
		// range, or the one the dashboard query selects.
		{"topic", termsColumn("topic", "Topic", 1, byColumn("max_lag"), "desc")},
		{"time", dateColumn()},
		{"max_lag", maxColumn("max_lag", "Largest partition")},
	}
	accessors := []string{"max_lag"}
	for p := range partitionFields {
		f := fmt.Sprintf("p%d", p)
		cols = append(cols, column{f, maxColumn(f, fmt.Sprintf("Partition %d", p))})
		accessors = append(accessors, f)
	}
	description := "Lag of every partition of one topic (partitions 0 to 17), with the largest " +
		"partition lag as an envelope. The chart shows the topic with the largest partition lag " +
		"in the time range; to pick a topic, type topic : \"<name>\" (and mirror : \"<name>\" when " +
		"several mirrors carry it) in the dashboard's query bar, or click a topic in another " +
		"panel's legend and choose Filter for value. To plot partitions beyond 17, edit the " +
		"chart and add Maximum of p18, p19, and so on."
	return lens(partitionLagID, "Consumer lag per partition (one topic)", description, "lnsXY", layer, cols,
		xyState(xyLayer(layer, "time", "topic", accessors)))
}

func latestTable() obj {
	const layer = "lagship-layer"
	cols := []column{
		{"mirror", termsColumn("mirror", "Mirror", 50, alphabetical(), "asc")},
		{"topic", termsColumn("topic", "Topic", 500, alphabetical(), "asc")},
		{"total_lag", lastValueColumn("total_lag", "Total lag", "number")},
		{"max_lag", lastValueColumn("max_lag", "Largest partition lag", "number")},
		{"partition_count", lastValueColumn("partition_count", "Partitions", "number")},
	}
	tableCols := make([]any, 0, len(cols))
	for _, c := range cols {
		tableCols = append(tableCols, obj{"columnId": c.id})
	}
	return lens(latestTableID, "Latest consumer lag per mirror and topic",
		"The newest document of every mirror and topic in the time range.",
		"lnsDatatable", layer, cols, obj{
			"layerId":   layer,
			"layerType": "data",
			"columns":   tableCols,
			"sorting":   obj{"columnId": "total_lag", "direction": "desc"},
		})
}

// timeLag is a line per topic of the largest estimated time lag of the
// topic's partitions, in seconds.
func timeLag() obj {
	const layer = "lagship-layer"
	cols := []column{
		{"topic", termsColumn("topic", "Topic", 10, byColumn("time_lag"), "desc")},
		{"time", dateColumn()},
		{"time_lag", withFormat(maxColumn("max_time_lag", "Time lag (s)"), 1)},
	}
	vis := xyState(xyLayer(layer, "time", "topic", []string{"time_lag"}))
	vis["yTitle"] = "Time lag (seconds)"
	return lens(timeLagID, "Time lag by topic",
		"Estimated time lag of each topic in seconds (max_time_lag, the largest over the topic's "+
			"partitions), the 10 topics with the largest time lag in the time range. Each point is "+
			"the largest value in its time bucket; documents without a time lag leave a gap.",
		"lnsXY", layer, cols, vis)
}

// statusTable is the newest status and time lag of every mirror and topic.
func statusTable() obj {
	const layer = "lagship-layer"
	cols := []column{
		{"mirror", termsColumn("mirror", "Mirror", 50, alphabetical(), "asc")},
		{"topic", termsColumn("topic", "Topic", 500, alphabetical(), "asc")},
		{"status", lastValueColumn("status", "Status", "string")},
		{"max_time_lag", withFormat(lastValueColumn("max_time_lag", "Time lag (s)", "number"), 1)},
	}
	tableCols := make([]any, 0, len(cols))
	for _, c := range cols {
		tableCols = append(tableCols, obj{"columnId": c.id})
	}
	// Kibana 7.17 colours table cells by value only in numeric metric
	// columns, so the status text stays uncoloured; the rows with the largest
	// time lag come first instead.
	return lens(statusTableID, "Status per mirror and topic",
		"Status and time lag of the newest document of every mirror and topic in the time range. "+
			"Status from best to worst: OK, WARN, ERR, REWIND, STALL, STOP; empty when the newest "+
			"document has no status. Sorted by time lag, largest first; click a column header to "+
			"sort by it.",
		"lnsDatatable", layer, cols, obj{
			"layerId":   layer,
			"layerType": "data",
			"columns":   tableCols,
			"sorting":   obj{"columnId": "max_time_lag", "direction": "desc"},
		})
}

const guideText = `**Kafka MirrorMaker consumer lag** from lagship (index pattern ` + "`consumer_lag*`" + `).

* Narrow the dashboard with the query bar: ` + "`topic : \"orders\"`" + `, ` + "`mirror : \"mm2-dc1-to-dc2\"`" + `, ` + "`cluster : \"dc1\"`" + ` or ` + "`method : \"mm2\"`" + `. Clicking a legend entry and choosing *Filter for value* does the same.
* **Consumer lag per partition** shows one topic: the one with the largest partition lag, or the topic you select above.
* **Status per mirror and topic** shows the newest status, from best to worst OK, WARN, ERR, REWIND, STALL, STOP; an empty cell means the status is unknown.
* Lag is in messages, time lag in seconds. A partition whose lag could not be measured is left out of its document, so its line has a gap rather than a zero.`

func guide() obj {
	visState := obj{
		"title": "Consumer lag guide",
		"type":  "markdown",
		"aggs":  []any{},
		"params": obj{
			"markdown":          guideText,
			"fontSize":          12,
			"openLinksInNewTab": false,
		},
	}
	return savedObject(guideID, "visualization", obj{
		"title":       "Consumer lag guide",
		"description": "",
		"visState":    jsonString(visState),
		"uiStateJSON": "{}",
		"version":     1,
		"kibanaSavedObjectMeta": obj{
			"searchSourceJSON": jsonString(obj{"query": obj{"query": "", "language": "kuery"}, "filter": []any{}}),
		},
	}, nil, visVersion)
}

type panel struct {
	id, typ    string
	x, y, w, h int
}

func dashboard(panels []panel) obj {
	var list []any
	var refs []Reference
	for i, p := range panels {
		index := fmt.Sprint(i + 1)
		ref := fmt.Sprintf("panel_%d", i)
		list = append(list, obj{
			"version":          coreVersion,
			"type":             p.typ,
			"panelIndex":       index,
			"gridData":         obj{"x": p.x, "y": p.y, "w": p.w, "h": p.h, "i": index},
			"embeddableConfig": obj{"enhancements": obj{}},
			"panelRefName":     ref,
		})
		refs = append(refs, Reference{ID: p.id, Name: ref, Type: p.typ})
	}
	return savedObject(DashboardID, "dashboard", obj{
		"title": "Kafka MirrorMaker consumer lag",
		"description": "Consumer lag of mirrored Kafka topics, measured by lagship: the latest status " +
			"and time lag per mirror and topic, time lag per topic, total and largest partition lag " +
			"per topic, lag per partition, and the latest lag values per mirror and topic.",
		"panelsJSON":  jsonString(list),
		"optionsJSON": jsonString(obj{"useMargins": true, "syncColors": false, "hidePanelTitles": false}),
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
	}, refs, dashboardVersion)
}

// generate returns the bundle the definitions above describe.
func generate() []byte {
	objects := []obj{
		indexPattern(),
		statusTable(),
		timeLag(),
		lagByTopic(totalLagID, "Total consumer lag by topic",
			"Sum of the lag of all partitions of each topic (total_lag), the 10 topics with the "+
				"largest lag in the time range. Each point is the largest value in its time bucket.",
			"total_lag", "Total lag"),
		lagByTopic(maxLagID, "Largest partition lag by topic",
			"Lag of the most lagging partition of each topic (max_lag), the 10 topics with the "+
				"largest lag in the time range. A topic whose total lag grows while this stays flat is behind on all "+
				"partitions; a spike here alone points at one stuck partition.",
			"max_lag", "Largest partition lag"),
		partitionLag(),
		latestTable(),
		guide(),
		dashboard([]panel{
			{statusTableID, "lens", 0, 0, 24, 15},
			{timeLagID, "lens", 24, 0, 24, 15},
			{guideID, "visualization", 0, 15, 48, 7},
			{totalLagID, "lens", 0, 22, 24, 15},
			{maxLagID, "lens", 24, 22, 24, 15},
			{partitionLagID, "lens", 0, 37, 48, 16},
			{latestTableID, "lens", 0, 53, 48, 15},
		}),
	}
	var buf bytes.Buffer
	for _, o := range objects {
		buf.WriteString(jsonString(o))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func TestBundleUpToDate(t *testing.T) {
	want := generate()
	if *update {
		if err := os.WriteFile("lagship.ndjson", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(Bundle(), want) {
		t.Fatal("lagship.ndjson differs from the definitions in gen_test.go; " +
			"run go test ./kibana -run TestBundleUpToDate -update")
	}
	if strings.Count(string(want), "\n") != 9 {
		t.Fatalf("bundle has %d lines, want 9", strings.Count(string(want), "\n"))
	}
}
