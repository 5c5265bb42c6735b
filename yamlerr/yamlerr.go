// Package yamlerr locates go.yaml.in/yaml/v3 parse errors in the text they came from.
// yaml.v3 v3.0.6 reports some errors on the wrong line (0-based for parser problems, none
// at all for reader errors and unknown anchors); every file Mandate reads — mandate.yaml,
// catalog-info.yaml — reports FILE:LINE, so the correction lives here once.
package yamlerr

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

var (
	lineRE   = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	anchorRE = regexp.MustCompile(`^(?:yaml: )?unknown anchor '(.*)' referenced$`)
)

// parserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner). For these, yaml.v3 v3.0.6 prints a 0-based line (scanner
// errors are 1-based), and prints no line at all when the problem is on the
// first line. The tests pin the lines, so an upstream fix will show up.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// Split splits a yaml.v3 error ("yaml: line 3: did not find expected key") into its line
// and message, as yaml.v3 printed them. Errors without a line get line 0.
func Split(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, msg
}

// Locate returns the 1-based line of a yaml.v3 parse error within data and its message,
// correcting yaml.v3's lines. For an unknown anchor it returns the anchor's name too (and
// the line of its first use), so the caller can word the message for its file.
func Locate(err error, data []byte) (line int, msg, unknownAnchor string) {
	line, msg = Split(err)
	if slices.Contains(parserProblems, msg) {
		return line + 1, msg, ""
	}
	if m := anchorRE.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			line = bytes.Count(data[:i], []byte("\n")) + 1
		}
		return line, msg, m[1]
	}
	if line == 0 {
		// Reader errors (bad UTF-8, control characters) carry only a byte offset, which
		// yaml.v3 drops; find the offending character.
		line = firstUnprintableLine(data)
	}
	return line, msg, ""
}

// firstUnprintableLine returns the line of the first byte sequence YAML rejects (invalid
// UTF-8 or a character outside YAML's printable set), or 0.
func firstUnprintableLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 || !printable(r, i == 0) {
			return line
		}
		if r == '\n' {
			line++
		}
		i += size
	}
	return 0
}

// printable mirrors the YAML 1.2 c-printable production.
func printable(r rune, atStart bool) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r == 0xFEFF:
		return atStart // a byte order mark only at the start
	case r >= 0x20 && r <= 0x7E, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}
