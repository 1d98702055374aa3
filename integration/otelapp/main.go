// Command otelapp is an HTTP server instrumented with the OpenTelemetry Go SDK and
// otelhttp, exporting its own spans over OTLP/gRPC (OTEL_EXPORTER_OTLP_ENDPOINT), for
// the tests of gotel joining an application's traces (sidecar/tests/jaeger.rs).
//
// GET /work?n=N: the otelhttp server span, then lookup(ctx, n) -> score(n). Each
// answers with the ids of the app's own span the probed function sees, as
// "trace=<hex> span=<hex>", so that a test knows which parent gotel must find.
// GET /nested?n=N: the app starts a child span "app.child" and calls lookup under it;
// the answer also names the server span ("server=<hex>").
// GET /plain?n=N: no otelhttp; only an incoming W3C traceparent header, if any.
// The listening address is printed on stdout as "listening on HOST:PORT".
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// score is a probed function without a context: under lookup, gotel's span for it
// must be the child of gotel's span for lookup.
//
//go:noinline
func score(n int) int {
	return n*n + 1
}

// audit takes the same context as lookup, its caller: gotel's span for it must be
// the child of gotel's span for lookup (the same app span: the tree stays nested).
//
//go:noinline
func audit(ctx context.Context, n int) int {
	return n + 1
}

// lookup is the probed function that takes a context.Context: gotel's span for it
// must be the child of the app's span that ctx carries.
//
//go:noinline
func lookup(ctx context.Context, n int) int {
	return score(n) + audit(ctx, n) - n
}

func ids(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	return fmt.Sprintf("trace=%s span=%s", sc.TraceID(), sc.SpanID())
}

func number(r *http.Request) int {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	return n
}

func handleWork(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := lookup(ctx, number(r))
	fmt.Fprintf(w, "%s value=%d\n", ids(ctx), v)
}

// handleNested is probed through its *http.Request (r.ctx: the server span); the
// lookup under it carries a newer app span, app.child, which is its parent.
//
//go:noinline
func handleNested(w http.ResponseWriter, r *http.Request) {
	ctx, span := otel.Tracer("otelapp").Start(r.Context(), "app.child")
	v := lookup(ctx, number(r))
	span.End()
	fmt.Fprintf(w, "%s value=%d server=%s\n", ids(ctx), v, trace.SpanContextFromContext(r.Context()).SpanID())
}

// handlePlain is probed with its *http.Request: no SDK span, only the header.
//
//go:noinline
func handlePlain(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "traceparent=%s value=%d\n", r.Header.Get("traceparent"), score(number(r)))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()

	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("otelapp"))
	// Synchronous export: a test that has its answer finds the span at the collector soon.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	mux := http.NewServeMux()
	mux.HandleFunc("/work", handleWork)
	mux.HandleFunc("/nested", handleNested)
	top := http.NewServeMux()
	top.Handle("/plain", http.HandlerFunc(handlePlain))
	top.Handle("/", otelhttp.NewHandler(mux, "server"))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: top}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(c)
		_ = tp.Shutdown(c)
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
