package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/mandatehq/mandate/yamlerr"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ParseError is a problem with one document of a descriptor file. Its text
// is "FILE:LINE: message", the form editors and CI annotations understand.
type ParseError struct {
	File string
	Line int // 1-based
	Msg  string
}

// Error formats the error as "FILE:LINE: message".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ParseFile reads a catalog-info.yaml file: one entity per YAML document,
// documents separated by "---". name is the path to report in locations and
// errors. It returns every valid entity, in file order, each with Location
// "NAME:LINE" (the line of its kind), and one *ParseError per bad document: a
// YAML syntax error, a document that is not a mapping, a missing apiVersion,
// kind or metadata.name, a malformed entity ref (spec.owner, members, …), a
// field of the wrong shape or a duplicate key. A bad document never hides the
// good ones around it. Unknown fields are allowed, since Backstage descriptors
// are extensible, and empty documents are skipped.
func ParseFile(name string, data []byte) ([]Entity, []error) {
	var (
		entities []Entity
		errs     []error
	)
	for _, c := range splitDocuments(data) {
		ents, err := parseChunk(name, c)
		entities = append(entities, ents...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return entities, errs
}

// chunk is a run of lines holding one YAML document (rarely more, see
// splitDocuments), parsed on its own so that a syntax error in one document
// does not stop the parser from reading the next: yaml.v3's decoder cannot
// resume after an error.
type chunk struct {
	start int // 1-based line of the chunk's first line in the file
	lines int
	text  []byte
}

// abs converts a line within the chunk to a line in the file, clamped to the
// chunk so that a parser pointing past the end still names a line of it.
func (c chunk) abs(line int) int {
	return c.start - 1 + min(max(line, 1), max(c.lines, 1))
}

// splitDocuments cuts data at document markers. A "---" or "..." at the start
// of a line followed by a blank or the end of the line always ends the
// current document in YAML, even inside block scalars and quoted strings, so
// this text-level split agrees with the parser. A "---" that follows only
// comments or directives ("%YAML 1.2") stays with them, as they belong to
// the document it starts.
func splitDocuments(data []byte) []chunk {
	var (
		chunks  []chunk
		cur     = chunk{start: 1}
		begin   int  // byte offset where cur begins
		content bool // cur holds a document marker or content
		line    = 1
	)
	flush := func(end, nextLine int) {
		cur.text = data[begin:end]
		cur.lines = nextLine - cur.start
		if len(bytes.TrimSpace(cur.text)) > 0 {
			chunks = append(chunks, cur)
		}
		cur = chunk{start: nextLine}
		begin = end
		content = false
	}
	for off := 0; off < len(data); line++ {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		l := data[off:end]
		if off == 0 {
			l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf"))
		}
		switch {
		case isMarker(l, "---"):
			if content {
				flush(off, line)
			}
			content = true
		case isMarker(l, "..."):
			flush(end, line+1)
		case !content:
			t := bytes.TrimLeft(l, " \t\r\n")
			content = len(t) > 0 && t[0] != '#' && l[0] != '%'
		}
		off = end
	}
	flush(len(data), line)
	return chunks
}

func isMarker(l []byte, m string) bool {
	if !bytes.HasPrefix(l, []byte(m)) {
		return false
	}
	return len(l) == len(m) || strings.IndexByte(" \t\r\n", l[len(m)]) >= 0
}

// parseChunk decodes the documents of one chunk. yaml.v3 is a port of a C
// parser and has panicked on hostile input before; a descriptor pulled from
// some repository must not take the whole resolver down, so a panic becomes
// an error on that document.
func parseChunk(file string, c chunk) (entities []Entity, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &ParseError{File: file, Line: c.start, Msg: fmt.Sprintf("invalid YAML: parser failed: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(c.text))
	for {
		var doc yaml.Node
		if derr := dec.Decode(&doc); derr != nil {
			if errors.Is(derr, io.EOF) {
				return entities, nil
			}
			line, msg := syntaxError(derr, c.text)
			return entities, &ParseError{File: file, Line: c.abs(line), Msg: "invalid YAML: " + msg}
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // an empty document, e.g. a trailing "---"
		}
		root := doc.Content[0]
		e, kindKey, ferr := decodeEntity(root, true)
		if ferr != nil {
			at := ferr.node
			if at == nil || at.Line == 0 {
				at = root
			}
			return entities, &ParseError{File: file, Line: c.abs(at.Line), Msg: ferr.msg}
		}
		e.Location = file + ":" + strconv.Itoa(c.abs(kindKey.Line))
		entities = append(entities, e)
	}
}

// syntaxError turns a yaml.v3 error into a line within text and a message.
func syntaxError(err error, text []byte) (int, string) {
	line, msg, anchor := yamlerr.Locate(err, text)
	if anchor != "" {
		return line, fmt.Sprintf("unknown anchor %q (an alias must follow its &anchor in the same document)", anchor)
	}
	return line, msg
}
