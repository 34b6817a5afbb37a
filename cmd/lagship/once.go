package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lagship/lagship/pipeline"
	"github.com/lagship/lagship/sinks/stdout"
)

// cmdOnce collects every configured topic once and prints the documents;
// nothing is written to Elasticsearch.
func cmdOnce(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := newFlagSet("once", stderr)
	var lf logFlags
	lf.register(fs)
	path := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON lines (the documents as Elasticsearch gets them) instead of a table")
	wait := fs.Duration("wait", 30*time.Second, "how long MirrorMaker 2 offsets readers may take to catch up")
	log, err := lf.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfigFlag(fs, *path)
	if err != nil {
		return err
	}
	srcs := newSources(ctx, log)
	defer srcs.Close()
	tasks, err := srcs.plan(cfg)
	if err != nil {
		return err
	}
	// MirrorMaker 2 readers must catch up before their numbers mean
	// anything; wait for them (bounded).
	wctx, cancel := context.WithTimeout(ctx, *wait)
	if err := srcs.waitReady(wctx); err != nil {
		log.Warn().Err(err).Msg("a source is not ready; its topics are skipped")
	}
	cancel()
	// topics_regex mirrors know their topics only now.
	if tasks, err = srcs.plan(cfg); err != nil {
		return err
	}

	format := stdout.Table
	if *asJSON {
		format = stdout.JSON
	}
	sink := stdout.New(out, format)
	tick := time.Now().UTC().Truncate(time.Millisecond)
	var failed []string
	// One observation: the status is known only where the lag is at or
	// below allowed_lag (OK); the time lag only where it is 0.
	docs := collectOnce(ctx, tasks, tick, newEvaluator(cfg), func(t pipeline.Task, err error) {
		log.Warn().Str("mirror", t.Target.Mirror).Str("topic", t.Target.Topic).Err(err).Msg("no document")
		label := "NO DATA"
		// No committed offset yet, or a reader still catching up, is
		// what the group is, not a failure to collect.
		if !errors.Is(err, pipeline.ErrNoOffsets) && !errors.Is(err, pipeline.ErrNotReady) {
			label = "ERROR"
			failed = append(failed, fmt.Sprintf("%s/%s: %v", t.Target.Mirror, t.Target.Topic, err))
		}
		sink.Fail(label, t.Target.Mirror, t.Target.Topic, t.Target.Group, t.Target.Method, err.Error())
	})
	if err := sink.Write(ctx, docs); err != nil {
		return err
	}
	if err := sink.Close(ctx); err != nil {
		return err
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return &exitError{code: exitPartial, msg: fmt.Sprintf("%d of %d topics could not be collected:\n  %s", len(failed), len(tasks), strings.Join(failed, "\n  "))}
	}
	return nil
}

// exitPartial is once's exit code when any configured topic could not be
// collected (unreachable cluster or host, refused credentials or host key,
// missing topic); the documents that were collected are still printed. A
// group without committed offsets is not a failure.
const exitPartial = 3

// collectOnce runs every task's collection for one tick, concurrently as the
// workers would (so shared fetches are shared), and returns the documents in
// mirror/topic order.
func collectOnce(ctx context.Context, tasks []pipeline.Task, tick time.Time, proc pipeline.Processor, onErr func(pipeline.Task, error)) []pipeline.Doc {
	var mu sync.Mutex
	var docs []pipeline.Doc
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := t.Source.Collect(ctx, tick, t.Target.Topic)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				onErr(t, err)
				return
			}
			doc := pipeline.NewDoc(tick, t.Target, s)
			if proc != nil {
				proc.Process(tick, t.Target, s, &doc)
			}
			docs = append(docs, doc)
		}()
	}
	wg.Wait()
	sort.Slice(docs, func(i, j int) bool {
		if docs[i].Mirror != docs[j].Mirror {
			return docs[i].Mirror < docs[j].Mirror
		}
		return docs[i].Topic < docs[j].Topic
	})
	return docs
}
