package kafka_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dscokafka/connector/pkg/kafka"
)

// Publish an order event keyed by order id and consume it through a consumer group; the
// in-process kfake cluster stands in for Kafka.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	conn := kafka.ConnectionConfig{Brokers: cluster.ListenAddrs()}

	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: conn}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{
		Connection:           conn,
		ConsumerGroup:        "order-events",
		InitializePartitions: 3,
		SessionTimeout:       6 * time.Second,
		HeartbeatInterval:    time.Second,
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()

	const topic = "dsco.order.v1"
	if err := sub.SubscribeInitialize(topic); err != nil {
		log.Fatal(err)
	}
	event := message.NewMessage("event-1", []byte(`{"dscoOrderId":"42"}`))
	event.Metadata.Set(kafka.DefaultPartitionKeyMetadata, "42")
	event.Metadata.Set("event_type", "order.created")
	if err := pub.Publish(topic, event); err != nil { // returns after acks=all
		log.Fatal(err)
	}

	messages, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		log.Fatal(err)
	}
	msg := <-messages
	key, _ := kafka.MessageKeyFromCtx(msg.Context())
	fmt.Println(msg.UUID, string(msg.Payload), msg.Metadata.Get("event_type"), string(key))
	msg.Ack() // its offset becomes committable
	// Output: event-1 {"dscoOrderId":"42"} order.created 42
}
