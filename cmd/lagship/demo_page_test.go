package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lagship/lagship/internal/testutil/await"
	"github.com/lagship/lagship/internal/testutil/syncbuf"
)

// TestDemoServesPage: the demo prints its status page's URL, its receiver
// prints the stuck mirror's notification, and the page shows every demo
// topic with its status: the mirror falling behind (WARN) and the stuck one
// (STALL).
func TestDemoServesPage(t *testing.T) {
	var stderr syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmdDemo(ctx, []string{"-duration", "60s"}, io.Discard, &stderr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	urlLine := regexp.MustCompile(`status page: (http://127\.0\.0\.1:\d+/) `)
	var url string
	await.True(t, 30*time.Second, "the demo to print its status page's URL", func() bool {
		if m := urlLine.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
		return url != ""
	})
	want := []string{
		`data-topic="orders" data-status="WARN"`, `data-topic="payments" data-status="STALL"`,
		`data-topic="payments"`, `data-topic="clicks"`, "mm-demo", "mm-stuck",
	}
	var page, missing string
	await.True(t, 40*time.Second, "the demo's receiver to print the stuck mirror's notification", func() bool {
		return strings.Contains(stderr.String(), "notification received: firing mm-stuck/payments STALL")
	})
	if !await.Within(40*time.Second, func() bool {
		res, err := http.Get(url)
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page = string(b)
		for _, w := range want {
			if !strings.Contains(page, w) {
				missing = w
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the demo's page lacks %s:\n%s", missing, page)
	}
}
