// Command pubsub-emulator serves Google's fake Pub/Sub (the pstest package of
// cloud.google.com/go/pubsub) over gRPC on a loopback address, as a local
// stand-in for Cloud Pub/Sub in tests and demos.
//
//	pubsub-emulator -host 127.0.0.1 -port 8085
//
// Clients connect through PUBSUB_EMULATOR_HOST=127.0.0.1:8085 (plain text, no
// credentials). What pstest implements, and what it does not:
//
//   - Publisher: CreateTopic, GetTopic, UpdateTopic, ListTopics,
//     ListTopicSubscriptions, DeleteTopic, Publish.
//   - Subscriber: CreateSubscription (ack deadline 10..600 s), Get/Update/
//     List/Delete/DetachSubscription, Pull (unary; waits up to 0.5 s for a
//     message unless return_immediately), StreamingPull, Acknowledge,
//     ModifyAckDeadline, Seek (to a time only).
//   - Ack ids are the message ids ("m0", "m1", ...), so an ack is valid even
//     after its deadline has expired; messages come back in no particular
//     order; an unacknowledged message becomes deliverable again when its
//     ack deadline passes.
//   - A message not acknowledged within 10 minutes of its publish time and not
//     out for delivery is dropped (a fixed retention, whatever the
//     subscription says). Everything lives in memory: a restart loses it all.
//   - ModifyAckDeadline with an ack id that was never delivered crashes the
//     fake (nil map entry): clients must only modify ids they received.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"cloud.google.com/go/pubsub/pstest"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on (keep it on loopback)")
	port := flag.Int("port", envInt("PUBSUB_PORT", 8085), "port to listen on (default: $PUBSUB_PORT or 8085)")
	minAck := flag.Int("min_ack_deadline_seconds", 10,
		"smallest ack deadline a subscription may ask for (pstest default 10; >= 1)")
	flag.Parse()

	if *minAck < 1 {
		log.Fatalf("-min_ack_deadline_seconds must be >= 1")
	}
	if *minAck != 10 {
		pstest.SetMinAckDeadline(time.Duration(*minAck) * time.Second)
	}

	// pstest panics if it cannot listen; check first for a readable error.
	addr := net.JoinHostPort(*host, strconv.Itoa(*port))
	probe, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("cannot listen on %s: %v", addr, err)
	}
	probe.Close()

	srv := pstest.NewServerWithAddress(addr)
	fmt.Printf("pubsub-emulator: listening on %s (PUBSUB_EMULATOR_HOST=%s)\n", srv.Addr, srv.Addr)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	sig := <-stop
	fmt.Printf("pubsub-emulator: %v: shutting down\n", sig)
	if err := srv.Close(); err != nil {
		log.Printf("close: %v", err)
	}
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			log.Fatalf("%s=%q is not a number", name, v)
		}
		return n
	}
	return def
}
