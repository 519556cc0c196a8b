package kafka_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// silentMetadataBroker returns the address of a broker on 127.0.0.1 that passes every
// request to the broker at to and its answers back (so a client's connection and its
// API version handshake succeed), but never answers a Metadata request: a broker that
// hangs after the handshake. It stops when t ends.
func silentMetadataBroker(t *testing.T, to string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", to)
			if err != nil {
				_ = client.Close()
				continue
			}
			track(client)
			track(server)
			wg.Add(2)
			go func() { // answers, as they come
				defer wg.Done()
				_, _ = io.Copy(client, server)
				_ = client.Close()
			}()
			go func() { // requests, one at a time: a Metadata request is kept
				defer wg.Done()
				defer server.Close()
				for {
					var size [4]byte
					if _, err := io.ReadFull(client, size[:]); err != nil {
						return
					}
					req := make([]byte, binary.BigEndian.Uint32(size[:]))
					if _, err := io.ReadFull(client, req); err != nil {
						return
					}
					if len(req) >= 2 && int16(binary.BigEndian.Uint16(req)) == int16(kmsg.Metadata) {
						continue
					}
					if _, err := server.Write(append(size[:], req...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestLeaderLookupTriesTheNextBroker: a broker that connects and handshakes but never
// answers the metadata request that looks the partition's leader up does not cost a
// failed attempt: the lookup asks the next broker within the same attempt, as it does
// after a broker it cannot connect to, and the first FetchMessage returns the record
// with no failure reported to Retrying.
func TestLeaderLookupTriesTheNextBroker(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("puts a proxy of its own before kfake's broker")
	}
	brokers := kafkatest.NewCluster(t).ListenAddrs()
	topic := kafkatest.Name("leader")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	produceRecords(t, brokers, []*kgo.Record{{Topic: topic, Value: []byte("v")}})

	var failures []error
	r := newReader(t, []string{silentMetadataBroker(t, brokers[0]), brokers[0]}, topic, func(c *kafka.PartitionReaderConfig) {
		c.Dialer = &kafkago.Dialer{Timeout: 500 * time.Millisecond}
		c.Retrying = func(err error) { failures = append(failures, err) }
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	m, err := r.FetchMessage(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("v"), m.Value)
	assert.Empty(t, failures, "the broker that does not answer cost an attempt")
}
