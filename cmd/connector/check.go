package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2/registry"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/ops"
	"github.com/dscokafka/connector/pkg/schemas"
)

// probe is one thing `connector check` verifies: detail says what was found
// when it succeeds.
type probe struct {
	name string
	run  func(ctx context.Context) (detail string, err error)
}

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check", "")
	timeout := fs.Duration("timeout", 15*time.Second, "time limit of each check")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if err := positive("check", "timeout", *timeout); err != nil {
		return err
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		fmt.Fprintln(e.stdout, "FAIL config")
		return err // exit status 2, every problem listed
	}
	printResult(e.stdout, "config", configSummary(cfg), nil)

	var opened clients
	defer opened.closeClients()
	probes, err := checkProbes(cfg, &opened)
	if err != nil {
		return err
	}
	// Concurrently, each within the timeout; printed in a fixed order.
	type result struct {
		detail string
		err    error
	}
	results := make([]result, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			results[i].detail, results[i].err = p.run(pctx)
		})
	}
	wg.Wait()
	failed := 0
	for i, p := range probes {
		printResult(e.stdout, p.name, results[i].detail, results[i].err)
		if results[i].err != nil {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(e.stderr, "connector: check: %d of %d checks failed\n", failed, len(probes)+1)
		return errReported
	}
	return nil
}

// printResult writes "ok    name      detail" or "FAIL  name      error",
// the error's further lines indented under it.
func printResult(w io.Writer, name, detail string, err error) {
	if err == nil {
		printLine(w, true, fmt.Sprintf("%-9s %s", name, detail))
		return
	}
	printLine(w, false, fmt.Sprintf("%-9s %v", name, err))
}

// printLine writes one result line: "ok    text" or "FAIL  text", further
// lines of text indented under it.
func printLine(w io.Writer, ok bool, text string) {
	mark := "ok    "
	if !ok {
		mark = "FAIL  "
	}
	fmt.Fprintf(w, "%s%s\n", mark, strings.ReplaceAll(text, "\n", "\n      "))
}

func configSummary(cfg *config.Config) string {
	streams := make([]string, len(cfg.Dsco.Streams))
	for i, s := range cfg.Dsco.Streams {
		streams[i] = string(s)
	}
	dirs := make([]string, len(cfg.Connector.Directions))
	for i, d := range cfg.Connector.Directions {
		dirs[i] = string(d)
	}
	return fmt.Sprintf("role %s, %s, streams %s, topics %s*",
		cfg.Dsco.Role, strings.Join(dirs, "+"), strings.Join(streams, ","), cfg.Connector.TopicPrefix)
}

// checkProbes returns the checks of `connector check`: Kafka metadata, the
// schemas' compatibility with the registry, and a Dsco token and read. What
// they use is put in opened, for the caller to close once they ran, also
// when checkProbes fails (Ping opens and closes its own).
func checkProbes(cfg *config.Config, opened *clients) ([]probe, error) {
	conn, err := cfg.Kafka.Connection()
	if err != nil {
		return nil, err
	}
	serde, err := schemas.NewSerde(cfg.SerdeConfig())
	if err != nil {
		return nil, err
	}
	opened.serde = serde
	client, err := dsco.NewClient(cfg.Dsco.BaseURL, cfg.ClientOptions(nil)...)
	if err != nil {
		return nil, err
	}
	opened.client = client
	opened.regTransport = http.DefaultTransport.(*http.Transport).Clone()
	reg, err := registryClient(cfg, opened.regTransport)
	if err != nil {
		return nil, err
	}
	return []probe{
		{name: "kafka", run: func(ctx context.Context) (string, error) {
			info, err := kafka.Ping(ctx, conn)
			if err != nil {
				return "", withKafkaAdvice(err)
			}
			return fmt.Sprintf("cluster %q: %s, %s (%s)", info.ClusterID, count(info.Brokers, "broker"),
				count(info.Topics, "topic"), strings.Join(conn.Brokers, ",")), nil
		}},
		{name: "registry", run: func(ctx context.Context) (string, error) {
			// Reachable first, so that a registry that is down gives one line,
			// not one per subject.
			if _, err := reg.GetSubjects(ctx); err != nil {
				return "", withRegistryAdvice(fmt.Errorf("schema registry %s: %w", cfg.Registry.RedactedURL(), err))
			}
			if err := serde.Check(ctx); err != nil {
				if errors.Is(err, schemas.ErrNotRegistered) {
					return "", fmt.Errorf("%w\n(%s)", err, lookupOnlyHint)
				}
				return "", err
			}
			return fmt.Sprintf("%s compatible with their subjects (%s)", count(len(cfg.Records()), "schema"), cfg.Registry.RedactedURL()), nil
		}},
		{name: "dsco", run: func(ctx context.Context) (string, error) {
			what := "static token"
			if !cfg.Dsco.StaticToken.IsSet() {
				if _, err := client.GetAccessToken(ctx); err != nil {
					return "", withDscoAdvice(cfg, fmt.Errorf("%w: %w", dsco.ErrToken, err)) // says "getting an access token"
				}
				what = "token"
			}
			list, err := client.ListStreams(ctx)
			if err != nil {
				return "", withDscoAdvice(cfg, fmt.Errorf("listing streams: %w", err))
			}
			return fmt.Sprintf("%s ok, %s (%s)", what, count(len(list.Streams), "stream"), cfg.Dsco.RedactedBaseURL()), nil
		}},
	}, nil
}

// readinessChecks returns the ops readiness checks of the services the
// connector needs: "kafka" (the brokers answer a metadata request), "registry"
// (the registry lists its subjects) and "dsco" (client, the inbound side's
// client, lists the streams; the outbound side's has the same credentials and
// address). The process adds its own, such as the routers running.
func readinessChecks(cfg *config.Config, client *dsco.Client, regTransport *http.Transport) ([]ops.Check, error) {
	conn, err := cfg.Kafka.Connection()
	if err != nil {
		return nil, err
	}
	reg, err := registryClient(cfg, regTransport)
	if err != nil {
		return nil, err
	}
	return []ops.Check{
		{Name: "kafka", Func: func(ctx context.Context) error {
			_, err := kafka.Ping(ctx, conn)
			return withKafkaAdvice(err)
		}},
		{Name: "registry", Func: func(ctx context.Context) error {
			if _, err := reg.GetSubjects(ctx); err != nil {
				return withRegistryAdvice(fmt.Errorf("schema registry %s: %w", cfg.Registry.RedactedURL(), err))
			}
			return nil
		}},
		{Name: "dsco", Func: func(ctx context.Context) error {
			_, err := client.ListStreams(ctx)
			return withDscoAdvice(cfg, err)
		}},
	}, nil
}

// withDscoAdvice returns err with what to change appended, in parentheses,
// when err is Dsco not answering, refusing the connector's credentials or its
// account's rights, or a token endpoint that is not there: the settings to
// look at are then known. Other errors, nil among them, are returned as they
// are.
func withDscoAdvice(cfg *config.Config, err error) error {
	creds := "DSCO_CLIENT_ID and DSCO_CLIENT_SECRET"
	if cfg.Dsco.StaticToken.IsSet() {
		creds = "DSCO_STATIC_TOKEN"
	}
	var advice string
	_, silent := errors.AsType[*dsco.NetworkError](err)
	token := errors.Is(err, dsco.ErrToken)
	// The setting whose URL failed: a token request goes to DSCO_TOKEN_URL
	// when it is set, every other request under DSCO_BASE_URL.
	where := "DSCO_BASE_URL"
	if token && cfg.Dsco.TokenURL != "" {
		where = "DSCO_TOKEN_URL"
	}
	switch {
	case silent:
		advice = "Dsco did not answer: check " + where + " and the network"
	case token && errors.Is(err, dsco.ErrNotFound) && where == "DSCO_TOKEN_URL":
		advice = "Dsco has no token endpoint there: check DSCO_TOKEN_URL"
	case token && errors.Is(err, dsco.ErrNotFound):
		advice = "Dsco has no token endpoint there: check DSCO_BASE_URL, the API's base URL such as https://api.dsco.io/api/v3, or DSCO_TOKEN_URL"
	case errors.Is(err, dsco.ErrUnauthorized), token && (errors.Is(err, dsco.ErrBadRequest) || errors.Is(err, dsco.ErrForbidden)):
		advice = "Dsco refused the credentials: check " + creds
	case errors.Is(err, dsco.ErrForbidden):
		advice = fmt.Sprintf("Dsco refused the account this call: check that DSCO_ROLE (%s) is the role of the account of %s", cfg.Dsco.Role, creds)
	default:
		return err
	}
	return fmt.Errorf("%w (%s)", err, advice)
}

// lookupOnlyHint says what to do when, with SCHEMA_REGISTRY_LOOKUP_ONLY,
// schemas are not registered: run, check and schemas check say it.
const lookupOnlyHint = "SCHEMA_REGISTRY_LOOKUP_ONLY is set: `connector schemas register` registers them"

// registryAdvice says what to change when err is the Schema Registry not
// answering, a server that is no registry (schemas.NotARegistry), refusing the credentials (401) or refusing them a request
// (403: a registry with access control, such as credentials that may read
// but not register; some registries answer a wrong password so too), or ""
// otherwise.
func registryAdvice(err error) string {
	if registrySilent(err) {
		return "check SCHEMA_REGISTRY_URL and the network"
	}
	if schemas.NotARegistry(err) {
		return "no Schema Registry answers there: check SCHEMA_REGISTRY_URL, the registry's base URL such as http://schema-registry:8081"
	}
	switch registryStatus(err) {
	case http.StatusUnauthorized:
		return "the registry refused the credentials: check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD"
	case http.StatusForbidden:
		return "the registry refused the credentials or this request to them: check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD, and what the registry lets them do"
	}
	return ""
}

// registryStatus returns the HTTP status of the Schema Registry's answer
// that err holds, or 0.
func registryStatus(err error) int {
	if re, ok := errors.AsType[registry.Error](err); ok {
		return re.StatusCode
	}
	if re, ok := errors.AsType[*registry.Error](err); ok {
		return re.StatusCode
	}
	return 0
}

// registryFailing reports whether status is a 5xx from the Schema Registry, or
// from a proxy in front of it, that may pass by itself (the registry starting,
// a proxy that cannot reach it): every 5xx but 501, 505 and 511, which say the
// server does not do the method or the HTTP version (a web server that is no
// registry) or a proxy wants the network signed in to, as dsco.IsRetryable
// counts them. Asking those again does not mend them.
func registryFailing(status int) bool {
	switch status {
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported, http.StatusNetworkAuthenticationRequired:
		return false
	}
	return status >= 500 && status < 600
}

// registrySilent reports whether err is a request to the Schema Registry
// that got no answer (a refused, cut or timed out connection).
func registrySilent(err error) bool {
	_, ok := errors.AsType[*url.Error](err)
	return ok
}

// withRegistryAdvice returns err with registryAdvice appended in
// parentheses, when there is one; err as it is otherwise.
func withRegistryAdvice(err error) error {
	if advice := registryAdvice(err); advice != "" {
		return fmt.Errorf("%w (%s)", err, advice)
	}
	return err
}

// registryClient returns a hamba/avro registry client for the configured
// registry and credentials, whose requests go through transport, the caller's
// to close (hamba's own client, shared by the process, would keep its
// connections open until it exits), each within 10 s.
func registryClient(cfg *config.Config, transport *http.Transport) (*registry.Client, error) {
	opts := []registry.ClientFunc{registry.WithHTTPClient(&http.Client{Transport: transport, Timeout: 10 * time.Second})}
	if cfg.Registry.Username != "" {
		opts = append(opts, registry.WithBasicAuth(cfg.Registry.Username, cfg.Registry.Password.Value()))
	}
	reg, err := registry.NewClient(cfg.Registry.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry client: %w", err)
	}
	return reg, nil
}

// count returns "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
