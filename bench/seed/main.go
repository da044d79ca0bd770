// Command seed is the Go half of the benchmark harness bench/run.sh, which
// compares gatehouse with Verdaccio and nginx. Its subcommands:
//
//	seed seed -registry URL -kind gatehouse|verdaccio [sizes]  create users, tokens and packages
//	seed publish -registry URL -token T [-count N -size B]     time publishes one at a time
//	seed scale -data DIR [-packages N -tokens N ...]            seed a store directly, for bench/scale.sh
//	seed scalereport -results DIR [-docs FILE]                 render the scale table, update the docs section
//	seed zipf -lists DIR [-s S -seed N]                         package names by popularity, for bench/scale.lua
//	seed dbsizes -data DIR [-database URL]                      sizes of a store's database and largest tables
//	seed missfloor -data DIR [-database URL -reads N -rounds R] what a document miss's reads cost at the least
//	seed pgdb create|drop -admin URL -name NAME                 a PostgreSQL database for bench/scale.sh
//	seed cputime -out FILE -- COMMAND [ARGS]                    run a command, record its CPU time
//	seed prime -registry URL -tokens FILE                      one whoami with each token (warms a token cache)
//	seed project -dir DIR [-deps N]                            write the install project's package.json
//	seed memwatch -pid PID -out FILE                           peak RSS of a process tree until interrupted
//	seed report -results DIR [-docs FILE]                      render the table, update the docs section
//	seed field FILE KEY                                        print one field of a JSON file
//	seed freeport                                              print a free TCP port on 127.0.0.1
//
// Everything talks only to the registry URL it is given; the harness gives
// it loopback addresses. The exception is scale, which writes straight into
// a store (a data folder, or the PostgreSQL database GATEHOUSE_DATABASE
// names).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: seed COMMAND [flags]

commands:
  seed       create users, tokens and packages on a registry through its HTTP API
  publish    time publishes of a package of a given size, one at a time
  scale      seed users, packages and tokens straight into a store (bench/scale.sh)
  scalereport render bench/scale.sh's results, and update docs/benchmarks.md
  zipf       list the packages by popularity (a Zipf law), for bench/scale.lua
  dbsizes    sizes of a store's database and of its largest tables
  missfloor  time a document miss's reads, and the least the database can do
  pgdb       create or drop a PostgreSQL database (bench/scale.sh)
  cputime    run a command and record the CPU time it used
  prime      send one whoami with each token of a file
  project    write the package.json of the project the harness installs
  memwatch   peak resident memory of a process tree, until interrupted
  report     render the results as Markdown, and update docs/benchmarks.md
  field      print one top-level field of a JSON file
  freeport   print a free TCP port on 127.0.0.1

Run "seed COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "seed":
		err = seedCommand(ctx, args[1:], stdout, stderr)
	case "publish":
		err = publishCommand(ctx, args[1:], stdout, stderr)
	case "scale":
		err = scaleCommand(ctx, args[1:], stdout, stderr)
	case "zipf":
		err = zipfCommand(args[1:], stderr)
	case "missfloor":
		err = missFloorCommand(ctx, args[1:], stdout, stderr)
	case "dbsizes":
		err = dbsizesCommand(ctx, args[1:], stdout, stderr)
	case "pgdb":
		err = pgdbCommand(ctx, args[1:], stdout, stderr)
	case "cputime":
		err = cputimeCommand(ctx, args[1:], stdout, stderr)
	case "scalereport":
		err = scaleReportCommand(args[1:], stdout, stderr)
	case "prime":
		err = primeCommand(ctx, args[1:], stdout, stderr)
	case "project":
		err = projectCommand(args[1:], stderr)
	case "memwatch":
		err = memwatchCommand(ctx, args[1:], stdout, stderr)
	case "report":
		err = reportCommand(args[1:], stdout, stderr)
	case "field":
		err = fieldCommand(args[1:], stdout)
	case "freeport":
		err = freeportCommand(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "seed: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "seed:", err)
		return 1
	}
	return 0
}

// fieldCommand prints one top-level field of a JSON object file: strings
// as they are, anything else as JSON.
func fieldCommand(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return errors.New("field: want FILE KEY")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("field: %s: %w", args[0], err)
	}
	raw, ok := obj[args[1]]
	if !ok {
		return fmt.Errorf("field: %s has no %q", args[0], args[1])
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		_, err = fmt.Fprintln(stdout, s)
		return err
	}
	_, err = fmt.Fprintln(stdout, string(raw))
	return err
}

// freeportCommand prints a TCP port on 127.0.0.1 that was free a moment ago.
func freeportCommand(stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, port)
	return err
}
