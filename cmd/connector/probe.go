package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// runProbe GETs a URL and succeeds on a 2xx answer: the container health
// checks use it, because the image (distroless) has no shell and no curl.
func runProbe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "probe", "URL")
	timeout := fs.Duration("timeout", 5*time.Second, "time limit of the request")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &usageError{msg: "probe: want one URL"}
	}
	if err := positive("probe", "timeout", *timeout); err != nil {
		return err
	}
	target := fs.Arg(0)
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &usageError{msg: fmt.Sprintf("probe: want an absolute http:// or https:// URL, got %q", target)}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("probe: %s answered %s", target, resp.Status)
	}
	return nil
}
