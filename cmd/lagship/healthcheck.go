package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/lagship/lagship/internal/httpapi"
)

// defaultHealthURL is /healthz on the default http.listen.
const defaultHealthURL = "http://" + httpapi.DefaultListen + "/healthz"

// cmdHealthcheck asks a running agent's /healthz: exit 0 on 200, 1
// otherwise. It is the image's HEALTHCHECK, which has no shell or curl.
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", stderr)
	url := fs.String("url", defaultHealthURL, "the agent's /healthz `URL`")
	timeout := fs.Duration("timeout", 5*time.Second, "bound for the request")
	quiet := fs.Bool("q", false, "print nothing when healthy")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("healthcheck: %v", err)}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("healthcheck: %v", err)}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	reason := strings.TrimSpace(string(body))
	if res.StatusCode != http.StatusOK {
		return &exitError{code: 1, msg: fmt.Sprintf("healthcheck: %s answered %s: %s", *url, res.Status, reason)}
	}
	if !*quiet {
		fmt.Fprintf(stdout, "healthy: %s answered %s\n", *url, res.Status)
	}
	return nil
}
