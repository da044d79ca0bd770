package config

import (
	"fmt"
	"io"
	"strings"
)

// writeUsage prints the --help text: every flag with what it does, its
// default, its environment variable and its file key, then the precedence rules.
func writeUsage(w io.Writer, all []setting) {
	def := Default()
	var b strings.Builder
	b.WriteString("Usage: gatehouse serve [flags]\n\n")
	b.WriteString("Runs the gatehouse npm registry.\n\nFlags:\n")
	fmt.Fprintf(&b, "  --%s FILE\n", configFlag)
	b.WriteString(wrap("Read settings from FILE: .toml is TOML, .yaml or .yml is YAML. " +
		"Keys are the file keys named below; an unknown key is an error. " +
		"Durations are strings (\"12h\"); max_body_size is a number of bytes or a string with a unit (\"100MiB\")."))
	fmt.Fprintf(&b, "        Default: none. Env: %s. File key: none (a file cannot name another).\n", configEnv)
	for _, s := range all {
		fmt.Fprintf(&b, "  --%s %s\n", s.flag, s.arg)
		b.WriteString(wrap(s.help))
		fmt.Fprintf(&b, "        Default: %s. Env: %s. File key: %s.\n", s.show(def), s.env, s.key)
	}
	fmt.Fprintf(&b, "  %s (environment only)\n", KeyEnv)
	b.WriteString(wrap("The server key itself, 64 hexadecimal digits or 32 bytes in base64, instead of the file " +
		"--key-file names: for a key kept in a secret store and handed to the process, never on disk beside the data. " +
		"Never a flag or a file key, so that it shows in no process list or config file; not to be set with --key-file."))
	b.WriteString("\nUplinks in the config file:\n")
	b.WriteString(wrap(uplinksHelp()))
	b.WriteString("\nPrecedence:\n")
	b.WriteString(wrap("Each setting is taken from the first place that gives it: a command-line flag, " +
		"then a GATEHOUSE_* environment variable (an empty one counts as unset), then the config file " +
		"named by --config or GATEHOUSE_CONFIG, then the default shown above. " +
		"Flags may be written with one dash or two, as --name value or --name=value."))
	// A failed write to stderr leaves nothing useful to do.
	_, _ = io.WriteString(w, b.String())
}

// wrap indents text by eight spaces and breaks it into lines of at most
// about 80 columns.
func wrap(text string) string {
	const indent, width = "        ", 80
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
	return b.String()
}
