package ops_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/dscokafka/connector/pkg/ops"
)

// A server with two readiness checks, one failing, and a status provider.
func ExampleNewServer() {
	srv, err := ops.NewServer(ops.Config{
		Addr: "127.0.0.1:0",
		Checks: []ops.Check{
			{Name: "kafka", Func: func(context.Context) error { return nil }},
			{Name: "dsco", Func: func(context.Context) error { return errors.New("503 Service Unavailable") }},
		},
		Status: func() ops.Status {
			return ops.Status{Role: "supplier", Totals: ops.Totals{EventsIn: 42}}
		},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	resp, err := http.Get(srv.URL() + "readyz")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	fmt.Print(string(body))
	// Output:
	// 503
	// not ready: dsco
	// ok   kafka
	// FAIL dsco: 503 Service Unavailable
}
