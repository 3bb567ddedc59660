// Added to Prism's jobservices package at build time by the sales
// pipeline's runners/prism/setup.sh, in a copy of Beam's sources (the
// module cache is not modified). See docs/security.md, "Loopback only".

package jobservices

import (
	"net"
	"os"
	"strconv"
)

// listenAddress is where Prism's one gRPC port listens: job management,
// artifact staging and retrieval, and the Fn API (control, data, state,
// logging) for its SDK workers. Beam 2.77 listens on ":<port>", every
// interface, with no flag to change it. Here it is 127.0.0.1 unless
// PRISM_BIND_HOST names another address; PRISM_BIND_HOST="" restores every
// interface.
func listenAddress(port int) string {
	host, ok := os.LookupEnv("PRISM_BIND_HOST")
	if !ok {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
